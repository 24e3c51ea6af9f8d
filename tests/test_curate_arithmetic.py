"""`ftcot curate --arithmetic keep|drop|repair`: teacher rationales whose stated arithmetic is wrong
although the answer is right are kept (the paper), dropped, or repaired with the calculator."""

import json

from ftcot.curate import CurateConfig, curate
from ftcot.records import Completion, RecordWriter


def record(sample_id, rationale, gold="12", answer=" 12.") -> Completion:
    return Completion(task="toy", sample_id=sample_id, split="train", method="zs_cot", question=f"Question {sample_id}?",
                      gold=gold, answer_type="number", rationale=rationale, answer_text=answer, finish_reason="stop")  # fmt: skip


RECORDS = [
    record(0, "He has 3 * 4 = 12 pens."),  # right
    record(
        1, "First 41 + 29 = 71 stickers, and 70 - 58 = 12 are left."
    ),  # repairable: 71 is never used again
    record(2, "First 41 + 29 = 71 stickers, so 71 - 59 = 12 are left."),  # 71 is built on: dropped
    record(3, "5 + 4 = 12 apples.", answer=" 12."),  # the wrong result is the answer itself: dropped
    record(4, "He has twelve."),  # no equation: kept
    record(
        5, "2 + 2 = 5, so 3 * 4 = 13 pens.", answer=" 7."
    ),  # incorrect: dropped before arithmetic is looked at
]


def run(tmp_path, mode):
    with RecordWriter(tmp_path / "teach", {"stage": "teach", "teacher": "toy-teacher"}) as w:
        for r in RECORDS:
            w.write(r)
    out = curate(
        CurateConfig(run_dir=tmp_path / "teach", out=tmp_path / mode, val_fraction=0, arithmetic=mode)
    )
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    kept = {r["sample_id"]: r["rationale"] for r in rows if r["rationale"] is not None}
    return kept, json.loads((out / "manifest.json").read_text())["yield"]


def test_keep_is_the_paper_and_changes_nothing(tmp_path):
    kept, stats = run(tmp_path, "keep")
    assert sorted(kept) == [0, 1, 2, 3, 4]
    assert "arithmetic" not in stats and "arithmetic" not in stats["dropped"]


def test_drop_removes_every_rationale_with_a_wrong_result(tmp_path):
    kept, stats = run(tmp_path, "drop")
    assert sorted(kept) == [0, 4]
    assert stats["dropped"]["arithmetic"] == 3 and stats["dropped"]["incorrect"] == 1
    assert stats["arithmetic"] == {"mode": "drop", "dropped": 3, "repaired": 0}
    assert sum(stats["dropped"].values()) + stats["val_records"] + stats["train_rows_with_rationale"] == len(
        RECORDS
    )


def test_repair_writes_the_calculators_result_where_nothing_else_changes(tmp_path):
    kept, stats = run(tmp_path, "repair")
    assert sorted(kept) == [0, 1, 4]
    assert kept[1] == "First 41 + 29 = 70 stickers, and 70 - 58 = 12 are left."
    assert kept[0] == "He has 3 * 4 = 12 pens."
    assert stats["arithmetic"] == {"mode": "repair", "dropped": 2, "repaired": 1}
    assert stats["dropped"]["arithmetic"] == 2
