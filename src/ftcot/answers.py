"""The one answer checker: teacher filtering and student scoring both call `check`.

The rules are the paper's (reasoning-teacher's evaluator): find the template's answer
prefix; after it take the *first* candidate; without it take the *last* candidate in the
text; templates that have no prefix take the *first* candidate. Candidates depend on the
answer format of the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

AnswerKind = Literal["number", "choice", "yesno", "letters", "text"]

# Answer prefix of each prompt/training template; None means "no prefix: first candidate".
PREFIXES: dict[str, str | None] = {
    "zero_shot": None,
    "zs_cot": None,  # the step-2 answer text is scored, which the trigger already precedes
    "fs_cot": "The answer is",
    "ft_cot": "-->",
    "ft_cot_natural": "Therefore, the answer is",
    "vanilla": None,
}

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_YESNO_SEPARATORS = re.compile(r"[\"'\n.\s:,]")
_LETTERS_STRIP = re.compile(r"[\"'\n.\s]")


@dataclass(frozen=True)
class AnswerFormat:
    """How answers of a task are written and compared."""

    kind: AnswerKind
    letters: str = "ABCDE"  # choice: the allowed option letters
    float_compare: bool = False  # number: compare as floats within 1e-6 (else as strings)

    @classmethod
    def parse(cls, spec: str) -> AnswerFormat:
        """Read the compact form used in configs: number, number:float, choice:ABC, yesno, letters, text."""
        kind, _, arg = spec.partition(":")
        if kind == "number":
            return cls("number", float_compare=arg == "float")
        if kind == "choice":
            return cls("choice", letters=arg or "ABCDE")
        if kind in ("yesno", "letters", "text"):
            return cls(kind)  # type: ignore[arg-type]
        raise ValueError(
            f"unknown answer format {spec!r}: use number, number:float, choice:ABC.., yesno, letters or text"
        )

    def __str__(self) -> str:
        if self.kind == "number":
            return "number:float" if self.float_compare else "number"
        if self.kind == "choice":
            return f"choice:{self.letters}"
        return self.kind


@dataclass(frozen=True)
class Verdict:
    prediction: str | None  # the parsed answer, as text
    correct: bool
    contains_answer: bool  # any candidate in the text is right
    correct_format: bool  # the template's answer prefix is present
    complete: bool  # the generation stopped by itself


def candidates(text: str, fmt: AnswerFormat) -> list[str]:
    """All substrings of `text` that have the shape of an answer, in order."""
    if fmt.kind == "choice":
        return re.findall(f"[{re.escape(fmt.letters)}]", text)
    if fmt.kind == "number":
        return _NUMBER.findall(text.replace(",", ""))
    if fmt.kind == "yesno":
        tokens = _YESNO_SEPARATORS.sub(" ", text.lower()).split(" ")
        return [t for t in tokens if t in ("yes", "no")]
    if fmt.kind == "letters":
        return [_LETTERS_STRIP.sub("", text)]
    # free text: the whole remainder, normalised (first line, no quotes or end punctuation, lowercase)
    first_line = text.strip().split("\n", 1)[0]
    return [normalize_text(first_line)]


def normalize_text(text: str) -> str:
    return " ".join(text.strip().strip("\"'").rstrip(".!").strip().lower().split())


def normalize_gold(gold: str, fmt: AnswerFormat) -> str:
    """The gold answer in the form that candidates take (e.g. '1,000' -> '1000', 'Yes' -> 'yes')."""
    gold = str(gold).strip()
    if fmt.kind == "number":
        return gold.replace(",", "")
    if fmt.kind == "yesno":
        return gold.lower()
    if fmt.kind == "text":
        return normalize_text(gold)
    return gold


def same_answer(prediction: str | None, gold: str, fmt: AnswerFormat) -> bool:
    if prediction is None:
        return False
    if fmt.kind == "number" and fmt.float_compare:
        try:
            return abs(float(prediction) - float(gold)) <= 1e-6
        except ValueError:
            return False
    return prediction == gold


def extract(text: str, fmt: AnswerFormat, prefix: str | None) -> tuple[str | None, list[str]]:
    """The parsed answer and all candidates, by the prefix rule."""
    if prefix is None:
        found, first = candidates(text, fmt), True
    elif (at := text.find(prefix)) == -1:
        found, first = candidates(text, fmt), False
    else:
        found, first = candidates(text[at + len(prefix) :], fmt), True
    if not found:
        return None, found
    return (found[0] if first else found[-1]), found


def check(
    text: str,
    gold: str,
    fmt: AnswerFormat,
    prefix: str | None = None,
    finish_reason: str | None = "stop",
) -> Verdict:
    """Score one completion `text` against the `gold` answer."""
    gold = normalize_gold(gold, fmt)
    prediction, found = extract(text, fmt, prefix)
    return Verdict(
        prediction=prediction,
        correct=same_answer(prediction, gold, fmt),
        contains_answer=any(same_answer(c, gold, fmt) for c in found),
        correct_format=prefix is None or prefix in text,
        complete=finish_reason == "stop",
    )
