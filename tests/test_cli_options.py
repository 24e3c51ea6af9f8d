"""The flags of `ftcot teach`, `curate`, `train` and `eval` are the fields of their config models
(`ftcot.cli_options`): every field meant for users has a flag whose default is the model's."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import typer
import typer.main
from pydantic import BaseModel, Field, create_model
from rich.markup import escape
from typer.testing import CliRunner

from ftcot.cli import app
from ftcot.cli_options import ConfigCommand, config_options, given


def _models(command: str) -> list[type[BaseModel]]:
    """The config models of a command, the one whose field wins first (lazily: ftcot.evaluate imports torch)."""
    if command == "teach":
        from ftcot.teach.config import TeachConfig

        return [TeachConfig]
    if command == "curate":
        from ftcot.curate import CurateConfig

        return [CurateConfig]
    if command == "train":
        from ftcot.train import APITrainConfig, TrainConfig

        return [TrainConfig, APITrainConfig]  # a field both have is the local students' flag
    from ftcot.evaluate import EvalConfig

    return [EvalConfig]


NOT_FLAGS = {"eval": {"question_prefix"}}  # set from a student's manifest, not by users
OWN_OPTIONS = {
    "teach": {"as_json"},
    "curate": set(),
    "train": {"check_format_only", "cancel"},
    "eval": {"as_json"},
}
ARGUMENTS = {"curate": "run_dir", "train": "data_dir", "eval": "model"}
HELP_OF_ITS_OWN = {("teach", "teacher")}  # lists the shipped recordings, found when --help runs


@pytest.mark.parametrize("command", ["teach", "curate", "train", "eval"])
def test_every_config_field_is_a_flag_with_the_configs_default_and_description(command):
    params = {p.name: p for p in typer.main.get_command(app).commands[command].params}
    fields = {}
    for model in reversed(_models(command)):
        fields.update(model.model_fields)
    fields = {name: info for name, info in fields.items() if name not in NOT_FLAGS.get(command, ())}

    assert (
        set(params) - set(fields) == OWN_OPTIONS[command]
    )  # no flag that is no field, but the command's own
    assert not set(fields) - set(params), f"fields without a flag: {sorted(set(fields) - set(params))}"
    for name, info in fields.items():
        param = params[name]
        if name == ARGUMENTS.get(command):
            assert param.param_type_name == "argument"
        else:
            assert "--" + name.replace("_", "-") in param.opts  # the flag is the field's name
        if info.is_required():
            assert param.required, name
        else:
            assert not param.required and param.default == info.default, (name, param.default, info.default)
        if info.description and (command, name) not in HELP_OF_ITS_OWN:
            assert escape(info.description) in param.help, name


def test_flags_keep_their_names():
    """Users' scripts and the docs use these."""
    commands = typer.main.get_command(app).commands
    flags = {
        name: {opt for p in commands[name].params for opt in (*p.opts, *p.secondary_opts)}
        for name in commands
    }
    assert {"--chat", "--completions", "--json", "--dry-run", "--no-progress", "--generic-trigger"} <= flags[
        "teach"
    ]
    assert {"--keep-all", "--out", "--val-fraction", "--arithmetic"} <= flags["curate"]
    assert {"--bf16", "--fp32", "--group-by-length", "--shuffle", "--eval-every-epoch", "--no-eval", "--lora",
            "--resume", "--check-format-only", "--cancel", "--chat", "--completions", "--poll-s"} <= flags["train"]  # fmt: skip
    assert {"--chat", "--completions", "--calculator", "--stop", "--json"} <= flags["eval"]


class Tiny(BaseModel):
    folder: Path = Field(description="Where it goes.")
    size: int = Field(3, description="How big [in cm].")
    mode: Literal["fast", "slow"] = "fast"
    shout: bool = Field(False, description="Louder.")
    chat: bool | None = None
    names: list[str] | None = None
    limit: int | None = Field(None, description="None: no limit.")


def _cli(model, **spec) -> typer.Typer:
    tiny = typer.Typer(add_completion=False)

    @tiny.command(cls=ConfigCommand)
    @config_options(model, arguments=["folder"], names={"chat": "--chat/--completions"}, **spec)
    def go(ctx: typer.Context, as_json: bool = False, **options) -> None:
        print(json.dumps({"options": options, "given": given(ctx, options)}, default=str))

    return tiny


def _run(tiny: typer.Typer, *args: str) -> dict:
    result = CliRunner().invoke(tiny, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_options_follow_the_model():
    shown = _run(_cli(Tiny), "here")
    assert shown["options"] == {"folder": "here", "size": 3, "mode": "fast", "shout": False, "chat": None,
                                "names": None, "limit": None}  # fmt: skip
    assert shown["given"] == {"folder": "here"}  # the defaults are the model's, not the user's

    shown = _run(_cli(Tiny), "here", "--size", "5", "--mode", "slow", "--shout", "--completions",
                 "--names", "a", "--names", "b")  # fmt: skip
    assert shown["given"] == {"folder": "here", "size": 5, "mode": "slow", "shout": True, "chat": False,
                              "names": ["a", "b"]}  # fmt: skip
    assert Tiny(**shown["options"]).mode == "slow"  # a choice arrives as the plain value

    refused = CliRunner().invoke(_cli(Tiny), ["here", "--mode", "medium"])
    assert refused.exit_code == 2 and "medium" in refused.output
    text = " ".join(CliRunner().invoke(_cli(Tiny), ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "How big [in cm]. [default: 3]" in text  # the description, not read as markup
    assert "--shout --no-shout" in text and "--chat --completions" in text and "fast|slow" in text


def test_changing_a_default_in_the_model_changes_the_cli():
    bigger = create_model("Bigger", __base__=Tiny, size=(int, Field(7, description="How big now.")))
    assert _run(_cli(bigger), "here")["options"]["size"] == 7
    text = " ".join(CliRunner().invoke(_cli(bigger), ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "How big now. [default: 7]" in text
    params = {p.name: p for p in typer.main.get_command(_cli(bigger)).params}
    assert params["size"].default == 7 and params["mode"].default == "fast"


def test_include_exclude_help_and_stacking():
    other = create_model("Other", size=(int, 9), extra=(str, Field("x", description="More.")))
    tiny = typer.Typer(add_completion=False)

    @tiny.command()
    @config_options(Tiny, include=["folder", "size"], arguments=["folder"], help={"size": "Its own words."})
    @config_options(other, help_prefix="Other: ")
    def go(**options) -> None:
        print(json.dumps(options, default=str))

    params = [p.name for p in typer.main.get_command(tiny).params]
    assert params == ["folder", "size", "extra"]  # the outer model first; its field wins a shared name
    assert _run(tiny, "here") == {"folder": "here", "size": 3, "extra": "x"}
    text = " ".join(CliRunner().invoke(tiny, ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "Its own words." in text and "Other: More." in text


def test_ftcot_loads_a_commands_config_only_to_run_it_or_show_its_help():
    """`ftcot --help`, `ftcot tasks` and friends start without importing the stages (eval's imports torch)."""
    stages = ("ftcot.teach.config", "ftcot.curate", "ftcot.train", "ftcot.evaluate", "torch")
    code = f"""
import sys, typer.main
from ftcot.cli import app
group = typer.main.get_command(app)
print(" ".join(m for m in {stages!r} if m in sys.modules))
group.commands["curate"].params
print("ftcot.curate" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["", "True"]
