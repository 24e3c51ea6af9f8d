"""One self-contained HTML page: tables, plots (inline PNG) and a sample browser (plain JS, no network).

The page is templates/report.html rendered by jinja2 with autoescape on: every text that reaches
it (a run's name, a model's output, a question) is escaped, and the samples travel as JSON that
cannot end their script element. The browser shows each evaluated sample with the question, the teacher's rationale for the
same question (when a teacher run is in the report), the student's output and both parsed
answers, and filters them: all, correct, wrong, teacher right but student wrong.
"""

from __future__ import annotations

import time
from collections import defaultdict
from functools import cache

import jinja2

from ftcot.anatomy import classify
from ftcot.metrics import error_category
from ftcot.records import Completion
from ftcot.report.compare import Table, is_teacher_run
from ftcot.report.plots import Plot
from ftcot.report.runs import Run

MAX_SAMPLES_PER_RUN = 1000  # keeps the page small enough to open fast; the records hold the rest


def teacher_lookup(runs: list[Run]) -> dict[tuple[str, str, int], dict[str, Completion]]:
    """The teacher's answers to each question, by model: a teacher run's records (a kept, correct
    rationale when D > 1 gave several), and the Zero-shot-CoT prompt baselines evaluated beside the
    students (a teacher asked on the test split, where the students are evaluated)."""
    found: dict[tuple[str, str, int], dict[str, Completion]] = defaultdict(dict)
    for run in runs:
        if not is_teacher_run(run):
            continue
        for r in run.records:
            by_model = found[(r.task, r.split, r.sample_id)]
            model = run.model
            if model not in by_model or (r.correct and not by_model[model].correct):
                by_model[model] = r
    return found


def _teacher_of(run: Run, answers: dict[str, Completion]) -> Completion | None:
    """The answer of the model that taught this student when it was asked too; else any teacher's."""
    if not answers or not run.is_student:
        return None
    for taught_by in (run.dataset.teacher, run.dataset.teacher_model):  # recorded:NAME, or the model
        if taught_by in answers:
            return answers[taught_by]
    return next(iter(answers.values()))


def sample_rows(runs: list[Run]) -> list[dict]:
    """The browser's data: evaluations' samples (or the teacher's, when there is no evaluation), each
    student's answer paired with its teacher's answer to the same question."""
    teacher = teacher_lookup(runs)
    browsed = [r for r in runs if r.kind == "eval"] or [r for r in runs if r.kind == "teach"]
    rows = []
    for run in browsed:
        for r in run.records[:MAX_SAMPLES_PER_RUN]:
            t = _teacher_of(run, teacher.get((r.task, r.split, r.sample_id), {}))
            rows.append({
                "run": run.name, "task": r.task, "id": r.sample_id, "index": r.sample_index, "method": r.method,
                "question": r.question, "gold": r.gold, "prompt": r.prompt, "rationale": r.rationale,
                "output": r.answer_text, "prediction": r.prediction, "correct": bool(r.correct),
                "finish": r.finish_reason, "error": error_category(r), "anatomy": classify(r),
                "calculator": r.meta.get("calculator"),  # None: no calculator; else its interventions
                "teacher": None if t is None else {
                    "model": t.model, "rationale": t.rationale, "answer": t.answer_text,
                    "prediction": t.prediction, "correct": bool(t.correct),
                },
            })  # fmt: skip
    return rows


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ftcot.report", "templates"),
        autoescape=True,  # every value is HTML-escaped unless the template says otherwise
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the page
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}  # tojson: keep the page small
    return env


def render(
    runs: list[Run], tables: list[Table], plots: list[Plot], title: str = "ftcot report", note: str = ""
) -> str:
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            note=note,
            generated=time.strftime("%Y-%m-%d %H:%M"),
            runs=runs,
            tables=tables,
            plots=plots,
            samples=sample_rows(runs),
        )
    )
