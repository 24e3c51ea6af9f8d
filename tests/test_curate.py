"""Curate: filtering, dedupe, cap, subsample, a leak-free val split, exports and the yield."""

import json

import pytest

from ftcot.curate import CurateConfig, curate
from ftcot.errors import DataError
from ftcot.records import Completion, RecordWriter


def record(sample_id, index=0, rationale="2 + 3 = 5.", answer_text=" 5.", gold="5", split="train", **kw):
    return Completion(
        task="toy",
        sample_id=sample_id,
        sample_index=index,
        split=split,
        method="zs_cot",
        question=kw.pop("question", None) or f"Question number {sample_id}?",
        gold=gold,
        answer_type="number",
        rationale=rationale,
        answer_text=answer_text,
        finish_reason="stop",
        **kw,
    )


def write_run(folder, records):
    with RecordWriter(folder, {"stage": "teach", "teacher": "toy-teacher"}) as w:
        for r in records:
            w.write(r)
    return folder


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def run_dir(tmp_path):
    records = [
        record(0),  # kept
        record(1, answer_text=" 7."),  # incorrect
        record(2, rationale="   "),  # empty
        record(3, rationale_finish_reason="length"),  # truncated
        record(4, index=0),
        record(4, index=1, rationale="  2 + 3 = 5. "),
        record(4, index=2, rationale="5 = 2 + 3."),
        record(5, index=0, rationale="a"),
        record(5, index=1, rationale="b"),
        record(5, index=2, rationale="c"),
        record(6, split="test"),
    ]
    return write_run(tmp_path / "teach", records)


def test_filters_and_accounts_for_every_record(run_dir, tmp_path):
    out = curate(CurateConfig(run_dir=run_dir, out=tmp_path / "data", val_fraction=0, max_per_question=2))
    train = rows(out / "train.jsonl")
    kept = [(r["sample_id"], r["rationale"]) for r in train if r["rationale"]]
    assert kept == [(0, "2 + 3 = 5."), (4, "2 + 3 = 5."), (4, "5 = 2 + 3."), (5, "a"), (5, "b")]
    # Questions without a kept rationale stay (rationale null) for the vanilla baseline; test never appears.
    assert sorted({r["sample_id"] for r in train}) == [0, 1, 2, 3, 4, 5]
    assert [r["rationale"] for r in train if r["sample_id"] == 1] == [None]
    y = json.loads((out / "manifest.json").read_text())["yield"]
    assert y["dropped"] == {
        "test_split": 1,
        "not_sampled": 0,
        "empty": 1,
        "truncated": 1,
        "incorrect": 1,
        "duplicate": 1,
        "over_cap": 1,
    }
    assert sum(y["dropped"].values()) + y["val_records"] + y["train_rows_with_rationale"] == y["records"]
    assert y["train_questions_covered"] == 3 and y["samples_per_question"]["histogram"] == {"1": 1, "2": 2}


def test_keep_all_keeps_incorrect_rationales(run_dir, tmp_path):
    out = curate(CurateConfig(run_dir=run_dir, out=tmp_path / "data", val_fraction=0, keep_all=True))
    incorrect = [r for r in rows(out / "train.jsonl") if r["sample_id"] == 1]
    assert incorrect[0]["rationale"] == "2 + 3 = 5." and incorrect[0]["teacher_correct"] is False
    assert incorrect[0]["answer"] == "5"  # the label is always the gold answer


def test_val_split_is_by_question_text_seeded_and_disjoint(tmp_path):
    # 40 questions; ids 0 and 1 share a text (as MultiArith's duplicates do) and must land on the same side.
    records = [record(i, question="Same text?" if i < 2 else None) for i in range(40)]
    run = write_run(tmp_path / "teach", records)
    a = curate(CurateConfig(run_dir=run, out=tmp_path / "a", val_fraction=0.25, seed=1))
    b = curate(CurateConfig(run_dir=run, out=tmp_path / "b", val_fraction=0.25, seed=1))
    c = curate(CurateConfig(run_dir=run, out=tmp_path / "c", val_fraction=0.25, seed=2))
    texts = lambda p: {r["question"] for r in rows(p)}  # noqa: E731
    assert texts(a / "val.jsonl").isdisjoint(texts(a / "train.jsonl"))
    assert len(rows(a / "val.jsonl")) == round(39 * 0.25)
    assert rows(a / "val.jsonl") == rows(b / "val.jsonl")
    assert rows(a / "val.jsonl") != rows(c / "val.jsonl")


def test_subsample_n_questions_nested_across_n(tmp_path):
    run = write_run(tmp_path / "teach", [record(i) for i in range(50)])
    sets = {}
    for n in (8, 32):
        out = curate(CurateConfig(run_dir=run, out=tmp_path / f"n{n}", val_fraction=0.1, train_questions=n))
        sets[n] = {r["sample_id"] for r in rows(out / "train.jsonl")}
        assert len(sets[n]) == n
        assert json.loads((out / "manifest.json").read_text())["yield"]["dropped"]["not_sampled"] == 45 - n
    assert sets[8] <= sets[32]


def test_openai_export_is_chat_format(run_dir, tmp_path):
    out = curate(CurateConfig(run_dir=run_dir, out=tmp_path / "data", val_fraction=0))
    first = rows(out / "openai" / "ft_cot.train.jsonl")[0]
    assert first == {
        "messages": [
            {"role": "user", "content": "Question number 0? ###"},
            {"role": "assistant", "content": "2 + 3 = 5. --> 5"},
        ]
    }
    vanilla = rows(out / "openai" / "vanilla.train.jsonl")
    assert len(vanilla) == 6 and vanilla[0]["messages"][1]["content"] == "5"


def test_bad_runs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no completion records"):
        curate(CurateConfig(run_dir=tmp_path / "nothing", out=tmp_path / "data"))
    run = write_run(tmp_path / "test-only", [record(0, split="test")])
    with pytest.raises(DataError, match="test split"):
        curate(CurateConfig(run_dir=run, out=tmp_path / "data"))
    run = write_run(tmp_path / "no-gold", [record(0, gold="")])
    with pytest.raises(DataError, match="gold"):
        curate(CurateConfig(run_dir=run, out=tmp_path / "data"))


def test_cli_curates_the_recorded_teacher(mirror, tmp_path):
    from typer.testing import CliRunner

    from ftcot.cli import app
    from ftcot.tasks import get_task
    from ftcot.teach.recorded import recorded_teacher

    records, _ = recorded_teacher(get_task("multiarith"), "train")
    run = write_run(tmp_path / "teach", records)
    result = CliRunner().invoke(app, ["curate", str(run), "--out", str(tmp_path / "data"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    y = json.loads((tmp_path / "data" / "manifest.json").read_text())["yield"]
    # 332 of 420 recorded train rationales are correct under the paper's checker (shared/paper.md);
    # the correct ones of train questions are kept or duplicates, the rest belong to val questions.
    assert (
        y["records"] == 420
        and sum(y["dropped"].values()) + y["val_records"] + y["train_rows_with_rationale"] == 420
    )
    correct_train = y["train_rows_with_rationale"] + y["dropped"]["duplicate"]
    assert 332 - y["val_records"] <= correct_train <= 332
    assert y["dropped"]["incorrect"] == (420 - y["val_records"] - correct_train)


def test_manifest_states_the_teacher_its_d_and_the_split_sizes(tmp_path):
    teach = tmp_path / "teach"
    manifest = {"stage": "teach", "teacher": "openai:big", "backend": {"model": "big-2024"}, "diverse": 4}
    with RecordWriter(teach, manifest) as w:
        for i in range(5):  # 3 of 4 samples right for every question: none keeps D rationales
            for d in range(4):
                w.write(record(i, index=d, rationale=f"take {d}", answer_text=" 5." if d < 3 else " 6."))
    out = curate(CurateConfig(run_dir=teach, out=tmp_path / "data", val_fraction=0.2))
    dataset = json.loads((out / "manifest.json").read_text())["dataset"]
    assert dataset == {
        "teacher": "openai:big", "teacher_model": "big-2024", "diverse": 4, "train_questions": 4, "train_rows": 12,
        "train_rows_with_rationale": 12, "val_questions": 1, "val_rows": 1,
    }  # fmt: skip
