"""Metrics of completion records: accuracy with its interval, the paper's other rates, why wrong
answers are wrong, and maj@k under self-consistency.

Only the shared answer checker is needed here (no torch, no transformers), so `ftcot score` and
`ftcot report` start fast; `ftcot.evaluate` and `ftcot.records` re-export these names.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ftcot.answers import PREFIXES, AnswerFormat, check, normalize_gold, same_answer

if TYPE_CHECKING:  # records imports this module: a runtime import would be circular
    from ftcot.records import Completion

METRICS_FILE = "metrics.json"  # an evaluation's metrics, beside its records

ERROR_CATEGORIES = (
    "truncated",  # max_new_tokens ran out before the answer (or, for zs_cot, in the rationale)
    "no_answer_prefix",  # the method's answer prefix ('-->', 'The answer is') is missing
    "answer_not_in_choices",  # multiple choice: no allowed option letter, or only options that do not exist
    "no_answer",  # nothing shaped like an answer
    "wrong_number",
    "wrong_choice",
    "wrong_answer",  # yes/no, letters, text
)
_OPTION_MENTION = re.compile(r"\(([A-Z])\)")


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion, in percent."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: how likely a split at least this uneven of the questions that
    exactly one of two models answers right, if either were as likely as the other to be the one."""
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(a: Sequence[Completion], b: Sequence[Completion]) -> dict:
    """Two evaluations on the same questions, question by question: how many each alone answers right,
    and the exact McNemar p-value of that split (pairing makes it sharper than comparing intervals)."""
    right_a = {(r.task, r.sample_id): bool(r.correct) for r in a}
    right_b = {(r.task, r.sample_id): bool(r.correct) for r in b}
    if len(right_a) != len(a) or len(right_b) != len(b):  # self-consistency: several samples a question
        raise ValueError("paired comparison needs one record per question")
    if right_a.keys() != right_b.keys():
        raise ValueError(f"paired comparison needs the same questions: {len(right_a)} against {len(right_b)}")
    only_a = sum(right_a[q] and not right_b[q] for q in right_a)
    only_b = sum(right_b[q] and not right_a[q] for q in right_a)
    both = sum(right_a[q] and right_b[q] for q in right_a)
    p_value = mcnemar_exact(only_a, only_b)
    return {"n": len(right_a), "both": both, "only_a": only_a, "only_b": only_b, "p_value": p_value}


def score(records: Iterable[Completion]) -> dict:
    """Accuracy and the paper's other metrics over records, re-checked with the shared checker."""
    records = list(records)
    n = len(records)
    verdicts = []
    for r in records:
        fmt = AnswerFormat.parse(r.answer_type)
        verdicts.append(check(r.answer_text, r.gold, fmt, PREFIXES.get(r.method), r.finish_reason))
    correct = sum(v.correct for v in verdicts)
    questions: dict[tuple[str, int], bool] = {}
    for r, v in zip(records, verdicts, strict=True):
        questions[(r.task, r.sample_id)] = questions.get((r.task, r.sample_id), False) or v.correct
    low, high = wilson_interval(correct, n)

    def pct(k: int) -> float:
        return 100.0 * k / n if n else 0.0

    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    for r in records:
        for k in usage:
            usage[k] += int(r.usage.get(k, 0) or 0)
    return {
        "n": n,
        "correct": correct,
        "accuracy": pct(correct),
        "ci95": [low, high],
        "contains_answer": pct(sum(v.contains_answer for v in verdicts)),
        "correct_format": pct(sum(v.correct_format for v in verdicts)),
        "complete": pct(sum(v.complete for v in verdicts)),
        "questions": len(questions),
        "questions_with_correct": sum(questions.values()),
        "usage": usage,
    }


def error_category(record: Completion) -> str | None:
    """Why a wrong answer is wrong, when that can be told from the text alone; None for correct ones."""
    fmt = AnswerFormat.parse(record.answer_type)
    prefix = PREFIXES.get(record.method)
    verdict = check(record.answer_text, record.gold, fmt, prefix, record.finish_reason)
    if verdict.correct:
        return None
    prefix_missing = prefix is not None and prefix not in record.answer_text
    # Cut off before the answer (a first-number answer that came in time was not cut off), or mid-rationale.
    answer_cut = record.finish_reason == "length" and (verdict.prediction is None or prefix_missing)
    if answer_cut or record.rationale_finish_reason == "length":
        return "truncated"
    if prefix_missing:
        return "no_answer_prefix"
    if fmt.kind == "choice":
        named = set(_OPTION_MENTION.findall(record.answer_text))
        if verdict.prediction is None or (named and not named & set(fmt.letters)):
            return "answer_not_in_choices"
        return "wrong_choice"
    if verdict.prediction is None:
        return "no_answer"
    return "wrong_number" if fmt.kind == "number" else "wrong_answer"


def majority_vote(records: Sequence[Completion]) -> dict:
    """maj@k: per question, the most frequent parsed answer of its k samples (ties: the earliest)."""
    by_question: dict[tuple[str, int], list[Completion]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.key):
        by_question[(r.task, r.sample_id)].append(r)
    correct = 0
    for group in by_question.values():
        votes = Counter(r.prediction for r in group if r.prediction is not None)
        if not votes:
            continue
        top = max(votes.values())
        winner = next(r.prediction for r in group if votes.get(r.prediction) == top)
        fmt = AnswerFormat.parse(group[0].answer_type)
        correct += same_answer(winner, normalize_gold(group[0].gold, fmt), fmt)
    n = len(by_question)
    k = max((len(g) for g in by_question.values()), default=0)
    low, high = wilson_interval(correct, n)
    return {
        "k": k,
        "n": n,
        "correct": correct,
        "accuracy": 100.0 * correct / n if n else 0.0,
        "ci95": [low, high],
    }


def compute_metrics(records: Sequence[Completion]) -> dict:
    """The shared checker's metrics, plus error categories of wrong answers and maj@k when k > 1."""
    records = [r.rescore() for r in records]
    metrics = score(records)
    errors = Counter(c for r in records if (c := error_category(r)) is not None)
    metrics["errors"] = {c: errors[c] for c in ERROR_CATEGORIES if errors[c]}
    if any(r.sample_index > 0 for r in records):
        metrics["maj_at_k"] = majority_vote(records)
    return metrics
