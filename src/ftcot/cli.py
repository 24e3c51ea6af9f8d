"""The `ftcot` command line. Each command is a thin call into one pipeline stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ftcot.errors import FtcotError

app = typer.Typer(
    name="ftcot",
    help="Fine-tune-CoT: teach small language models to reason with a large teacher's rationales.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Console entry point: our errors print as one clear line, exit code 2."""
    try:
        app()
    except FtcotError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, markup=True)
        sys.exit(2)


def _emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# --- tasks -------------------------------------------------------------------------------------


@app.command()
def tasks(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the tasks with their answer type and split sizes."""
    from ftcot.tasks import PAPER_TASKS, get_task

    rows = []
    for name, spec in PAPER_TASKS.items():
        rows.append(
            {
                "name": name,
                "title": spec.title,
                "answer_type": str(spec.answer_format),
                "splits": get_task(name).split_sizes(),
                "recorded_teacher": spec.log is not None,
            }
        )
    if as_json:
        _emit_json(rows)
        return
    table = Table("task", "title", "answer", "train", "test", "other splits")
    for r in rows:
        s = dict(r["splits"])
        train, test = s.pop("train", ""), s.pop("test", "")
        table.add_row(r["name"], r["title"], r["answer_type"], str(train), str(test), ", ".join(f"{k}={v}" for k, v in s.items()))
    console.print(table)


@app.command()
def show(
    task: Annotated[str, typer.Argument(help="Task name, or a user data file.")],
    split: Annotated[str, typer.Option(help="train, test, all, template_train, template_test")] = "train",
    n: Annotated[int, typer.Option("-n", help="How many samples.")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print samples of a task as the paper renders them."""
    from ftcot.tasks import get_task

    samples = get_task(task).samples(split, limit=n)
    if as_json:
        _emit_json([s.to_dict() for s in samples])
        return
    for s in samples:
        console.rule(f"{s.task} #{s.id}", style="dim")
        console.print(s.question, highlight=False, markup=False)
        console.print(f"[bold]answer:[/] {s.answer}   [dim]({s.answer_type})[/]", highlight=False)


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A folder of completion records (or a .jsonl file).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Accuracy and the paper's other metrics of a run, re-checked with the shared answer checker."""
    from ftcot.records import read_records
    from ftcot.records import score as score_records

    metrics = score_records(read_records(run_dir))
    if as_json:
        _emit_json(metrics)
        return
    table = Table("metric", "value")
    table.add_row("n", str(metrics["n"]))
    table.add_row("correct", str(metrics["correct"]))
    table.add_row("accuracy", f"{metrics['accuracy']:.2f}%  (95% CI {metrics['ci95'][0]:.1f}–{metrics['ci95'][1]:.1f})")
    for k in ("contains_answer", "correct_format", "complete"):
        table.add_row(k, f"{metrics[k]:.2f}%")
    table.add_row("questions with a correct answer", f"{metrics['questions_with_correct']}/{metrics['questions']}")
    console.print(table)


if __name__ == "__main__":
    main()
