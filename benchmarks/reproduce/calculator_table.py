"""Students with and without the calculator: accuracy (95% Wilson intervals) and the error anatomy.

Reads the student evaluations of a recipe run folder (`ftcot run src/ftcot/recipes/reproduce.toml
--out runs/reproduce`, or `ftcot demo`'s runs/demo), evaluates each student again with
calculator-assisted decoding (same settings, `calculator = true`) into RUN/calculator/, and
writes a Markdown table (and JSON): per task, each student (Fine-tune-CoT or vanilla, its D)
without and with the calculator, the teacher's accuracy on the same test split beside them, and
why the wrong answers are wrong (ftcot.anatomy).

    python benchmarks/reproduce/calculator_table.py runs/reproduce --evaluate \\
        --out benchmarks/reproduce/calculator.md

Without --evaluate only the evaluations already in RUN/calculator/ are tabulated. --limit N
evaluates the first N test questions only (a smoke run: its intervals are wide; say so).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ftcot.anatomy import CATEGORIES, anatomy
from ftcot.records import read_records
from ftcot.records import score as score_records
from ftcot.report import find_runs
from ftcot.report.compare import is_teacher_run
from ftcot.report.runs import Run, read_run

PAPER_NOTE = (
    "The paper's GPT-3 6.7B Fine-tune-CoT student with diverse reasoning reached 53.3% on MultiArith "
    "(the issue's moonshot: the 135M student with the calculator passing it)."
)


def _manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def student_evaluations(run_dir: Path, methods: set[str], degrees: set[int] | None) -> list[Run]:
    """Plain (no calculator) evaluations of trained students, of the given methods and teacher D."""
    found = []
    for run in find_runs([run_dir]):
        if run.kind != "eval" or not run.is_student or run.manifest.calculator or run.method not in methods:
            continue
        if degrees is None or run.diverse_degree in degrees:
            found.append(run)
    return found


def with_calculator(run_dir: Path, evaluation: Path, limit: int | None) -> Path:
    """Evaluate the student of `evaluation` again, with the calculator, with the same settings."""
    from ftcot.evaluate import EvalConfig, evaluate

    manifest = _manifest(evaluation)
    settings = {k: v for k, v in manifest.items() if k in EvalConfig.model_fields and v is not None}
    out = run_dir / "calculator" / evaluation.name
    if manifest.get("question_prefix") is not None:  # as_trained fills it in again from the student
        settings.pop("question_prefix")
    config = EvalConfig(
        **{**settings, "calculator": True, "out": out, "limit": limit or settings.get("limit")}
    )
    print(f"evaluating {config.model} on {config.task} with the calculator -> {out}", file=sys.stderr)
    return evaluate(config)


def summary(folder: Path, questions: set | None = None) -> dict:
    """Accuracy and anatomy of an evaluation, over `questions` ((task, sample_id)) when given."""
    run = read_run(folder)
    records = [r for r in run.records if questions is None or (r.task, r.sample_id) in questions]
    metrics = score_records(records)
    return {
        "run": folder.name,
        "task": run.task,
        "student": run.label,
        "method": run.method,
        "diverse": run.diverse_degree,
        "seed": run.seed,
        "calculator": bool(run.manifest.calculator),
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "ci95": metrics["ci95"],
        "anatomy": anatomy(records),
    }


def teacher_rows(run_dir: Path) -> dict[str, dict]:
    """The teacher's Zero-shot-CoT on each task's test split: the run folder's own teacher baseline
    when it has one, else the recorded text-davinci-002 log."""
    found = {}
    for run in find_runs([run_dir]):
        if is_teacher_run(run) and run.kind == "eval" and run.split == "test" and run.metrics:
            found[run.task] = {**run.metrics, "model": run.model}
    return found


def teacher_row(task: str) -> dict | None:
    """The recorded teacher (text-davinci-002 Zero-shot-CoT) on the task's test split, when the mirror has it."""
    try:
        from ftcot.records import wilson_interval
        from ftcot.tasks import get_task
        from ftcot.teach.recorded import recorded_teacher

        records, _ = recorded_teacher(get_task(task), "test")
    except Exception as e:  # noqa: BLE001 - a missing recording leaves the row out, said on stderr
        print(f"{task}: no recorded teacher on test ({e})", file=sys.stderr)
        return None
    correct = sum(bool(r.correct) for r in records)
    return {"accuracy": 100 * correct / len(records), "ci95": list(wilson_interval(correct, len(records))),
            "n": len(records), "model": "text-davinci-002 (recorded)"}  # fmt: skip


def render(rows: list[dict], teachers: dict[str, dict | None]) -> str:
    head = (
        "| task | student | method | D | calculator | accuracy (95% CI) | n | "
        + " | ".join(c.replace("_", " ") for c in CATEGORIES)
        + " | equations (wrong) | interventions (changed) |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for task in sorted({r["task"] for r in rows}):
        teacher = teachers.get(task)
        if teacher:
            lines.append(
                f"| {task} | teacher: {teacher['model']} | zs_cot | – | – | {_acc(teacher)} | {teacher['n']} |"
                + " |" * (len(CATEGORIES) + 2)
            )
        for r in sorted(
            (r for r in rows if r["task"] == task),
            key=lambda r: (r["method"], r["diverse"] or 0, r["seed"] or 0, r["calculator"]),
        ):
            a, calc = r["anatomy"], r["anatomy"].get("calculator")
            lines.append(
                f"| {task} | {r['student']} | {r['method']} | {r['diverse'] or '?'} | {'on' if r['calculator'] else 'off'} "
                f"| {_acc(r)} | {r['n']} | " + " | ".join(str(a["categories"][c]) for c in CATEGORIES)
                + f" | {a['equations']['written']} ({a['equations']['wrong']}) | "
                + (f"{calc['interventions']} ({calc['changed']})" if calc else "–") + " |"
            )  # fmt: skip
    return "\n".join(lines) + "\n\n" + PAPER_NOTE + "\n"


def _acc(r: dict) -> str:
    return f"{r['accuracy']:.1f} ({r['ci95'][0]:.1f}–{r['ci95'][1]:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path, help="a recipe's run folder (runs/reproduce, runs/demo)")
    parser.add_argument("--evaluate", action="store_true", help="run the missing calculator evaluations")
    parser.add_argument("--limit", type=int, default=None, help="first N test questions only (smoke runs)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reproduce/calculator.md"))
    parser.add_argument(
        "--methods", nargs="+", default=["ft_cot"], help="students trained so (vanilla writes no sums)"
    )
    parser.add_argument("--diverse", nargs="+", type=int, default=None, help="only students of these D")
    args = parser.parse_args()

    plain = [
        r.path
        for r in student_evaluations(args.run_dir, set(args.methods), args.diverse and set(args.diverse))
    ]
    if not plain:
        sys.exit(f"{args.run_dir}: no student evaluations under eval/ (run a recipe first)")
    rows = []
    for evaluation in plain:
        done = args.run_dir / "calculator" / evaluation.name
        if args.evaluate:
            done = with_calculator(args.run_dir, evaluation, args.limit)
        if not (done / "completions.jsonl").exists():
            rows.append(summary(evaluation))
            continue
        # Both rows over the same questions (a --limit run covers the first N only).
        questions = {(r.task, r.sample_id) for r in read_records(done)}
        rows += [summary(evaluation, questions), summary(done, questions)]
    teachers = teacher_rows(args.run_dir)
    teachers |= {task: teacher_row(task) for task in {r["task"] for r in rows} - set(teachers)}
    table = render(rows, teachers)
    command = "python " + " ".join(sys.argv)
    args.out.write_text(f"{table}\nMade by `{command}`.\n")
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": command, "rows": rows, "teachers": teachers}, indent=2, default=str) + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
