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


def test_teach_recorded_shuffled_objects_says_how_its_log_matched(tmp_path):
    """Tracking Shuffled Objects' log renders its choices its own way; it matched 0 of 750 entries."""
    out = tmp_path / "objects"
    command = ["teach", "--teacher", "recorded", "--task", "tracking_shuffled_objects", "--split", "train",
               "--out", str(out), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    imported = manifest["import"]
    assert (imported["entries"], imported["matched"], imported["unmatched"]) == (750, 750, 0)
    assert imported["unmatched_entries"] == [] and imported["ambiguous_entries"] == []
    assert manifest["status"] == "complete" and manifest["samples"] == imported["split_samples"] > 0
    assert "750 log entries, 750 matched, 0 unmatched, 0 ambiguous" in result.stderr
