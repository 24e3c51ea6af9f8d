"""Batched text generation for transformers models: the one decoding loop evaluation (and any
local backend) calls.

`generate` takes plain-text prompts and returns, for each prompt and sample, the completion
text, why it ended ('stop': EOS or a stop string; 'length': max_new_tokens reached) and its
token usage. For throughput it sorts prompts by length so that each batch pads little, pads
decoders on the left (so every row's last token is its prompt's last token), and decodes with
the KV cache (transformers' `generate`). Stop strings are cut from the returned text, like an
OpenAI API does.

With `calculator=True`, `CalculatorProcessor` forces the result of every arithmetic expression
the model writes before an '=' (see `ftcot.calculator`), and each generation lists its
interventions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from ftcot.calculator import MAX_EXPRESSION_CHARS, pending_result


@dataclass(frozen=True)
class Generation:
    text: str  # the completion, cut before the first stop string
    finish_reason: str  # 'stop' (EOS or stop string) or 'length' (max_new_tokens reached)
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the EOS or the stop string's tokens included
    # Calculator interventions, in order: {expression, forced, student_would_have, token} (see CalculatorProcessor)
    calculator: tuple[dict, ...] = ()


class StopOnStrings(StoppingCriteria):
    """Marks a row done once its generated text contains one of the stop strings.

    Only the last few tokens are decoded at each step: a stop string of c characters is
    covered by at most c + a few tokens, so the check costs the same at token 1000 as at 10.
    """

    def __init__(self, tokenizer, stop: Sequence[str], prompt_length: int):
        self.tokenizer = tokenizer
        self.stop = list(stop)
        self.prompt_length = prompt_length
        self.window = max(len(s) for s in self.stop) + 4

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        start = max(self.prompt_length, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        done = [any(s in tail for s in self.stop) for tail in tails]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


@dataclass
class _Forcing:
    """One calculator intervention in one row: the result's tokens, forced one per step."""

    expression: str
    forced: str  # the text the calculator writes after '=' (what the student has not written yet)
    ids: list[int]  # its tokens, forced in this order
    token: int  # index (among the generated tokens) of the first forced token
    student_ids: list[int] = field(default_factory=list)  # the student's argmax at each forced step

    @property
    def complete(self) -> bool:
        return len(self.student_ids) == len(self.ids)


@functools.lru_cache(maxsize=8)
def _digit_start_ids(tokenizer) -> tuple[int, ...]:
    """Tokens whose text starts with a digit, or '.'/',' and a digit: what would extend a number."""
    raw = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    candidates = [i for i, t in enumerate(raw) if t is not None and any(c in "0123456789" for c in t)]
    texts = tokenizer.batch_decode([[i] for i in candidates])
    return tuple(i for i, text in zip(candidates, texts, strict=True) if re.match(r"[.,]?[0-9]", text))


class CalculatorProcessor(LogitsProcessor):
    """Calculator-assisted decoding: when a row's generated text ends with `expression =` (or
    `expression = `), the calculator's result is forced token by token, then the model goes on.

    Each row has its own state, so batched decoding equals one prompt at a time. Forcing masks
    every other token's logit, so it holds under sampling too. The result string is tokenized on
    its own (' 48' -> ' ', '4', '8' with SmolLM2's tokenizer) and those tokens are forced in
    order; the step after the result bans tokens that would extend the number ('0', '.5').

    What the student would have written: at each forced step, the token the model ranked first
    (argmax of the scores it gave, before the mask), given the calculator's tokens forced before
    it. The first such token is exactly what greedy decoding would have written; later ones are
    the model's choice on top of the calculator's prefix, not its own free continuation.
    """

    window = MAX_EXPRESSION_CHARS + 16  # tokens decoded to find an expression: each is one character or more

    def __init__(self, tokenizer, prompt_length: int, rows: int, end_ids: set[int]):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.end_ids = end_ids
        self.digit_start = list(_digit_start_ids(tokenizer))
        self.active: list[_Forcing | None] = [None] * rows
        self.guard_from: list[int | None] = [None] * rows  # where a forced result ended
        self.interventions: list[list[_Forcing]] = [[] for _ in range(rows)]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.prompt_length
        if generated == 0:
            return scores
        if self.digit_start and self.digit_start[-1] >= scores.shape[1]:  # tokens the model has no logit for
            self.digit_start = [i for i in self.digit_start if i < scores.shape[1]]
        last = input_ids[:, -1].tolist()
        for row in range(input_ids.shape[0]):
            forcing = self.active[row]
            if forcing is not None:
                if last[row] != forcing.ids[len(forcing.student_ids) - 1]:
                    self.active[row] = None  # the row ended mid-result (its token was replaced by padding)
                    continue
                if not forcing.complete:
                    self._force(row, forcing, scores)
                    continue
                self.active[row], self.guard_from[row] = None, generated
            if last[row] in self.end_ids:
                continue  # a finished row: transformers pads it from here on
            if self.guard_from[row] is not None and self._guard(row, input_ids[row], scores):
                continue
            forcing = self._detect(input_ids[row], generated)
            if forcing is not None:
                self.active[row] = forcing
                self.interventions[row].append(forcing)
                self._force(row, forcing, scores)
        return scores

    def _force(self, row: int, forcing: _Forcing, scores: torch.FloatTensor) -> None:
        forcing.student_ids.append(int(scores[row].argmax()))
        wanted = forcing.ids[len(forcing.student_ids) - 1]
        scores[row] = float("-inf")
        scores[row, wanted] = 0.0

    def _guard(self, row: int, ids: torch.LongTensor, scores: torch.FloatTensor) -> bool:
        """Right after a forced result (or its '.' or ','), no token may continue the number."""
        since = self.tokenizer.decode(
            ids[self.prompt_length + self.guard_from[row] :], skip_special_tokens=True
        )
        if since in ("", ".", ","):
            scores[row, self.digit_start] = float("-inf")
            return True
        self.guard_from[row] = None
        return False

    def _detect(self, ids: torch.LongTensor, generated: int) -> _Forcing | None:
        # Cheap test first: only a text whose last two tokens end in '=' or '= ' can need the calculator.
        tail = self.tokenizer.decode(ids[-min(2, generated) :], skip_special_tokens=True)
        if not re.search(r"= ?\Z", tail):
            return None
        start = max(self.prompt_length, len(ids) - self.window)
        found = pending_result(self.tokenizer.decode(ids[start:], skip_special_tokens=True))
        if found is None:
            return None
        expression, _, remaining = found
        token_ids = self.tokenizer.encode(remaining, add_special_tokens=False)
        return _Forcing(expression, remaining, token_ids, generated) if token_ids else None

    def finished(self, row: int, kept_tokens: int) -> tuple[dict, ...]:
        """The row's interventions that were written in full within its first `kept_tokens` tokens."""
        return tuple(
            {
                "expression": f.expression,
                "forced": f.forced,
                "student_would_have": self.tokenizer.decode(f.student_ids, skip_special_tokens=False),
                "token": f.token,
            }
            for f in self.interventions[row]
            if f.complete and f.token + len(f.ids) <= kept_tokens
        )


def eos_token_ids(model, tokenizer) -> list[int]:
    """Every token id that ends a generation: the tokenizer's EOS and the model's generation config's."""
    ids = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if configured is not None:
        ids.update(configured if isinstance(configured, list) else [configured])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` before the earliest stop string, and whether one was found."""
    cuts = [at for s in stop if (at := text.find(s)) != -1]
    return (text[: min(cuts)], True) if cuts else (text, False)


# transformers fills every setting left unset from the checkpoint's generation_config, and some ship
# sampling or a repetition penalty (Qwen2.5-Instruct: 1.05): evaluation must decode as asked, so say it all.
NEUTRAL_DECODING = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}


def _decoding_args(temperature: float, top_p: float) -> dict:
    if temperature <= 0:
        return {"do_sample": False, **NEUTRAL_DECODING}
    # top_k=0 switches off transformers' default top-50 so that sampling matches an API's.
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0, **NEUTRAL_DECODING}


def _finish(
    tokenizer,
    new_ids: list[int],
    eos_ids: set[int],
    stop: Sequence[str],
    prompt_tokens: int,
    calculator: Callable[[int], tuple[dict, ...]] | None = None,
) -> Generation:
    """Read one row of generated ids: text up to EOS (or the padding after an early stop), cut at stop strings.

    `calculator(kept_tokens)` gives the row's calculator interventions within the kept tokens."""
    end_ids = eos_ids | {tokenizer.pad_token_id}
    ended_at = next((i for i, t in enumerate(new_ids) if t in end_ids), None)
    kept = new_ids if ended_at is None else new_ids[:ended_at]
    text, stopped_by_string = cut_at_stop(tokenizer.decode(kept, skip_special_tokens=True), stop)
    interventions = calculator(len(kept)) if calculator is not None else ()
    if stopped_by_string:  # transformers pads a row that a stopping criterion ended: padding is not usage
        return Generation(text, "stop", prompt_tokens, len(kept), interventions)
    if ended_at is None:
        return Generation(text, "length", prompt_tokens, len(kept), interventions)
    return Generation(
        text, "stop", prompt_tokens, ended_at + int(new_ids[ended_at] in eos_ids), interventions
    )


@torch.inference_mode()
def generate_batch(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    calculator: bool = False,
) -> list[Generation]:
    """One padded batch: n generations per prompt, prompt-major (prompt i's are at i*n .. i*n+n-1)."""
    encoder_decoder = model.config.is_encoder_decoder
    if not encoder_decoder and tokenizer.padding_side != "left":
        raise ValueError("decoder-only generation needs tokenizer.padding_side = 'left'")
    batch = tokenizer(list(prompts), return_tensors="pt", padding=True)
    batch = batch.to(model.device)
    # A decoder's output repeats its prompt; an encoder-decoder's starts with the decoder start token.
    prompt_length = 1 if encoder_decoder else batch["input_ids"].shape[1]
    eos_ids = eos_token_ids(model, tokenizer)
    criteria = StoppingCriteriaList([StopOnStrings(tokenizer, stop, prompt_length)] if stop else [])
    rows = len(prompts) * n
    end_ids = set(eos_ids) | {tokenizer.pad_token_id}
    calc = CalculatorProcessor(tokenizer, prompt_length, rows, end_ids) if calculator else None
    output = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        num_return_sequences=n,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
        stopping_criteria=criteria,
        logits_processor=LogitsProcessorList([calc] if calc else []),
        use_cache=True,
        **_decoding_args(temperature, top_p),
    )
    prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
    return [
        _finish(
            tokenizer,
            row[prompt_length:].tolist(),
            set(eos_ids),
            stop,
            prompt_tokens[i // n],
            functools.partial(calc.finished, i) if calc else None,
        )
        for i, row in enumerate(output)
    ]


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 8,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    calculator: bool = False,
) -> list[Generation]:
    """Generate for every prompt, in batches of about `batch_size` sequences, longest prompts first.

    Returns len(prompts) * n generations in prompt order, prompt-major. Greedy when
    temperature is 0; with n > 1 and temperature > 0, n independent samples per prompt.
    `progress(k)` is called after each batch with the number of prompts it finished.
    `calculator` turns on calculator-assisted decoding (`CalculatorProcessor`).
    """
    if n > 1 and temperature <= 0:
        raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical outputs)")
    if seed is not None:
        torch.manual_seed(seed)
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    per_batch = max(1, batch_size // n)  # n samples of a prompt share its batch
    results: list[list[Generation] | None] = [None] * len(prompts)
    for start in range(0, len(order), per_batch):
        chunk = order[start : start + per_batch]
        outputs = generate_batch(
            model,
            tokenizer,
            [prompts[i] for i in chunk],
            max_new_tokens=max_new_tokens,
            stop=stop,
            temperature=temperature,
            top_p=top_p,
            n=n,
            calculator=calculator,
        )
        for j, i in enumerate(chunk):
            results[i] = outputs[j * n : (j + 1) * n]
        if progress is not None:
            progress(len(chunk))
    return [g for per_prompt in results for g in per_prompt]
