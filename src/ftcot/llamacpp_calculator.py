"""Calculator-assisted decoding on the llama.cpp engine: `ftcot eval STUDENT --engine llamacpp --calculator`.

`ftcot.generation.CalculatorProcessor` is a logits processor: it must see every step's scores and
may overwrite them. llama-server offers no such hook, so this path runs llama.cpp in process
(llama-cpp-python, the `llamacpp` extra) on the student's GGUF export (`ftcot.llamacpp_student`:
f32 by default, whose greedy outputs equal transformers'), one sequence at a time, and decodes as
`ftcot.generation.generate` does: the prompt's token ids from the student's own tokenizer (exactly
what transformers feeds), llama.cpp's sampler with the processor first in its chain (greedy, or
temperature and top-p with llama.cpp's top-k, min-p and repetition penalty off), and the same
ends: the model's EOS ids, the stop strings (`StopOnStrings`) and max_new_tokens, read back by
`ftcot.generation._finish`. So the `Generation`s, and the records, calculator interventions
(`meta['calculator']`) and zs_cot answer steps that `ftcot.evaluate.run_chunk` makes of them, are
a transformers run's (tests/test_llamacpp_student.py).

Nothing is cached: like transformers' own loop, and unlike the served llamacpp path, a rerun
decodes again (a killed run still resumes from its records).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ftcot.errors import ConfigError
from ftcot.generation import CalculatorProcessor, Generation, StopOnStrings, _finish, eos_token_ids
from ftcot.tasks import Sample, Task

log = logging.getLogger(__name__)

DECODER = "llama-cpp-python (in-process, one sequence at a time: the calculator needs each step's scores)"


class _OnLlamaScores:
    """A transformers logits processor called as llama_cpp calls one: numpy ids (the prompt and
    every generated token) and one row of scores (the vocabulary's logits in id order), which the
    processor edits in place through a tensor sharing their memory."""

    def __init__(self, processor: CalculatorProcessor, vocab: int):
        self.processor = processor
        self.vocab = vocab

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if scores.shape != (self.vocab,):  # not the whole vocabulary in id order: nothing to index
            raise RuntimeError(
                f"llama_cpp passed {scores.shape} scores, not the {self.vocab} of its vocabulary"
            )
        ids = torch.from_numpy(input_ids.astype(np.int64))[None]
        self.processor(ids, torch.from_numpy(scores)[None])
        return scores


class InProcessStudent:
    """A student's GGUF export in llama.cpp, with what `ftcot.evaluate.run_chunk` and
    `ftcot.generation.eos_token_ids` read of a transformers model: its config and generation config."""

    def __init__(self, folder: Path, gguf: Path, *, n_ctx: int, seed: int = 0):
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ConfigError(
                "--engine llamacpp --calculator decodes in process with llama-cpp-python: "
                "pip install 'ftcot[llamacpp]'"
            ) from e
        from transformers import AutoConfig, GenerationConfig

        self.config = AutoConfig.from_pretrained(folder)
        try:  # as transformers' from_pretrained sets a model's generation config
            self.generation_config = GenerationConfig.from_pretrained(folder)
        except OSError:
            self.generation_config = GenerationConfig.from_model_config(self.config)
        self.n_ctx, self.seed, self.draws = n_ctx, seed, 0
        self.n_threads = torch.get_num_threads() or os.cpu_count() or 1
        self.llm = Llama(
            model_path=str(gguf),
            n_ctx=n_ctx,
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            logits_all=False,
            seed=seed,
            verbose=False,
        )

    def decode(
        self,
        tokenizer,
        prompt_ids: list[int],
        *,
        max_new_tokens: int,
        eos_ids: Sequence[int],
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        top_p: float = 1.0,
        calculator: bool = False,
    ) -> Generation:
        """One sequence, ended as transformers ends a row: at an EOS id, once its text holds a stop
        string, or after max_new_tokens."""
        end_ids = set(eos_ids) | {tokenizer.pad_token_id}
        calc = (
            CalculatorProcessor(tokenizer, len(prompt_ids), rows=1, end_ids=end_ids) if calculator else None
        )
        stops = StopOnStrings(tokenizer, stop, len(prompt_ids)) if stop else None
        if temperature <= 0:
            sampling = {"temp": 0.0}
        else:  # as llamacpp_student.SAMPLING_ARGS and transformers sample: no top-k, min-p or penalty
            sampling = {"temp": temperature, "top_p": top_p, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
        # Each sequence from an empty context (no prefix reuse), each sample with its own seed.
        self.llm.reset()
        self.llm.set_seed(self.seed + self.draws)
        self.draws += 1
        processors = [_OnLlamaScores(calc, self.llm.n_vocab())] if calc else None
        new_ids: list[int] = []
        tokens = self.llm.generate(prompt_ids, reset=True, logits_processor=processors, **sampling)
        try:
            for token in tokens:
                new_ids.append(int(token))
                if new_ids[-1] in eos_ids or len(new_ids) >= max_new_tokens:
                    break
                if stops is not None and stops(torch.tensor([prompt_ids + new_ids]), None)[0]:
                    break
        finally:
            tokens.close()
        finished = (lambda kept: calc.finished(0, kept)) if calc else None
        return _finish(tokenizer, new_ids, set(eos_ids), stop, len(prompt_ids), finished)


def generate(
    student: InProcessStudent,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 1,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    calculator: bool = False,
) -> list[Generation]:
    """`ftcot.generation.generate` on llama.cpp: len(prompts) * n generations, prompt-major.
    One sequence at a time (`batch_size` is not used); `seed` restarts the samples' seeds."""
    if n > 1 and temperature <= 0:
        raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical outputs)")
    if seed is not None:
        student.seed, student.draws = seed, 0
    eos_ids = eos_token_ids(student, tokenizer)
    results = []
    for prompt in prompts:
        prompt_ids = tokenizer(prompt)["input_ids"]  # special tokens as transformers' batch adds them
        for _ in range(n):
            results.append(
                student.decode(
                    tokenizer, prompt_ids, max_new_tokens=max_new_tokens, eos_ids=eos_ids, stop=stop,
                    temperature=temperature, top_p=top_p, calculator=calculator,
                )
            )  # fmt: skip
        if progress is not None:
            progress(1)
    return results


def load_tokenizer(folder: Path):
    """The student's tokenizer as `ftcot.models.load_model` sets it up (a pad token, padding left)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def evaluate_in_process(
    config, task: Task, samples: Sequence[Sample], settings: dict, *, folder: Path, gguf: Path, n_ctx: int
) -> Path:
    """`ftcot eval --engine llamacpp --calculator`: the exported student in llama.cpp in process,
    records made by transformers' evaluation loop (`ftcot.evaluate._evaluate_local`)."""
    from ftcot.evaluate import _evaluate_local
    from ftcot.manifests import EvalManifest

    student = InProcessStudent(folder, gguf, n_ctx=n_ctx, seed=config.seed)
    log.info("%s: %s in llama.cpp in process (%d threads, %d tokens of context)", config.model, gguf.name, student.n_threads, n_ctx)  # fmt: skip
    extra = {"decoder": DECODER, "n_ctx": n_ctx, "n_threads": student.n_threads}
    manifest = EvalManifest(**settings, extra=extra, status="running")
    return _evaluate_local(
        config, task, samples, manifest, student, load_tokenizer(folder), generate_fn=generate
    )
