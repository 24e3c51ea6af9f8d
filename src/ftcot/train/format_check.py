"""Check the training format before spending compute: render rows through the student's tokenizer.

For a few rows, decode the trained tokens (label != -100) and the masked ones, and check
that the rationale and the answer are inside the trained part, that the question is in
the masked prompt (decoders) or the encoder input (encoder-decoders), and that nothing of
the completion leaks into the prompt. The rendering is printed so a person can see it.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from ftcot.errors import DataError
from ftcot.train.data import IGNORE_INDEX, Encoded, encode, render


def _squash(text: str) -> str:
    """Whitespace-free form: tokenizers may re-space text on decode, never reorder it."""
    return "".join(text.split())


def split_tokens(tokenizer, enc: Encoded, encoder_decoder: bool) -> tuple[str, str]:
    """(text the model is given without loss, text it is trained to produce)."""
    if encoder_decoder:
        trained = [t for t in enc.labels if t != IGNORE_INDEX]
        return tokenizer.decode(enc.input_ids), tokenizer.decode(trained)
    if any(lab not in (IGNORE_INDEX, tok) for tok, lab in zip(enc.input_ids, enc.labels, strict=True)):
        raise DataError("labels differ from the input tokens at trained positions (the mask is misaligned)")
    masked = [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab == IGNORE_INDEX]
    trained = [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE_INDEX]
    if masked != enc.input_ids[: len(masked)]:
        raise DataError("masked tokens are not a prefix of the sequence: completion tokens are masked")
    return tokenizer.decode(masked), tokenizer.decode(trained)


def problems(row: dict, masked: str, trained: str, method: str, truncated: bool) -> list[str]:
    found = []
    if _squash(row["question"]) not in _squash(masked):
        found.append("the question is not in the prompt (masked) tokens")
    expected = [("answer", row["answer"])]
    if method == "ft_cot":
        expected.insert(0, ("rationale", row["rationale"]))
    for name, text in expected:
        if _squash(text) not in _squash(trained) and not truncated:
            found.append(f"the {name} is not in the trained tokens")
        if method == "ft_cot" and name == "rationale" and _squash(text) in _squash(masked):
            found.append("the rationale leaks into the prompt tokens")
    return found


def check_format(
    tokenizer,
    rows: list[dict],
    *,
    method: str,
    encoder_decoder: bool,
    max_length: int,
    n: int = 3,
    console: Console | None = None,
) -> None:
    """Raise a DataError when a rendered row trains on the wrong tokens; print the rendering."""
    console = console or Console(stderr=True)
    for i, row in enumerate(rows[:n]):
        enc = encode(tokenizer, render(row, method, encoder_decoder), max_length, encoder_decoder)
        masked, trained = split_tokens(tokenizer, enc, encoder_decoder)
        text = Text()
        text.append(masked, style="dim")
        text.append(" ⟶ " if encoder_decoder else "")
        text.append(trained, style="bold green")
        title = f"row {i}: {row['task']} #{row['sample_id']} ({len(enc.input_ids)} tokens"
        title += ", completion truncated)" if enc.truncated else ")"
        console.print(Panel(text, title=title, subtitle="dim: masked prompt · green: trained", expand=False))
        found = problems(row, masked, trained, method, enc.truncated)
        if found:
            raise DataError(
                f"format check failed for row {i} ({row['task']} #{row['sample_id']}): {'; '.join(found)}"
            )
