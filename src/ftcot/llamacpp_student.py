"""Evaluate a local student through llama.cpp: `ftcot eval runs/train/X --engine llamacpp`.

Evaluation is most of a CPU pipeline's time, and transformers decodes a small student one batch at
a time: llama.cpp's llama-server decodes many sequences at once (continuous batching, `slots`
of them), each leaving as soon as it ends, at several times the throughput
(benchmarks/results/eval_llamacpp.md). The student is exported to GGUF once
(`ftcot.train.export`, f32 unless `--gguf-outtype` says otherwise) and served by a llama-server
that ftcot starts on 127.0.0.1 and stops; its prompts go through the teacher engine exactly as a
served model's do (`ftcot.evaluate._evaluate_served`): raw text on the completions endpoint (no
chat template), the student's stop strings (its trained END; it also stops at its EOS), greedy
unless sampling is asked for (then with llama.cpp's top-k and min-p off, as transformers samples),
every reply cached in the generation cache under the GGUF file's sha256, so a rerun pays nothing
and a retrained student is never answered from an older one's cache. The records are scored like
every other evaluation's; the manifest states the engine and the GGUF file.

With `--calculator` (a logits processor, which llama-server has no hook for), the GGUF runs in
llama.cpp in process instead, one sequence at a time (`ftcot.llamacpp_calculator`), uncached.

Not on this engine (yet): encoder-decoder students, a question prefix (step-by-step students) and
the gpt3 prompt style: those are refused with what to use instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ftcot.errors import ConfigError
from ftcot.tasks import Sample, Task
from ftcot.teach.backends.llama_server import DEFAULT_SLOTS, LlamaServer, LlamaServerBackend
from ftcot.teach.backends.openai_backend import OpenAIBackend

log = logging.getLogger(__name__)

DEFAULT_OUTTYPE = "f32"  # the trained fp32 weights exactly: greedy outputs equal transformers'; bf16 does not
# llama-server's request defaults, set to what transformers does (ftcot.generation): no top-k, no
# min-p, no repetition penalty. Greedy decoding ignores them; sampling (self-consistency) does not.
SAMPLING_ARGS = ("--top-k", "0", "--min-p", "0", "--repeat-penalty", "1.0")


def check_config(config) -> None:
    """`EvalConfig` validation for `engine="llamacpp"` (what this engine cannot do is refused here)."""
    if config.served:
        raise ConfigError(
            f"--engine llamacpp runs a local model (a student's folder); {config.model} is served already"
        )
    if config.chat:
        raise ConfigError(
            "--engine llamacpp prompts a local model with raw text, as transformers does: drop --chat"
        )
    if config.style != "default":
        raise ConfigError(
            f"--style {config.style} is not supported with --engine llamacpp: use --engine transformers"
        )
    if config.gguf_outtype is None:
        config.gguf_outtype = DEFAULT_OUTTYPE


def student_folder(spec: str) -> Path:
    """The local folder of a model spec: a student's folder as given, a bundled or .gguf model's
    converted checkpoint. A Hugging Face id is refused (its cache is not ours to write a GGUF into)."""
    from ftcot.models import local_checkpoint, resolve_model

    ref = resolve_model(spec)
    if ref.kind == "folder":
        return Path(spec).expanduser()
    if ref.kind in ("bundled", "gguf"):
        return Path(local_checkpoint(spec))
    raise ConfigError(f"{spec}: --engine llamacpp needs a local model folder (a student's), not a hub id")


class StudentServerBackend(LlamaServerBackend):
    """A llama-server serving one exported student. Records name the student as the user gave it
    (`model`); the cache knows it by its GGUF file's sha256 (`cache_model`)."""

    def __init__(self, model: str, gguf: Path, sha256: str, *, slots: int, ctx_per_slot: int):
        # LlamaServerBackend.__init__ resolves a teacher spec; here the file is given.
        self.server = LlamaServer(
            gguf, slots=slots, ctx_per_slot=ctx_per_slot, extra_args=SAMPLING_ARGS
        ).start()
        try:
            OpenAIBackend.__init__(
                self, model, base_url=self.server.url, chat=False, timeout=self.request_timeout
            )
        except BaseException:
            self.server.stop()
            raise
        self.supports_n = False
        self.max_in_flight = slots
        self.gguf_sha256 = sha256

    @property
    def cache_model(self) -> str:
        return f"gguf-sha256:{self.gguf_sha256}"

    def describe(self) -> dict:
        return {**super().describe(), "gguf": self.server.model.name, "gguf_sha256": self.gguf_sha256}


def context_per_slot(config, task: Task, samples: Sequence[Sample], folder: Path) -> int:
    """Tokens one slot must hold: the longest prompt and everything generated after it (zs_cot: the
    rationale, the trigger and the answer), with a margin, rounded up to 256."""
    from transformers import AutoTokenizer

    from ftcot.evaluate import build_prompt

    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts = [build_prompt(config, task, s.question, False) for s in samples]
    longest = max((len(ids) for ids in tokenizer(prompts, add_special_tokens=True)["input_ids"]), default=0)
    need = longest + config.new_tokens + 32
    if config.method == "zs_cot":
        need += len(tokenizer(" " + task.spec.trigger)["input_ids"]) + config.answer_max_new_tokens
    return max(512, -(-need // 256) * 256)


def evaluate_llamacpp(config, task: Task, samples: Sequence[Sample], settings: dict) -> Path:
    """`ftcot eval --engine llamacpp`: export the student, serve it, evaluate through the teacher engine
    (with `--calculator`: decode it in process, `ftcot.llamacpp_calculator`)."""
    from ftcot.evaluate import _evaluate_served
    from ftcot.models import parameter_count
    from ftcot.train.export import export_gguf, gguf_facts

    if config.question_prefix:
        raise ConfigError(
            f"{config.model} is prompted with a question prefix ({config.question_prefix!r}, a step-by-step "
            "student): not supported with --engine llamacpp yet; use --engine transformers"
        )
    folder = student_folder(config.model)
    outtype = config.gguf_outtype or DEFAULT_OUTTYPE
    gguf = export_gguf(folder, outtype)
    facts = gguf_facts(gguf, outtype)
    ctx = context_per_slot(config, task, samples, folder)
    settings = {
        **settings,
        "gguf_outtype": outtype,
        "gguf": facts,
        "model_params": parameter_count(str(folder)),
        "encoder_decoder": False,
    }
    if config.calculator:  # a logits processor needs each step's scores: llama.cpp in process
        from ftcot.llamacpp_calculator import evaluate_in_process

        return evaluate_in_process(config, task, samples, settings, folder=folder, gguf=gguf, n_ctx=ctx)
    k = config.self_consistency
    slots = max(1, min(config.concurrency, DEFAULT_SLOTS, len(samples) * k))
    log.info("%s: %s (%d bytes) on llama-server, %d slots of %d tokens", config.model, gguf.name, facts["bytes"], slots, ctx)  # fmt: skip

    def backend() -> StudentServerBackend:
        return StudentServerBackend(config.model, gguf, facts["sha256"], slots=slots, ctx_per_slot=ctx)

    local = {"teacher": f"llamacpp:{gguf}", "chat": False, "concurrency": slots, "backend": backend}
    return _evaluate_served(config, task, samples, settings, local=local)
