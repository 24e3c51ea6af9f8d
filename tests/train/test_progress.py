"""Training reports progress through `TrainProgress`: a bar (when asked) and one log line per epoch,
never the Trainer's raw `{'loss': ...}` dicts."""

import logging

import pytest

from ftcot.train import TrainConfig, train
from ftcot.train.progress import progress_enabled

FAST = {"max_length": 64, "val_max_new_tokens": 4, "lr": 3e-3, "check_format": False, "bf16": False}


@pytest.mark.parametrize("progress", [True, False], ids=["bar", "no-progress"])
def test_training_prints_no_raw_dicts_and_logs_one_line_per_epoch(
    tiny_decoder, data_dir, tmp_path, capfd, caplog, progress
):
    caplog.set_level(logging.INFO, logger="ftcot.train.progress")
    config = TrainConfig(
        data_dir=data_dir, student=tiny_decoder, out=tmp_path / "out", epochs=2, batch_size=3,
        progress=progress, **FAST,
    )  # fmt: skip
    train(config)
    out, err = capfd.readouterr()
    for raw in ("{'loss'", "'eval_accuracy'", "'train_runtime'", "{'eval_loss'"):
        assert raw not in out + err
    # Nor transformers' own bars (loading weights, writing each checkpoint): the training bar reports.
    assert "Loading weights" not in err and "Writing model shards" not in err
    lines = [r.getMessage() for r in caplog.records if r.name == "ftcot.train.progress"]
    assert len(lines) == 2, lines
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {epoch}/2") and "train loss" in line
        assert "val loss" in line and "val accuracy" in line and "tokens/s" in line


def test_the_bar_is_on_at_a_terminal_unless_told(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert progress_enabled(None) and not progress_enabled(False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not progress_enabled(None) and progress_enabled(True)
