import dataclasses
import json

import pytest

from ftcot.errors import DataError
from ftcot.metrics import mcnemar_exact, paired
from ftcot.records import Completion, RecordWriter, read_manifest, read_records, score, wilson_interval


def _record(i: int, d: int = 0, text: str = " 7.", gold: str = "7") -> Completion:
    return Completion(
        task="t",
        sample_id=i,
        sample_index=d,
        gold=gold,
        answer_type="number",
        answer_text=text,
        finish_reason="stop",
    )


def test_write_read_and_resume_without_duplicates(tmp_path):
    with RecordWriter(tmp_path, manifest={"stage": "teach", "teacher": "m"}) as w:
        for i in range(5):
            w.write(_record(i))
    with RecordWriter(tmp_path) as w:
        assert (("t", 3, 0) in w) and (("t", 9, 0) not in w)
        for i in range(8):
            w.write(_record(i))  # the first five are already there
    records = read_records(tmp_path)
    assert [r.sample_id for r in records] == list(range(8))
    manifest = read_manifest(tmp_path)
    assert manifest["stage"] == "teach" and "created" in manifest and manifest["code"]["ftcot"]


def test_torn_last_line_is_repaired(tmp_path):
    with RecordWriter(tmp_path) as w:
        w.write(_record(0))
        w.write(_record(1))
    path = tmp_path / "completions.jsonl"
    path.write_bytes(path.read_bytes() + b'{"task": "t", "sample_id": 2, "ans')  # killed mid-write
    assert len(read_records(tmp_path)) == 2
    with RecordWriter(tmp_path) as w:
        w.write(_record(2))
    assert [r.sample_id for r in read_records(tmp_path)] == [0, 1, 2]


def test_bad_line_in_the_middle_names_the_line(tmp_path):
    path = tmp_path / "completions.jsonl"
    path.write_text(_record(0).to_json() + "\n{nope\n" + _record(1).to_json() + "\n")
    with pytest.raises(DataError, match="line 2"):
        read_records(tmp_path)
    path.write_text(json.dumps({"task": "t"}) + "\n")
    with pytest.raises(DataError, match="field 'sample_id'"):
        read_records(tmp_path)


def test_score_rechecks_with_the_shared_checker():
    records = [
        _record(0, text=" 7."),
        _record(1, text=" 8, no 7"),
        _record(2, d=0, text=" 5"),
        _record(2, d=1, text=" 7"),
    ]
    records[1].finish_reason = "length"
    m = score(records)
    assert (m["n"], m["correct"]) == (4, 2)
    assert m["accuracy"] == 50.0
    assert m["contains_answer"] == 75.0
    assert m["complete"] == 75.0
    assert (m["questions"], m["questions_with_correct"]) == (3, 2)
    low, high = m["ci95"]
    assert low < 50 < high


def test_wilson_interval():
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(78, 100)
    assert 68 < low < 78 < high < 86


def test_paired_comparison_counts_who_alone_is_right_and_tests_the_split():
    def run(right: list[bool]) -> list[Completion]:
        return [dataclasses.replace(_record(i), correct=ok) for i, ok in enumerate(right)]

    a = run([True] * 23 + [False] * 5 + [True] * 21 + [False] * 70)  # AddSub's D=8 against D=1 student
    b = run([False] * 23 + [True] * 5 + [True] * 21 + [False] * 70)
    result = paired(a, b)
    assert (result["n"], result["both"], result["only_a"], result["only_b"]) == (119, 21, 23, 5)
    assert result["p_value"] == pytest.approx(0.000912, abs=1e-6)  # exact binomial, 2 x P(X <= 5 | 28, 1/2)
    assert paired(b, a)["p_value"] == result["p_value"]
    assert paired(a, a)["p_value"] == 1.0  # no question splits them
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(6, 0) == pytest.approx(2 / 64)
    with pytest.raises(ValueError, match="same questions"):
        paired(a, a[:-1])
    with pytest.raises(ValueError, match="one record per question"):
        paired(a + a[:1], b + b[:1])


def test_a_key_written_twice_is_read_once_keeping_the_first(tmp_path, caplog):
    path = tmp_path / "completions.jsonl"
    first, again = _record(0, text=" 7."), _record(0, text=" 8.")  # two draws of one request
    path.write_text("".join(r.to_json() + "\n" for r in (first, _record(1), again)))
    records = read_records(tmp_path)
    assert [(r.sample_id, r.answer_text) for r in records] == [(0, " 7."), (1, " 7.")]
    assert score(records)["n"] == 2  # the duplicate is not counted
    assert "line" in caplog.text and "3" in caplog.text and "first of each is kept" in caplog.text


def test_a_key_written_twice_by_different_jobs_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "completions.jsonl"
    other = _record(0)
    other.model = "another-teacher"
    path.write_text("".join(r.to_json() + "\n" for r in (_record(0), _record(1), other)))
    with pytest.raises(DataError, match=r"completions\.jsonl.*lines 1 and 3"):
        read_records(tmp_path)
