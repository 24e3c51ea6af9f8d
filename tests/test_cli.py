import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from ftcot.cli import app
from ftcot.records import RecordWriter
from ftcot.tasks import get_task
from ftcot.teach.recorded import recorded_teacher

runner = CliRunner()


def test_tasks_json_lists_the_twelve_tasks_with_paper_sizes(mirror):
    result = subprocess.run(
        [sys.executable, "-m", "ftcot.cli", "tasks", "--json"], capture_output=True, text=True, check=True
    )
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert len(rows) == 12
    assert rows["multiarith"]["splits"]["train"] == 420 and rows["multiarith"]["splits"]["test"] == 180
    assert rows["gsm8k"]["splits"] == {"train": 7473, "test": 1319}
    assert rows["aqua"]["answer_type"] == "choice:ABCDE"


def test_show_prints_rendered_samples(mirror):
    result = runner.invoke(app, ["show", "date_understanding", "--split", "test", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    samples = json.loads(result.output)
    assert len(samples) == 2 and "Which choice is true?" in samples[0]["question"]


def test_score_json(mirror, tmp_path):
    records, _ = recorded_teacher(get_task("coin_flip"), "train")
    with RecordWriter(tmp_path, manifest={"stage": "teach"}) as w:
        for r in records:
            w.write(r)
    result = runner.invoke(app, ["score", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert (metrics["n"], metrics["correct"]) == (350, 320)
    assert abs(metrics["accuracy"] - 100 * 320 / 350) < 1e-9


def test_errors_are_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ftcot.cli", "score", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_generate_then_show_a_user_task(tmp_path):
    out = tmp_path / "letters.jsonl"
    assert (
        runner.invoke(
            app, ["generate", "last_letter_concatenation", "--out", str(out), "-n", "20", "--words", "3"]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["show", str(out), "--answer-type", "letters", "--split", "test", "--json", "-n", "100"]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 6


def test_ftcot_runs_with_thread_settings_fit_for_a_shared_machine():
    """`ftcot` sets OMP_WAIT_POLICY=PASSIVE before torch starts, unless the user chose otherwise."""
    probe = "import os, sys; sys.argv = ['ftcot', 'tasks', '--json']; from ftcot.cli import main\n" \
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('OMP=' + os.environ['OMP_WAIT_POLICY'])"  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("OMP=PASSIVE"), out.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("OMP=ACTIVE"), out.stderr
