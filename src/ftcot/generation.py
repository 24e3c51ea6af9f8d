"""Batched text generation for transformers models: the one decoding loop evaluation (and any
local backend) calls.

`generate` takes plain-text prompts and returns, for each prompt and sample, the completion
text, why it ended ('stop': EOS or a stop string; 'length': max_new_tokens reached) and its
token usage. For throughput it sorts prompts by length so that each batch pads little, pads
decoders on the left (so every row's last token is its prompt's last token), and decodes with
the KV cache (transformers' `generate`). Stop strings are cut from the returned text, like an
OpenAI API does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList


@dataclass(frozen=True)
class Generation:
    text: str  # the completion, cut before the first stop string
    finish_reason: str  # 'stop' (EOS or stop string) or 'length' (max_new_tokens reached)
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the EOS or the stop string's tokens included


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
    tokenizer, new_ids: list[int], eos_ids: set[int], stop: Sequence[str], prompt_tokens: int
) -> Generation:
    """Read one row of generated ids: text up to EOS (or the padding after an early stop), cut at stop strings."""
    end_ids = eos_ids | {tokenizer.pad_token_id}
    ended_at = next((i for i, t in enumerate(new_ids) if t in end_ids), None)
    kept = new_ids if ended_at is None else new_ids[:ended_at]
    text, stopped_by_string = cut_at_stop(tokenizer.decode(kept, skip_special_tokens=True), stop)
    if stopped_by_string:  # transformers pads a row that a stopping criterion ended: padding is not usage
        return Generation(text, "stop", prompt_tokens, len(kept))
    if ended_at is None:
        return Generation(text, "length", prompt_tokens, len(kept))
    return Generation(text, "stop", prompt_tokens, ended_at + int(new_ids[ended_at] in eos_ids))


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
    output = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        num_return_sequences=n,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
        stopping_criteria=criteria,
        use_cache=True,
        **_decoding_args(temperature, top_p),
    )
    prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
    return [
        _finish(tokenizer, row[prompt_length:].tolist(), set(eos_ids), stop, prompt_tokens[i // n])
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
) -> list[Generation]:
    """Generate for every prompt, in batches of about `batch_size` sequences, longest prompts first.

    Returns len(prompts) * n generations in prompt order, prompt-major. Greedy when
    temperature is 0; with n > 1 and temperature > 0, n independent samples per prompt.
    `progress(k)` is called after each batch with the number of prompts it finished.
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
        )
        for j, i in enumerate(chunk):
            results[i] = outputs[j * n : (j + 1) * n]
        if progress is not None:
            progress(len(chunk))
    return [g for per_prompt in results for g in per_prompt]
