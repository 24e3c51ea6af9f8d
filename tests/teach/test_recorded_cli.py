"""The recorded teacher through the same CLI, writer and manifest, then scored."""

import json

from typer.testing import CliRunner

from ftcot.cli import app
from ftcot.records import read_manifest


def test_teach_recorded_then_score(tmp_path):
    runner = CliRunner()
    out = tmp_path / "recorded"
    result = runner.invoke(app, ["teach", "--teacher", "recorded", "--task", "multiarith", "--split", "train",
                                 "--out", str(out), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and manifest["samples"] == 420
    assert manifest["import"]["unmatched"] == 0 and manifest["import"]["ambiguous"] == 0
    assert manifest["yield"]["kept_rationales"] == 332  # the paper's count for MultiArith train

    scored = runner.invoke(app, ["score", str(out), "--json"])
    assert scored.exit_code == 0
    metrics = json.loads(scored.stdout)
    assert metrics["n"] == 420 and metrics["correct"] == 332
