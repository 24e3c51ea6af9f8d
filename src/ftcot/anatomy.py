"""Error anatomy: why each wrong answer of a run is wrong, read from its rationale.

Every wrong answer gets the first category that applies:

  format_failure   no parsable answer, or the generation was cut off (finish_reason 'length')
  arithmetic_slip  an equation `a op b = c` in the rationale states a wrong result
                   (checked exactly by `ftcot.calculator`: 11/11 = 0.6)
  wrong_plan       the rationale has equations and all of them are right, yet the answer is wrong
  other            no equation the calculator can check (prose, algebra, a vanilla student's bare answer)

The rationale is the record's `rationale` (the part before '-->' of a Fine-tune-CoT output, a
Zero-shot-CoT step 1), else its whole `answer_text`. No model is loaded: this reads records only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ftcot.calculator import find_equations
from ftcot.records import Completion

CATEGORIES = ("arithmetic_slip", "wrong_plan", "format_failure", "other")
EXAMPLES = 5  # record keys kept per category


def reasoning_text(record: Completion) -> str:
    return record.rationale if record.rationale is not None else record.answer_text


def classify(record: Completion) -> str | None:
    """The category of a wrong answer; None for a right one. Reads `correct` and `prediction`
    as stored: rescore the record first if they may be stale."""
    if record.correct:
        return None
    truncated = record.finish_reason == "length" or record.rationale_finish_reason == "length"
    if record.prediction is None or truncated:
        return "format_failure"
    equations = find_equations(reasoning_text(record))
    if any(not e.correct for e in equations):
        return "arithmetic_slip"
    return "wrong_plan" if equations else "other"


def anatomy(records: Iterable[Completion], examples: int = EXAMPLES) -> dict:
    """Counts of wrong answers by category, example record keys, the equations written (and how many
    state a wrong result), and, for a calculator run, its interventions (and how many changed what
    the student would have written)."""
    records = [r.rescore() for r in records]
    counts: Counter[str] = Counter()
    found: dict[str, list[list]] = {c: [] for c in CATEGORIES}
    written = wrong_equations = 0
    for r in records:
        equations = find_equations(reasoning_text(r))
        written += len(equations)
        wrong_equations += sum(not e.correct for e in equations)
        category = classify(r)
        if category is not None:
            counts[category] += 1
            if len(found[category]) < examples:
                found[category].append([r.task, r.sample_id, r.sample_index])
    result = {
        "n": len(records),
        "wrong": sum(counts.values()),
        "categories": {c: counts[c] for c in CATEGORIES},
        "examples": found,
        "equations": {"written": written, "wrong": wrong_equations},
    }
    calculator = [r.meta["calculator"] for r in records if isinstance(r.meta.get("calculator"), list)]
    if calculator:
        interventions = [i for per_record in calculator for i in per_record]
        result["calculator"] = {
            "records": len(calculator),
            "interventions": len(interventions),
            "changed": sum(i.get("forced") != i.get("student_would_have") for i in interventions),
        }
    return result
