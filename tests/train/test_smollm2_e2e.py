"""End to end with the real bundled student: recorded-teacher MultiArith -> curate -> SmolLM2 fine-tune."""

import json

import pytest

from ftcot.curate import CurateConfig, curate
from ftcot.records import RecordWriter
from ftcot.train import TrainConfig, train


@pytest.mark.slow
def test_smollm2_learns_from_recorded_multiarith_rationales(mirror, tmp_path):
    from ftcot.tasks import get_task
    from ftcot.teach.recorded import recorded_teacher

    records, _ = recorded_teacher(get_task("multiarith"), "train")
    with RecordWriter(tmp_path / "teach") as w:
        for r in records:
            w.write(r)
    data = curate(CurateConfig(run_dir=tmp_path / "teach", out=tmp_path / "data", train_questions=4, seed=0))
    out = train(
        TrainConfig(
            data_dir=data,
            student="smollm2",
            out=tmp_path / "student",
            epochs=2,
            batch_size=4,
            max_length=80,
            val_limit=1,
            val_max_new_tokens=16,
            lora=False,
        )
    )
    manifest = json.loads((out / "manifest.json").read_text())
    history = manifest["metrics"]["epochs"]
    assert len(history) == 2 and all(e["val_n"] == 1 for e in history)
    # The same 4 rows each epoch at lr 3e-4: a 135M model fits them quickly.
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert manifest["model"]["parameters"] > 100_000_000
    from ftcot.models import load_model

    model, tokenizer = load_model(str(out))  # the saved student reloads through the shared loader
    ids = tokenizer("Tom has 2 apples and gets 3 more. How many apples? ###", return_tensors="pt")
    generated = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > ids["input_ids"].shape[1]
