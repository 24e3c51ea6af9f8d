"""Training data: read curated rows, render them with `ftcot.prompts`, tokenize with a completion-only mask.

Decoder students see `prompt + completion + EOS` as one sequence; the labels copy the
completion and EOS tokens and set every prompt token to -100, so the loss is on the
completion only. The prompt is tokenized on its own, exactly as it is at generation time,
and the completion is appended as its own tokens: training and inference see the same
prompt tokens. Encoder-decoder students get the prompt as encoder input and the completion
(+ EOS) as labels. Sequences are truncated at `max_length` (prompt kept, completion cut).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ftcot.answers import AnswerFormat
from ftcot.errors import DataError
from ftcot.prompts import TrainingExample, ft_cot_example, student_prompt, vanilla_example
from ftcot.records import iter_jsonl

IGNORE_INDEX = -100
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task": str,
    "sample_id": int,
    "question": str,
    "answer": str,
    "answer_type": str,
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


# --- rows ---------------------------------------------------------------------------------------


def load_rows(path: str | Path) -> list[dict]:
    """Rows of a curated train/val file, validated: a bad row raises a DataError naming file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found (run `ftcot curate` first)", path=path)
    rows = []
    for line_no, row in iter_jsonl(path):
        validate_row(row, path, line_no)
        rows.append(row)
    if not rows:
        raise DataError("no rows: the file is empty", path=path)
    return rows


def validate_row(row: object, path: Path, line_no: int) -> None:
    if not isinstance(row, dict):
        raise DataError("each line must be a JSON object", path=path, line=line_no)
    for name, kind in REQUIRED_FIELDS.items():
        if name not in row or row[name] is None:
            raise DataError("missing required field", path=path, line=line_no, field=name)
        if not isinstance(row[name], kind) or isinstance(row[name], bool):
            raise DataError(
                f"must be {kind.__name__}, got {type(row[name]).__name__}",
                path=path,
                line=line_no,
                field=name,
            )
    if not row["question"].strip():
        raise DataError("empty question", path=path, line=line_no, field="question")
    rationale = row.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise DataError("must be a string or null", path=path, line=line_no, field="rationale")
    try:
        fmt = AnswerFormat.parse(row["answer_type"])
    except ValueError as e:
        raise DataError(str(e), path=path, line=line_no, field="answer_type") from e
    problem = answer_type_problem(row["answer"], fmt)
    if problem:
        raise DataError(problem, path=path, line=line_no, field="answer")


def answer_type_problem(answer: str, fmt: AnswerFormat) -> str | None:
    """Why `answer` cannot be a gold answer of this format (None when it can)."""
    text = answer.strip()
    if not text:
        return "empty answer"
    if fmt.kind == "number" and not _NUMBER.fullmatch(text.replace(",", "")):
        return f"answer {answer!r} is not a number, but answer_type is {fmt}"
    if fmt.kind == "choice" and text not in fmt.letters:
        return f"answer {answer!r} is not one of the letters {fmt.letters} of answer_type {fmt}"
    if fmt.kind == "yesno" and text.lower() not in ("yes", "no"):
        return f"answer {answer!r} is not yes/no, but answer_type is {fmt}"
    return None


def select_rows(rows: list[dict], method: str) -> list[dict]:
    """ft_cot: rows with a rationale. vanilla: one row per question (every train question has one)."""
    if method == "ft_cot":
        return [r for r in rows if r.get("rationale")]
    first: dict[tuple, dict] = {}
    for r in rows:
        first.setdefault((r["task"], r["sample_id"]), r)
    return list(first.values())


def render(row: dict, method: str, encoder_decoder: bool) -> TrainingExample:
    if method == "ft_cot":
        return ft_cot_example(
            row["question"], row["rationale"], row["answer"], encoder_decoder=encoder_decoder
        )
    return vanilla_example(row["question"], row["answer"], encoder_decoder=encoder_decoder)


def prompt_text(row: dict, encoder_decoder: bool) -> str:
    """What the student is given at validation time: the training prompt, nothing more."""
    return student_prompt(row["question"], encoder_decoder=encoder_decoder)


# --- tokenization -------------------------------------------------------------------------------


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool  # the completion lost tokens to max_length


def _eos(tokenizer) -> list[int]:
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def encode_decoder(tokenizer, example: TrainingExample, max_length: int) -> Encoded:
    prompt_ids = tokenizer(example.prompt)["input_ids"]
    completion_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"] + _eos(tokenizer)
    room = max(0, max_length - len(prompt_ids))
    kept = completion_ids[:room]
    input_ids = (prompt_ids + kept)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + kept)[:max_length]
    return Encoded(input_ids, labels, truncated=len(kept) < len(completion_ids))


def encode_encoder_decoder(tokenizer, example: TrainingExample, max_length: int) -> Encoded:
    input_ids = tokenizer(example.prompt, truncation=True, max_length=max_length)["input_ids"]
    labels = tokenizer(example.completion)["input_ids"]
    if not labels or labels[-1] != tokenizer.eos_token_id:
        labels = labels + _eos(tokenizer)  # T5 tokenizers add EOS themselves; others do not
    return Encoded(input_ids, labels[:max_length], truncated=len(labels) > max_length)


def encode(tokenizer, example: TrainingExample, max_length: int, encoder_decoder: bool) -> Encoded:
    fn = encode_encoder_decoder if encoder_decoder else encode_decoder
    return fn(tokenizer, example, max_length)


class TokenizedDataset(torch.utils.data.Dataset):
    """Features for the trainer: input_ids and labels per row (plus extra fields for step-by-step)."""

    def __init__(self, features: list[dict]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def build_dataset(tokenizer, rows: list[dict], method: str, encoder_decoder: bool, max_length: int):
    """(dataset, number of rows whose completion was truncated)."""
    features, truncated = [], 0
    for row in rows:
        enc = encode(tokenizer, render(row, method, encoder_decoder), max_length, encoder_decoder)
        truncated += enc.truncated
        features.append({"input_ids": enc.input_ids, "labels": enc.labels})
    return TokenizedDataset(features), truncated


# --- collation ----------------------------------------------------------------------------------


def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad to the longest sequence of the batch (no fixed length: padding costs compute)."""
    longest = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (longest - len(s)) for s in sequences], dtype=torch.long)


@dataclass
class Collator:
    """Pads each field group to its batch's longest: `input_ids`/`labels`, and any `<prefix>input_ids` pairs."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = {}
        prefixes = [key[: -len("input_ids")] for key in features[0] if key.endswith("input_ids")]
        for prefix in prefixes:
            ids = [f[prefix + "input_ids"] for f in features]
            batch[prefix + "input_ids"] = pad(ids, self.pad_token_id)
            batch[prefix + "attention_mask"] = pad([[1] * len(s) for s in ids], 0)
            batch[prefix + "labels"] = pad([f[prefix + "labels"] for f in features], IGNORE_INDEX)
        return batch


def sequence_length(feature: dict) -> int:
    """Tokens a row costs (both sequences for step-by-step features); the key of length grouping."""
    return sum(len(v) for k, v in feature.items() if k.endswith("input_ids") or k.endswith("labels"))
