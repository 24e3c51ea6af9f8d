"""Error anatomy on hand-written records, `ftcot score` showing it, and the report's table and markers."""

import json

import pytest
from typer.testing import CliRunner

from ftcot.anatomy import CATEGORIES, anatomy, classify
from ftcot.cli import app
from ftcot.records import Completion, RecordWriter


def record(sample_id, output, gold="12", finish_reason="stop", method="ft_cot", **kw) -> Completion:
    rationale, arrow, _ = output.partition("-->")
    return Completion(
        task="toy", sample_id=sample_id, method=method, question=f"Question {sample_id}?", gold=gold,
        answer_type="number", answer_text=output, finish_reason=finish_reason,
        rationale=rationale.strip() if arrow else None, **kw,
    ).rescore()  # fmt: skip


RECORDS = [
    record(0, " 3 * 4 = 12 --> 12"),  # right
    record(1, " 11/11 = 0.6 so 3 * 4 = 12 --> 0.6"),  # a slip
    record(2, " 3 + 4 = 7 --> 7"),  # right arithmetic, wrong plan
    record(3, " He has three more than before --> 15"),  # no equation
    record(4, " 3 * 4 = 13 and then"),  # no '-->' and no end: cut off
    record(5, " 3 * 4 =", finish_reason="length"),  # truncated, no answer
    record(6, " The boxes hold many pens --> lots"),  # no parsable answer
    record(7, " 2 + 2 = 5 --> 5"),  # a slip
    record(8, " 15", method="vanilla"),  # a vanilla student's bare wrong answer
]


def test_classifies_each_wrong_answer():
    assert [classify(r) for r in RECORDS] == [
        None,
        "arithmetic_slip",
        "wrong_plan",
        "other",
        "arithmetic_slip",  # finished by itself, with a (last-number) answer: its slip counts
        "format_failure",
        "format_failure",
        "arithmetic_slip",
        "other",
    ]


def test_truncation_wins_over_a_slip():
    r = record(9, " 2 + 2 = 5 --> 5", finish_reason="length")
    assert classify(r) == "format_failure"


def test_counts_examples_equations_and_calculator():
    calc = {"calculator": [{"expression": "11/11", "forced": " 1", "student_would_have": " 0", "token": 3},
                           {"expression": "3 * 4", "forced": " 12", "student_would_have": " 12", "token": 9}]}  # fmt: skip
    records = [*RECORDS, record(10, " 11/11 = 1 so 3 * 4 = 12 --> 12", meta=calc)]
    result = anatomy(records, examples=2)
    assert result["n"] == 10 and result["wrong"] == 8
    assert result["categories"] == {"arithmetic_slip": 3, "wrong_plan": 1, "format_failure": 2, "other": 2}
    assert list(result["categories"]) == list(CATEGORIES)
    assert result["examples"]["arithmetic_slip"] == [["toy", 1, 0], ["toy", 4, 0]]
    assert result["equations"] == {"written": 8, "wrong": 3}
    assert result["calculator"] == {"records": 1, "interventions": 2, "changed": 1}
    assert "calculator" not in anatomy(RECORDS)


def write_run(folder, records, method="ft_cot"):
    manifest = {"stage": "eval", "model": "toy-student", "task": "toy", "split": "test", "method": method}
    with RecordWriter(folder, manifest) as w:
        for r in records:
            w.write(r)
    return folder


def test_score_shows_the_anatomy(tmp_path):
    run = write_run(tmp_path / "run", RECORDS)
    result = CliRunner().invoke(app, ["score", str(run), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["anatomy"]["categories"]["arithmetic_slip"] == 3
    assert metrics["anatomy"]["examples"]["wrong_plan"] == [["toy", 2, 0]]
    text = CliRunner().invoke(app, ["score", str(run)])
    assert text.exit_code == 0, text.output
    assert "arithmetic slip" in text.output and "toy#1" in text.output
    assert "equations written: 6, with a wrong result: 3" in text.output


def test_report_has_the_anatomy_table_and_sample_markers(tmp_path):
    from ftcot.report import compare, html
    from ftcot.report.runs import find_runs

    calc = {"calculator": [{"expression": "11/11", "forced": " 1", "student_would_have": " 0", "token": 3}]}
    write_run(tmp_path / "plain", RECORDS)
    write_run(tmp_path / "calc", [record(1, " 11/11 = 1 --> 1", meta=calc)])
    runs = find_runs([tmp_path])
    [table] = [t for t in compare.all_tables(runs) if t.title == "Error anatomy"]
    rows = {row[0]: row for row in table.rows}
    column = {name: i for i, name in enumerate(table.columns)}
    assert rows["plain"][column["arithmetic slip"]] == "3" and rows["plain"][column["calculator"]] == "off"
    assert rows["calc"][column["interventions"]] == "1" and rows["calc"][column["changed"]] == "1"
    samples = {(s["run"], s["id"]): s for s in html.sample_rows(runs)}
    assert samples[("plain", 1)]["anatomy"] == "arithmetic_slip" and samples[("plain", 0)]["anatomy"] is None
    assert samples[("plain", 1)]["calculator"] is None
    assert samples[("calc", 1)]["calculator"][0]["forced"] == " 1"
    page = html.render(runs, compare.all_tables(runs), [])
    assert "Error anatomy" in page and "calculator interventions" in page


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_has_an_example_in_the_fixture(category):
    assert category in {classify(r) for r in RECORDS}
