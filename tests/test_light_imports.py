"""`ftcot score` and `ftcot report` read records and manifests only: they must start without torch
or transformers (seconds to import), so the metrics live in ftcot.metrics, not in ftcot.evaluate."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers")


def _imports_heavy(code: str, *args: str) -> list[str]:
    check = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", check, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


@pytest.mark.parametrize(
    "module", ["ftcot.report", "ftcot.metrics", "ftcot.manifests", "ftcot.records", "ftcot.cli"]
)
def test_import_is_light(module):
    assert _imports_heavy(f"import {module}") == []


def test_score_and_report_commands_are_light(tmp_path):
    from ftcot.records import Completion, RecordWriter

    with RecordWriter(tmp_path / "eval", {"stage": "eval", "model": "m", "task": "t"}) as w:
        w.write(
            Completion(
                task="t", sample_id=0, gold="1", answer_type="number", answer_text="1", finish_reason="stop"
            )
        )
    run = """
import sys
from typer.testing import CliRunner
from ftcot.cli import app
for args in (["score", sys.argv[1]], ["report", sys.argv[1], "--out", sys.argv[2]]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
"""
    assert _imports_heavy(run, str(tmp_path / "eval"), str(tmp_path / "r.html")) == []
    assert (tmp_path / "r.html").is_file()
