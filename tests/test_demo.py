"""`ftcot demo --quick` end to end: recorded teacher -> curate -> SmolLM2 students -> eval -> report."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_demo_runs_every_stage_and_writes_the_report(mirror, tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "ftcot.cli", "demo", "--quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(out.glob("*/*/DONE"))) == 7  # teach, curate, 2 x (train, eval), report
    html = next(out.glob("report/*/report.html")).read_text()
    assert "Quick demo" in html and "ft_cot" in html and "vanilla" in html
    for metrics in out.glob("eval/*/metrics.json"):
        assert json.loads(metrics.read_text())["n"] == 24
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and " ".join(again.stdout.split()).count(": skip") == 7
    assert "Results (test accuracy %)" in again.stdout  # the demo ends with its results on screen
    assert "ft_cot" in again.stdout and "vanilla" in again.stdout
