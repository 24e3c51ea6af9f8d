"""`ftcot demo --quick` end to end: recorded teacher at D=1 and D=8 -> curate -> SmolLM2 students -> eval -> report."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1800)  # five students and six evaluations: minutes alone, much longer on shared cores
def test_quick_demo_runs_every_stage_and_writes_the_report(mirror, tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "ftcot.cli", "demo", "--quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    # Coin Flip: teach, curate, 2 x (train, eval): Fine-tune-CoT and vanilla; the teacher's test answers; report
    assert len(list((out / "coin-flip").glob("*/*/DONE"))) == 8
    # MultiArith: 2 x (teach, curate), 3 x (train, eval): D=1, D=8, vanilla; the teacher's test answers; report
    assert len(list((out / "diverse").glob("*/*/DONE"))) == 12
    for part in ("coin-flip", "diverse"):
        html = next((out / part).glob("report/*/report.html")).read_text()
        assert "Quick demo" in html and "ft_cot" in html and "vanilla" in html
    for metrics in out.glob("*/eval/*/metrics.json"):
        assert json.loads(metrics.read_text())["n"] == 16
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and " ".join(again.stdout.split()).count(": skip") == 20
    assert again.stdout.count("Results (test accuracy %)") == 2  # the demo ends with its results on screen
    printed = " ".join(again.stdout.split())
    assert "D=1" in printed and "D=8" in printed and "vanilla" in printed.lower()  # side by side
    assert "coin_flip" in printed or "Coin Flip" in printed
