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


# Options that describe a user task (a .jsonl/.csv file or hf:<dataset>); paper tasks ignore them.
AnswerTypeOpt = Annotated[str | None, typer.Option(help="User tasks: number, number:float, choice, yesno, letters, text.")]
QuestionFieldOpt = Annotated[str | None, typer.Option(help="User tasks: the question column.")]
AnswerFieldOpt = Annotated[str | None, typer.Option(help="User tasks: the answer column.")]
ChoicesFieldOpt = Annotated[str | None, typer.Option(help="User tasks: the choices column (JSON list or a|b|c).")]
SplitFieldOpt = Annotated[str | None, typer.Option(help="User tasks: a column with train/test.")]
HfConfigOpt = Annotated[str | None, typer.Option(help="User tasks: the Hugging Face dataset config.")]


def load_task(name: str, answer_type=None, question_field=None, answer_field=None, choices_field=None,
              split_field=None, hf_config=None):  # fmt: skip
    """A paper task by name, or a user task with the column options given on the command line."""
    from ftcot.tasks import get_task

    return get_task(
        name, answer_type=answer_type, question_field=question_field, answer_field=answer_field,
        choices_field=choices_field, split_field=split_field, hf_config=hf_config,
    )  # fmt: skip


@app.command()
def show(
    task: Annotated[str, typer.Argument(help="Task name, or a user data file / hf:<dataset>.")],
    split: Annotated[str, typer.Option(help="train, test, all, template_train, template_test")] = "train",
    n: Annotated[int, typer.Option("-n", help="How many samples.")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    answer_type: AnswerTypeOpt = None,
    question_field: QuestionFieldOpt = None,
    answer_field: AnswerFieldOpt = None,
    choices_field: ChoicesFieldOpt = None,
    split_field: SplitFieldOpt = None,
    hf_config: HfConfigOpt = None,
) -> None:
    """Print samples of a task as the paper renders them."""
    loaded = load_task(task, answer_type, question_field, answer_field, choices_field, split_field, hf_config)
    samples = loaded.samples(split, limit=n)
    if as_json:
        _emit_json([s.to_dict() for s in samples])
        return
    for s in samples:
        console.rule(f"{s.task} #{s.id}", style="dim")
        console.print(s.question, highlight=False, markup=False)
        console.print(f"[bold]answer:[/] {s.answer}   [dim]({s.answer_type})[/]", highlight=False)


@app.command()
def generate(
    kind: Annotated[str, typer.Argument(help="coin_flip or last_letter_concatenation")],
    out: Annotated[Path, typer.Option(help="The JSONL file to write.")],
    n: Annotated[int, typer.Option("-n", "--n", help="How many questions.")] = 500,
    people: Annotated[int, typer.Option("--people", "--words", help="People (coin flip) or words (last letter).")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    names: Annotated[Path | None, typer.Option(help="A file of names, one a line (default: ftcot's own list).")] = None,
) -> None:
    """Generate a seeded synthetic Coin Flip or Last Letter Concatenation dataset (a user task file)."""
    from ftcot.errors import ConfigError
    from ftcot.tasks.generators import GENERATORS, write_jsonl

    if kind not in GENERATORS:
        raise ConfigError(f"unknown generator {kind!r}: use {' or '.join(GENERATORS)}")
    make, answer_type = GENERATORS[kind]
    name_list = [x.strip() for x in names.read_text().splitlines() if x.strip()] if names else None
    write_jsonl(make(n, people, seed, name_list), out)
    console.print(f"wrote {n} questions to {out}; use it as a task with --answer-type {answer_type}")


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
