"""The diverse-reasoning curve: student accuracy against D, beside vanilla and the teacher.

Reads run folders (a recipe's run folder, or several: seeds and teachers run as separate
recipes; with the calculator evaluations of `calculator_table.py` when they are there) and writes
a Markdown table, its JSON, and the plots the HTML report draws (accuracy against D, and against
the number of training questions when the runs vary it). Every label
comes from the runs' manifests (teacher, D, seed, questions, rows), never from folder names. A
paired section tests each Fine-tune-CoT student against its D=1 twin and its vanilla twin on the
same test questions (`ftcot.metrics.paired`: exact McNemar).

    python benchmarks/reproduce/diverse_table.py runs/diverse-q05 runs/diverse-q05-seed1 \
        runs/teacher-axis-q05 runs/size-q05 --out benchmarks/reproduce/diverse_q05.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ftcot.manifests import TrainManifest, load_manifest
from ftcot.metrics import paired
from ftcot.report import find_runs, plots
from ftcot.report.compare import is_teacher_run
from ftcot.report.runs import Run
from ftcot.tasks import get_task


def normalised(question: str) -> str:
    return " ".join(question.lower().split())


def unseen_accuracy(run: Run) -> tuple[int, float]:
    """(test questions also in the task's train split, accuracy on the others): some datasets repeat
    questions across the paper's splits (MultiArith: 5 of its 180 test questions), which a student may
    have trained on word for word."""
    train = {normalised(s.question) for s in get_task(run.task).samples("train")}
    records = run.records  # re-checked with today's checker, as the accuracy column is
    unseen = [r for r in records if normalised(r.question) not in train]
    return len(records) - len(unseen), round(100.0 * sum(bool(r.correct) for r in unseen) / len(unseen), 2)


def epochs(run: Run) -> tuple[int | None, int | None]:
    """(the epoch the trainer kept, epochs trained), from the train manifest in the student's folder
    (the evaluation names it; its per-epoch metrics stay there), when that folder is at hand."""
    folder = Path(run.manifest.model) if run.student_manifest else None
    train = load_manifest(folder) if folder is not None and folder.is_dir() else None
    if not isinstance(train, TrainManifest) or train.metrics is None or not train.metrics.epochs:
        return None, None
    return train.metrics.selected_epoch, len(train.metrics.epochs)


def row(run: Run) -> dict:
    m = run.metrics
    selected_epoch, trained_epochs = epochs(run)
    teacher = run.dataset.teacher if run.is_student else run.model
    seen, unseen = unseen_accuracy(run)
    return {
        "run": run.label,
        "method": run.method,
        "teacher": teacher or "?",
        "D": run.diverse_degree if run.is_student and run.method != "vanilla" else None,
        "seed": run.seed,
        "calculator": bool(run.kind == "eval" and run.manifest.calculator),
        "train_questions": run.train_questions,
        "train_rows": run.train_rows,
        "selected_epoch": selected_epoch,
        "epochs": trained_epochs,
        "accuracy": round(m["accuracy"], 2),
        "ci95": [round(v, 2) for v in m["ci95"]],
        "correct": m["correct"],
        "n": m["n"],
        "test_questions_in_train": seen,
        "accuracy_without_them": unseen,
        "folder": str(run.path),
    }


def test_split_evaluations(folders: list[Path]) -> list[Run]:
    return [r for r in find_runs(folders) if r.kind == "eval" and r.metrics and r.split == "test"]


def rows(runs: list[Run]) -> list[dict]:
    students = [r for r in runs if r.is_student]
    teachers = [r for r in runs if is_teacher_run(r)]
    order = {"zs_cot": 0, "vanilla": 1, "ft_cot": 2}
    table = [row(r) for r in teachers + students]
    return sorted(
        table,
        key=lambda r: (order.get(r["method"], 3), r["calculator"], r["teacher"], r["D"] or 0, r["seed"] or 0),
    )


def twins(table: list[dict]) -> list[tuple[dict, dict]]:
    """The pairs worth testing: each Fine-tune-CoT student with D > 1 against its D=1 twin, and each
    Fine-tune-CoT student against vanilla (same teacher, questions, seed and decoding)."""

    def twin(a: dict, b: dict) -> bool:
        fields = ("teacher", "train_questions", "seed")
        return all(a[f] == b[f] for f in fields) and a["calculator"] == b["calculator"]

    ft = [r for r in table if r["method"] == "ft_cot"]
    vanilla = [r for r in table if r["method"] == "vanilla"]  # vanilla decodes plainly: calculator off
    pairs = [(r, d1) for r in ft if (r["D"] or 0) > 1 for d1 in ft if d1["D"] == 1 and twin(r, d1)]
    return pairs + [(r, v) for r in ft for v in vanilla if twin(r, v)]


def paired_rows(table: list[dict], runs: list[Run]) -> list[dict]:
    records = {str(run.path): run.records for run in runs}  # re-checked, as the accuracy column is
    out = []
    for a, b in twins(table):
        result = paired(records[a["folder"]], records[b["folder"]])
        out.append({"first": a["run"], "second": b["run"], "train_questions": a["train_questions"], **result})
    return out


def render_paired(comparisons: list[dict]) -> str:
    lines = [
        "Paired, question by question (the same test questions; exact McNemar test of the questions only one "
        "of the two answers right):",
        "",
        "| first | second | train questions | both right | only the first | only the second | p |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in comparisons:
        lines.append(
            f"| {c['first']} | {c['second']} | {c['train_questions']} | {c['both']} | {c['only_a']} "
            f"| {c['only_b']} | {c['p_value']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def render(table: list[dict]) -> str:
    lines = [
        "| run | teacher | D | seed | calculator | train questions | training rows | epoch kept (of) | accuracy % (95% CI) | correct / n | without test questions also in train |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        low, high = r["ci95"]
        calculator = "on" if r["calculator"] else "off" if r["method"] == "ft_cot" else None
        kept = f"{r['selected_epoch']} ({r['epochs']})" if r["epochs"] else None
        cells = [r["run"], r["teacher"], r["D"], r["seed"], calculator]
        cells += [r["train_questions"], r["train_rows"], kept]
        cells = ["–" if c is None else str(c) for c in cells]
        lines.append(
            f"| {' | '.join(cells)} | **{r['accuracy']:.1f}** ({low:.1f}–{high:.1f}) | {r['correct']} / {r['n']} "
            f"| {r['accuracy_without_them']:.1f} ({r['test_questions_in_train']} left out) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reproduce/diverse_q05.md"))
    args = parser.parse_args()
    runs = test_split_evaluations(args.folders)
    table = rows(runs)
    comparisons = paired_rows(table, runs)
    text = render(table) + ("\n" + render_paired(comparisons) if comparisons else "")
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=2) + "\n")
    if comparisons:
        args.out.with_name(args.out.stem + "_paired.json").write_text(
            json.dumps(comparisons, indent=2) + "\n"
        )
    figure = {p.title: p for p in plots.all_plots(find_runs(args.folders))}
    for title, suffix in ((plots.DIVERSE_TITLE, ".png"), (plots.SIZE_TITLE, "_size.png")):
        if title in figure:  # the D curve; the training-set size curve when the runs have one
            args.out.with_name(args.out.stem + suffix).write_bytes(figure[title].png)
    print(text)


if __name__ == "__main__":
    main()
