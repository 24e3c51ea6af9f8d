"""What a new user reads first: every command's --help, and `ftcot demo --dry-run`."""

import pytest
from typer.testing import CliRunner

from ftcot.cli import app

COMMANDS = [command.name or command.callback.__name__ for command in app.registered_commands]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_type_beside_flags(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output  # a flag takes no value


def test_demo_dry_run_is_explained_and_prints_the_cost(mirror, tmp_path):
    help_text = " ".join(CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "160"}).output.split())
    assert "--dry-run Print the plan and the estimated teacher cost; run nothing." in help_text
    result = CliRunner().invoke(app, ["demo", "--quick", "--dry-run", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "estimated teacher cost: $0 known" in " ".join(result.output.split())  # the recorded teacher
    assert not (tmp_path / "demo").exists()  # a dry run writes nothing
