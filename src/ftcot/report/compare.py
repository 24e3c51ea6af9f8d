"""Tables of runs like the paper's: accuracy by model and method across tasks, teacher beside student,
and the yield of each teacher stage. Tables are plain data that html.py and markdown.py render."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ftcot.manifests import TeachManifest
from ftcot.metrics import ERROR_CATEGORIES
from ftcot.report.runs import Run


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def size(params: int | None) -> str:
    if not params:
        return "–"
    return f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"


def is_teacher_run(run: Run) -> bool:
    """A teacher run, or the Zero-shot-CoT prompt baseline of a model that is not a student."""
    return run.kind == "teach" or (run.kind == "eval" and not run.is_student and run.method == "zs_cot")


def teacher_accuracy(runs: list[Run]) -> dict[str, tuple[float, str]]:
    """Per task: (accuracy, split) of the teacher's Zero-shot-CoT records, as the shared checker scores
    them; on the test split when the teacher was asked there (where students are scored), else on
    the split it was asked most (splits are never mixed into one number)."""
    by_split: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if is_teacher_run(run):
            for r in run.records:
                by_split[r.task][r.split or "?"].append(r)
    result = {}
    for task, splits in by_split.items():
        split = "test" if "test" in splits else max(splits, key=lambda name: len(splits[name]))
        records = splits[split]
        result[task] = (100.0 * sum(bool(r.correct) for r in records) / len(records), split)
    return result


def runs_table(runs: list[Run]) -> Table:
    """One row per evaluation, with the teacher's accuracy on the same task beside it."""
    teacher = teacher_accuracy(runs)
    table = Table(
        "Evaluations",
        ["name", "run", "model", "size", "method", "task", "split", "n", "accuracy", "95% CI", "maj@k",
         "contains answer", "format", "complete", "teacher", "D", "train questions", "train rows"],
        note="Accuracy in %. teacher: the Zero-shot-CoT teacher's accuracy on the same task (its split in brackets). "
        "D, train questions and rows of a student as its curate and train manifests state them; "
        "?: the manifests do not say; –: not a trained student.",
    )  # fmt: skip
    for run in runs:
        if run.kind != "eval" or not run.metrics:
            continue
        m = run.metrics
        maj = m.get("maj_at_k")
        low, high = m.get("ci95", (None, None))
        t = teacher.get(run.task)
        table.rows.append([
            run.label, run.name, run.model, size(run.params), run.method, run.task, run.split, str(m.get("n", 0)),
            pct(m.get("accuracy")), f"{pct(low)}–{pct(high)}", f"{pct(maj['accuracy'])} (k={maj['k']})" if maj else "–",
            pct(m.get("contains_answer")), pct(m.get("correct_format")), pct(m.get("complete")),
            f"{pct(t[0])} ({t[1]})" if t else "–",
            _fact(run, run.diverse_degree), _fact(run, run.train_questions), _fact(run, run.train_rows),
        ])  # fmt: skip
    return table


def _fact(run: Run, value: int | None) -> str:
    """A student's training fact; '?' when its manifests do not state it (never a guess)."""
    if not run.is_student:
        return "–"
    return "?" if value is None else str(value)


def paper_table(runs: list[Run]) -> Table:
    """Accuracy with models and methods as rows and tasks as columns (the layout of the paper's Table 1)."""
    cells: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    sizes: dict[tuple[str, str, str], int] = {}
    tasks: list[str] = []
    for task, (accuracy, split) in teacher_accuracy(runs).items():
        teacher_models = {r.model for r in runs if is_teacher_run(r) and r.task == task} or {"teacher"}
        cells[("teacher: " + ", ".join(sorted(teacher_models)), "–", "zs_cot")][task] = (
            f"{pct(accuracy)} ({split})"
        )
        tasks.append(task)
    for run in runs:
        if run.kind == "eval" and run.metrics:
            row = (run.model, size(run.params), run.method)
            sizes[row] = run.params or 0
            cells[row][run.task] = pct(run.metrics.get("accuracy"))
            tasks.append(run.task)
    tasks = sorted(set(tasks))
    # Teacher first, then students from small to large, as the paper orders them.
    order = sorted(cells, key=lambda row: (not row[0].startswith("teacher"), sizes.get(row, 0), row))
    table = Table(
        "Accuracy by model, method and task", ["model", "size", "method", *tasks], note="Accuracy in %."
    )
    table.rows = [[*row, *(cells[row].get(t, "–") for t in tasks)] for row in order]
    return table


def yield_table(runs: list[Run]) -> Table:
    """The teacher stage's yield: questions covered, rationales kept (answer correct), cost per kept one."""
    table = Table(
        "Teacher yield",
        ["run", "teacher", "task", "split", "questions", "D", "rationales", "kept",
         "kept %", "questions with a kept rationale", "completion tokens", "cost", "cost per kept"],
        note="kept: the step-2 answer is right, the paper's filter. Cost as the teacher run's manifest states it.",
    )  # fmt: skip
    for run in runs:
        if run.kind != "teach" or not run.records:
            continue
        records = run.records
        questions = {(r.task, r.sample_id) for r in records}
        kept = [r for r in records if r.correct]
        covered = {(r.task, r.sample_id) for r in kept}
        splits = "/".join(sorted({r.split for r in records if r.split})) or "?"
        tokens = sum(int(r.usage.get("completion_tokens", 0) or 0) for r in records)
        cost = teacher_cost(run.manifest)
        per_kept = f"{cost / len(kept):.4f}" if cost is not None and kept else "–"
        table.rows.append([
            run.name, run.model, run.task, splits, str(len(questions)), _teacher_degree(run),
            str(len(records)), str(len(kept)), pct(100.0 * len(kept) / len(records)),
            f"{len(covered)}/{len(questions)}", str(tokens), "–" if cost is None else f"{cost:.4f}", per_kept,
        ])  # fmt: skip
    return table


def teacher_cost(manifest: TeachManifest) -> float | None:
    """The whole job's cost (cached answers included) as the teach manifest states it; else what its
    last session paid; None when it states neither."""
    if manifest.yield_ is not None and manifest.yield_.job_cost is not None:
        return manifest.yield_.job_cost
    return manifest.last_run.spent if manifest.last_run is not None else None


def _teacher_degree(run: Run) -> str:
    """D as the teach manifest states it ('?' when it does not): not inferred from the samples written."""
    return "?" if run.manifest.diverse is None else str(run.manifest.diverse)


def errors_table(runs: list[Run]) -> Table:
    """Why wrong answers are wrong, per evaluation (categories from ftcot.metrics.error_category)."""
    table = Table("Wrong answers by category", ["run", "wrong", *ERROR_CATEGORIES])
    for run in runs:
        if run.kind == "eval" and run.metrics:
            errors = run.metrics.get("errors", {})
            wrong = run.metrics.get("n", 0) - run.metrics.get("correct", 0)
            table.rows.append([run.name, str(wrong), *(str(errors.get(c, 0)) for c in ERROR_CATEGORIES)])
    return table


def anatomy_table(runs: list[Run]) -> Table:
    """Why wrong answers are wrong, read from each rationale's equations (ftcot.anatomy), per evaluation."""
    from ftcot.anatomy import CATEGORIES, anatomy

    table = Table(
        "Error anatomy",
        ["run", "method", "calculator", "n", "wrong", *(c.replace("_", " ") for c in CATEGORIES),
         "equations", "wrong equations", "interventions", "changed"],
        note="Wrong answers by the first that applies: format failure (no parsable answer, or cut off), "
        "arithmetic slip (an equation states a wrong result), wrong plan (equations right, answer wrong), "
        "other (no equation to check). interventions: results the calculator forced; changed: those "
        "that differ from what the student ranked first.",
    )  # fmt: skip
    for run in runs:
        if run.kind != "eval" or not run.records:
            continue
        a = anatomy(run.records)
        calc = a.get("calculator")
        table.rows.append([
            run.name, run.method, "on" if calc else "off", str(a["n"]), str(a["wrong"]),
            *(str(a["categories"][c]) for c in CATEGORIES),
            str(a["equations"]["written"]), str(a["equations"]["wrong"]),
            str(calc["interventions"]) if calc else "–", str(calc["changed"]) if calc else "–",
        ])  # fmt: skip
    return table


def all_tables(runs: list[Run]) -> list[Table]:
    """The report's tables, leaving out those with no rows."""
    tables = [paper_table(runs), runs_table(runs), yield_table(runs), errors_table(runs), anatomy_table(runs)]
    return [t for t in tables if t.rows]
