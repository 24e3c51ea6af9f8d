"""The `ftcot` command line. Each command is a thin call into one pipeline stage."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ftcot import cli_options
from ftcot.cli_options import ConfigCommand, config_options
from ftcot.errors import FtcotError
from ftcot.redact import RedactingFilter, redact

app = typer.Typer(
    name="ftcot",
    help="Fine-tune-CoT: teach small language models to reason with a large teacher's rationales.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def _flag_type(option, ctx) -> str | None:
    """The type shown beside an option in --help; none for a flag, which takes no value."""
    return None if option.is_flag else _option_type(option, ctx)


# Recent typer prints `<bool>` beside every flag (--help included), as if it took a value; older
# versions have no display_type_rich and print no type for flags.
_option_type = getattr(typer.core.TyperOption, "display_type_rich", None)
if _option_type is not None:
    typer.core.TyperOption.display_type_rich = _flag_type


# Set before torch starts its thread pools: idle OpenMP threads otherwise spin at full speed
# between operations, which halves training and generation when the machine is shared (two
# stages at once, a teacher server beside a student, a CI runner). The user's own values win.
SHARED_MACHINE_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}


def main() -> None:
    """Console entry point: our errors and bad settings print as one clear line, exit code 2."""
    for name, value in SHARED_MACHINE_ENV.items():
        os.environ.setdefault(name, value)
    try:
        app()
    except Exception as e:
        message = _user_error(e)
        if message is None:
            raise
        # Printed as plain text: a message may hold `[teacher]`, which rich would take for markup.
        err_console.print(Text.assemble(("error:", "bold red"), " ", redact(message)), soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))  # 2 for bad settings; an incomplete stage says its own


def _user_error(error: Exception) -> str | None:
    """The message of an error the user can fix (ours, or settings pydantic refused); None otherwise."""
    if isinstance(error, FtcotError):
        return str(error)
    from pydantic import ValidationError

    if isinstance(error, ValidationError):  # a config model built from the command's flags
        return "; ".join(map(_option_error, error.errors()))
    return None


class _StderrHandler(logging.StreamHandler):
    """Writes to the sys.stderr of the moment, which test runners swap."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging(level: int | None = None) -> None:
    """Log records go to stderr through one handler that masks secrets (`ftcot.redact`)."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _before_every_command() -> None:
    _setup_logging()


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
        table.add_row(
            r["name"],
            r["title"],
            r["answer_type"],
            str(train),
            str(test),
            ", ".join(f"{k}={v}" for k, v in s.items()),
        )
    console.print(table)


# Options that describe a user task (a .jsonl/.csv file or hf:<dataset>); paper tasks ignore them.
AnswerTypeOpt = Annotated[
    str | None, typer.Option(help="User tasks: number, number:float, choice, yesno, letters, text.")
]
QuestionFieldOpt = Annotated[str | None, typer.Option(help="User tasks: the question column.")]
AnswerFieldOpt = Annotated[str | None, typer.Option(help="User tasks: the answer column.")]
ChoicesFieldOpt = Annotated[
    str | None, typer.Option(help="User tasks: the choices column (JSON list or a|b|c).")
]
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


def _teacher_help() -> str:
    from ftcot.teach.recordings import available

    shipped = "; ".join(f"recorded:{name} ({r.contents()})" for name, r in available().items()) or "none yet"
    return (
        "openai:MODEL, hf:MODEL_OR_DIR, llamacpp:FILE.gguf (llama-server), vllm:MODEL, recorded "
        f"(text-davinci-002's logs), or a shipped live-teacher recording (task/split questions×D): {shipped}"
    )


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
    people: Annotated[
        int, typer.Option("--people", "--words", help="People (coin flip) or words (last letter).")
    ] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    names: Annotated[
        Path | None, typer.Option(help="A file of names, one a line (default: ftcot's own list).")
    ] = None,
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


# --- teach -------------------------------------------------------------------------------------

# Flags whose names are not `--field-name` (`--x/--no-x` for a bool): users' scripts use these.
CHAT_FLAG = {"chat": "--chat/--completions"}


@app.command(cls=ConfigCommand)
@config_options("ftcot.teach.config:TeachConfig", names=CHAT_FLAG, help=lambda: {"teacher": _teacher_help()})
def teach(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    **options,
) -> None:
    """Generate Zero-shot-CoT rationales (optionally diverse) with a teacher; resumable and cached."""
    from ftcot.records import read_manifest
    from ftcot.teach.driver import TeachConfig, estimate
    from ftcot.teach.driver import teach as run_teacher

    _setup_logging(logging.INFO)
    config = TeachConfig(**cli_options.given(ctx, options))  # the flags given: a recording fills its own
    if config.dry_run:
        _emit_json(estimate(config)) if as_json else console.print(estimate(config))
        return
    try:
        run_teacher(config)
    except KeyboardInterrupt as e:
        err_console.print("interrupted: finished work is kept; rerun the same command to resume")
        raise typer.Exit(getattr(e, "exit_code", 130)) from None  # 130 Ctrl-C, 143 SIGTERM
    manifest = read_manifest(config.out)
    summary = {k: manifest.get(k) for k in ("status", "samples", "questions", "last_run", "yield", "import")}
    if as_json:
        _emit_json(summary)
    else:
        console.print(summary)
    exit_codes = {"complete": 0, "incomplete": 1, "budget": 3, "interrupted": 130}
    raise typer.Exit(exit_codes.get(manifest.get("status"), 0))


# --- curate and train (students) ---------------------------------------------------------------


@app.command(cls=ConfigCommand)
@config_options("ftcot.curate:CurateConfig", arguments=["run_dir"])
def curate(**options) -> None:
    """Filter teacher rationales into Fine-tune-CoT / vanilla training data (train, val, OpenAI export)."""
    from ftcot.curate import CurateConfig
    from ftcot.curate import curate as run_curate
    from ftcot.records import read_manifest

    folder = run_curate(CurateConfig(**options))
    stats = read_manifest(folder)["yield"]
    table = Table("yield", "value")
    for key in (
        "records",
        "train_questions",
        "train_questions_covered",
        "train_rows_with_rationale",
        "val_questions",
    ):
        table.add_row(key, str(stats[key]))
    table.add_row(
        "samples per question",
        f"mean {stats['samples_per_question']['mean']}, max {stats['samples_per_question']['max']}",
    )
    table.add_row("dropped", ", ".join(f"{k}={v}" for k, v in stats["dropped"].items() if v) or "none")
    if stats.get("arithmetic"):
        checked = stats["arithmetic"]
        table.add_row("wrong arithmetic", f"{checked['dropped']} dropped, {checked['repaired']} repaired")
    console.print(table)
    console.print(f"wrote {folder}")


def _train_help() -> dict[str, str]:
    """The help of the flags both kinds of student take where an API student's default differs."""
    from ftcot.train import APITrainConfig, TrainConfig

    notes = {}
    for name, local in TrainConfig.model_fields.items():
        api = APITrainConfig.model_fields.get(name)
        if api is not None and api.default != local.default and api.description:
            notes[name] = f"{local.description or ''} API: {api.description}".strip()
    return notes


# Local students' flags, then the flags only API students take (openai:BASE_MODEL, docs/api-students.md).
@app.command(cls=ConfigCommand)
@config_options(
    "ftcot.train.config:TrainConfig",
    arguments=["data_dir"],
    names={"bf16": "--bf16/--fp32", "group_by_length": "--group-by-length/--shuffle",
           "eval_every_epoch": "--eval-every-epoch/--no-eval"},
    help=_train_help,
)  # fmt: skip
@config_options(
    "ftcot.train.openai_student:APITrainConfig",
    names=CHAT_FLAG,
    help_prefix="API: ",
)
def train(
    ctx: typer.Context,
    check_format_only: Annotated[
        bool, typer.Option("--check-format-only", help="Check the loss mask and stop.")
    ] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="API: cancel OUT's fine-tuning job.")] = False,
    **options,
) -> None:
    """Fine-tune a student on curated data (Fine-tune-CoT, or the vanilla baseline with --method vanilla)."""
    from ftcot.train import is_api_student, train_config

    # Only the flags given: a preset fills the others, and an API student has defaults of its own.
    given = cli_options.given(ctx, options)
    if is_api_student(options["student"]):
        _train_api_student(given, cancel)
        return
    config = train_config(given)
    if check_format_only:
        from ftcot.train.trainer import check_format_only as run_check

        run_check(config)
        console.print("format check passed")
        return
    from ftcot.train import train as run_train

    folder = run_train(config)
    if int(os.environ.get("RANK", "0")) != 0:  # under accelerate/torchrun only the main process reports
        return
    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = manifest["metrics"]
    table = Table("epoch", "train loss", "val loss", "val accuracy")
    for e in metrics["epochs"]:
        loss = f"{e['train_loss']:.4f}" if e.get("train_loss") is not None else "-"
        val_loss = f"{e['val_loss']:.4f}" if e.get("val_loss") is not None else "-"
        acc = f"{e['val_accuracy']:.2f}%" if e.get("val_accuracy") is not None else "-"
        table.add_row(
            str(e["epoch"]),
            loss,
            val_loss,
            acc,
            style="bold" if e["epoch"] == metrics.get("selected_epoch") else None,
        )
    console.print(table)
    console.print(f"wrote {folder} (model: {manifest.get('selection') or 'last epoch'})")


def _train_api_student(given: dict, cancel: bool) -> None:
    """`ftcot train --student openai:BASE_MODEL`: the fine-tuning job, its dry run or its cancellation."""
    from ftcot.train import openai_student as api
    from ftcot.train import train_config

    config = train_config(given)  # a flag only local students take is refused by name
    if config.dry_run:
        _emit_json(api.estimate(config))
        return
    if cancel:
        job = api.cancel(config)
        console.print(f"fine-tuning job {job['id']}: {job['status']}")
        return
    try:
        folder = api.train_api(config)
    except KeyboardInterrupt as e:  # the job keeps running: the module said how to follow or cancel it
        raise typer.Exit(getattr(e, "exit_code", 130)) from None
    block = _api_block(folder)
    cost = (block.get("cost") or {}).get("usd")
    paid = f"${cost:.4f}" if cost is not None else "unknown"
    console.print(
        f"fine-tuned model: [bold]{block.get('fine_tuned_model')}[/] (job {block.get('job_id')}, "
        f"{block.get('trained_tokens')} trained tokens, cost {paid})",
        highlight=False,
    )
    console.print(
        f"evaluate it: ftcot eval {folder} --task TASK --method {config.method} --out DIR", style="dim"
    )


def _api_block(folder: Path) -> dict:
    from ftcot.records import read_manifest

    return read_manifest(folder).get("api") or {}


# --- evaluate and report ------------------------------------------------------------------------


def _option_error(error: dict) -> str:
    """A pydantic error as the user typed it: `--max-new-tokens: Input should be greater than 0`."""
    flag = "--" + "-".join(str(part).replace("_", "-") for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{flag}: {message}" if error["loc"] else message


@app.command("eval", cls=ConfigCommand)
@config_options(
    "ftcot.evaluate:EvalConfig", arguments=["model"], exclude=["question_prefix"], names=CHAT_FLAG
)
def eval_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    **options,
) -> None:
    """Evaluate a model on a task split with a prompting method; writes records, manifest and metrics.json."""
    from pydantic import ValidationError

    from ftcot.errors import ConfigError
    from ftcot.evaluate import METRICS_FILE, EvalConfig, evaluate

    try:
        config = EvalConfig(**cli_options.given(ctx, options))  # a student's own method fills --method
    except ValidationError as e:
        raise ConfigError("; ".join(map(_option_error, e.errors()))) from e
    run_dir = evaluate(config)
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    if as_json:
        _emit_json(metrics)
        return
    from ftcot.report.markdown import metrics_lines

    console.print("\n".join(metrics_lines(metrics)), highlight=False, markup=False)
    console.print(f"records, manifest and metrics.json in {run_dir}", style="dim")


@app.command()
def report(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders (eval, teach, train), folders of runs, or a recipe's run folder (runs/demo)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    markdown: Annotated[Path | None, typer.Option(help="Also write a Markdown summary here.")] = None,
) -> None:
    """One self-contained HTML report (table, plots, sample browser) of runs; optionally a Markdown summary."""
    from ftcot.report import report as make_report

    html_path = make_report(run_dirs, out, markdown)
    console.print(f"wrote {html_path}" + (f" and {markdown}" if markdown else ""))


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A folder of completion records (or a .jsonl file).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Accuracy and the paper's other metrics of a run, re-checked with the shared answer checker,
    and the anatomy of its wrong answers (arithmetic slip, wrong plan, format failure, other)."""
    from ftcot.anatomy import anatomy
    from ftcot.records import read_records
    from ftcot.records import score as score_records

    records = read_records(run_dir)
    metrics = score_records(records)
    metrics["anatomy"] = anatomy(records)
    if as_json:
        _emit_json(metrics)
        return
    table = Table("metric", "value")
    table.add_row("n", str(metrics["n"]))
    table.add_row("correct", str(metrics["correct"]))
    table.add_row(
        "accuracy", f"{metrics['accuracy']:.2f}%  (95% CI {metrics['ci95'][0]:.1f}–{metrics['ci95'][1]:.1f})"
    )
    for k in ("contains_answer", "correct_format", "complete"):
        table.add_row(k, f"{metrics[k]:.2f}%")
    table.add_row(
        "questions with a correct answer", f"{metrics['questions_with_correct']}/{metrics['questions']}"
    )
    console.print(table)
    _print_anatomy(metrics["anatomy"])


def _print_anatomy(anatomy: dict) -> None:
    """Wrong answers by category, with a few record keys (task#id, /index for a later sample) to look up."""
    table = Table(
        "wrong answers", "count", "share", "examples", title=f"error anatomy ({anatomy['wrong']} wrong)"
    )
    for category, count in anatomy["categories"].items():
        share = f"{100 * count / anatomy['wrong']:.0f}%" if anatomy["wrong"] else "–"
        keys = [f"{t}#{i}" + (f"/{k}" if k else "") for t, i, k in anatomy["examples"][category]]
        table.add_row(category.replace("_", " "), str(count), share, ", ".join(keys))
    console.print(table)
    equations, calc = anatomy["equations"], anatomy.get("calculator")
    console.print(f"equations written: {equations['written']}, with a wrong result: {equations['wrong']}")
    if calc:
        console.print(
            f"calculator: {calc['interventions']} interventions in {calc['records']} records, "
            f"{calc['changed']} of them changed what the student would have written"
        )


# --- the whole pipeline ---------------------------------------------------------------------------


def _print_plan(stages) -> None:
    table = Table("stage", "run", "status", "folder")
    for stage in stages:
        table.add_row(stage.kind, stage.label, "[green]done[/]" if stage.done else "to do", str(stage.dir))
    console.print(table)


def _run_recipe(recipe, out: Path, dry_run: bool) -> None:
    from ftcot import pipeline

    stages = pipeline.plan(recipe, out)
    _print_plan(stages)
    if dry_run:
        estimate = pipeline.estimate_cost(stages)
        if estimate is None:
            console.print(
                "estimated teacher cost: [bold]$0[/] known (no teach stage left to run has a price: "
                "a recorded or local teacher, or a model missing from the price table)"
            )
        else:
            console.print(f"estimated teacher cost: at most [bold]${estimate:,.2f}[/]")
        return

    def on_stage(stage, status: str) -> None:
        style = "dim" if status == "skip" else "bold cyan"
        console.print(f"[{style}]{stage.kind:>7}[/] {stage.label}: {status}", highlight=False)

    from ftcot.errors import Incomplete

    try:
        pipeline.run(recipe, out, on_stage=on_stage)
    except Incomplete as e:  # a stage did not finish: say what is missing, start nothing after it
        err_console.print(Text.assemble(("stopped:", "bold red"), " ", redact(str(e))), highlight=False)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (pipeline.run raises Interrupted for it)
        err_console.print("interrupted: finished work is kept; rerun the same command to resume")
        raise typer.Exit(getattr(e, "exit_code", 130)) from None  # 130 Ctrl-C, 143 SIGTERM
    _print_results([s.dir for s in stages if s.kind == "eval"])
    report = next(s for s in stages if s.kind == "report")
    console.print(f"[bold green]report:[/] {report.dir / recipe.report.get('html', 'report.html')}")


# The columns of the report's evaluation table that a terminal has room for.
RESULT_COLUMNS = ("name", "task", "train questions", "n", "accuracy", "95% CI", "teacher")


def _print_results(eval_dirs: list[Path]) -> None:
    """The recipe's results on the terminal: the report's evaluation table, labelled from manifests."""
    from ftcot.report.compare import runs_table
    from ftcot.report.runs import find_runs

    table = runs_table(find_runs(eval_dirs))
    if not table.rows:
        return
    columns = [
        c
        for c in RESULT_COLUMNS
        if c == "name" or len({row[table.columns.index(c)] for row in table.rows}) > 1
    ]
    keep = [table.columns.index(c) for c in columns]
    shown = Table(title="Results (test accuracy %)", title_justify="left")
    for name in columns:  # a column with one value for every row says nothing: its value goes in the caption
        shown.add_column(name, justify="left" if name in ("name", "task") else "right", overflow="fold")
    constant = [f"{c}: {table.rows[0][table.columns.index(c)]}" for c in RESULT_COLUMNS if c not in columns]
    shown.caption, shown.caption_justify = " · ".join(constant) or None, "left"
    for row in table.rows:
        shown.add_row(*(row[i] for i in keep))
    console.print(shown)


@app.command("run")
def run_recipe(
    recipe: Annotated[Path, typer.Argument(help="A recipe TOML file (see docs/recipes.md).")],
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<recipe name>).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the estimated cost; run nothing.")
    ] = False,
) -> None:
    """Run every stage of a recipe; a rerun skips what is done and resumes what was cut off."""
    from ftcot.pipeline import load_recipe

    loaded = load_recipe(recipe)
    _run_recipe(loaded, out or Path("runs") / loaded.name, dry_run)


@app.command()
def demo(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A subset, to see every stage run: about 5 minutes on 2 CPU cores."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder, one subfolder per part (default: runs/demo or runs/demo-quick)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the estimated teacher cost; run nothing.")
    ] = False,
) -> None:
    """The embedded default, two recipes: Fine-tune-CoT vs vanilla on Coin Flip (the recorded
    text-davinci-002 teacher), then diverse reasoning on MultiArith (a recorded teacher's D=8
    rationales: SmolLM2-135M students at D=1, D=8 and vanilla), each beside its teacher -> reports."""
    from ftcot import pipeline

    out = out or Path("runs") / ("demo-quick" if quick else "demo")
    for folder, name in pipeline.DEMO_PARTS.items():
        recipe = pipeline.load_recipe(text=pipeline.builtin_recipe(name))
        _run_recipe(pipeline.quick(recipe) if quick else recipe, out / folder, dry_run)


@app.command()
def setup(
    what: Annotated[str, typer.Argument(help="What to build: llama-server.")],
    portable: Annotated[
        bool, typer.Option("--portable", help="Build for any x86-64 CPU, not tuned to this one.")
    ] = False,
) -> None:
    """Build a tool ftcot runs, from package-registry sources only (llama-server: about 7 minutes on 2 cores)."""
    if what != "llama-server":
        raise FtcotError(f"nothing to set up called {what!r}; try: ftcot setup llama-server")
    from ftcot.teach.backends.llama_server import build_llama_server

    typer.echo(str(build_llama_server(native=not portable)))  # plain: scripts read the path


if __name__ == "__main__":
    main()
