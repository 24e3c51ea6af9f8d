"""Run discovery and the comparison tables, on the fixture folder of runs."""

import json

import pytest

from ftcot.errors import DataError
from ftcot.records import read_records
from ftcot.report import compare, find_runs, report
from ftcot.report.runs import epoch_history
from tests.report.conftest import STUDENTS


def test_finds_each_kind_one_level_down(runs_dir):
    runs = find_runs([runs_dir])
    assert {r.name: r.kind for r in runs} == {
        "teacher": "teach", "student-d1": "eval", "student-d4": "eval", "student-360m-d4": "eval", "train-d4": "train",
    }  # fmt: skip
    # A run folder given directly is that run.
    [student] = find_runs([runs_dir / "student-d4"])
    assert student.diverse_degree == 4 and student.params == 135_000_000
    assert (student.train_questions, student.train_rows) == (100, 320)
    [train] = find_runs([runs_dir / "train-d4"])
    assert train.model == "smollm2" and train.params == 134_515_008


def test_not_a_run_is_an_error(runs_dir):
    with pytest.raises(DataError, match="no runs here"):
        find_runs([runs_dir / "notes"])


def test_teacher_accuracy_is_the_shared_checkers(runs_dir):
    teacher_records = read_records(runs_dir / "teacher")
    expected = 100 * sum(r.rescore().correct for r in teacher_records) / len(teacher_records)
    accuracy, split = compare.teacher_accuracy(find_runs([runs_dir]))["multiarith"]
    assert accuracy == pytest.approx(expected) and split == "test"
    assert len(teacher_records) == 180


def test_paper_table_puts_teacher_first_then_students_by_size(runs_dir):
    table = compare.paper_table(find_runs([runs_dir]))
    assert table.columns == ["model", "size", "method", "multiarith"]
    assert table.rows[0][0] == "teacher: text-davinci-002"
    assert [r[1] for r in table.rows[1:]] == ["135M", "135M", "360M"]


def test_runs_table_has_teacher_beside_student(runs_dir):
    runs = find_runs([runs_dir])
    table = compare.runs_table(runs)
    teacher_cell = f"{compare.teacher_accuracy(runs)['multiarith'][0]:.1f} (test)"
    by_run = {row[1]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert set(by_run) == {"student-d1", "student-d4", "student-360m-d4"}
    assert (
        by_run["student-d4"]["name"] == "smollm2 · Fine-tune-CoT · D=4"
    )  # as people name it, from manifests
    assert all(row["teacher"] == teacher_cell for row in by_run.values())
    records = read_records(runs_dir / "student-d4")
    assert by_run["student-d4"]["accuracy"] == f"{100 * sum(r.correct for r in records) / len(records):.1f}"
    assert (by_run["student-d4"]["D"], by_run["student-d4"]["train questions"]) == ("4", "100")
    assert by_run["student-d4"]["train rows"] == "320"


def test_yield_table(runs_dir):
    [row] = compare.yield_table(find_runs([runs_dir])).rows
    kept = sum(r.rescore().correct for r in read_records(runs_dir / "teacher"))
    assert row[4:8] == ["180", "1", "180", str(kept)]
    assert row[-2] == "1.2500" and row[-1] == f"{1.25 / kept:.4f}"


def test_history_is_the_train_manifests_epochs(runs_dir):
    [train] = find_runs([runs_dir / "train-d4"])
    history = epoch_history(train)
    assert history["train_loss"][0] == (1.0, 2.0) and history["val_accuracy"][-1] == (5.0, 20.0)


def test_report_writes_html_and_markdown(runs_dir, tmp_path):
    out = report([runs_dir], tmp_path / "r.html", tmp_path / "r.md")
    page = out.read_text()
    # Student size (135M and 360M, both D=4 on 100 questions) and the training curves. The D=1 student
    # saw 50 questions and the D=4 ones 100: they differ in two axes, so no D or size line joins them.
    assert page.count('class="plot"') == 2
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch
    md = (tmp_path / "r.md").read_text()
    assert "| teacher: text-davinci-002 | – | zs_cot |" in md
    assert "### Teacher yield" in md


def test_model_text_cannot_break_the_page(runs_dir, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    record = read_records(runs_dir / "student-d1")[0]
    record.answer_text = "</script><script>alert(1)</script> --> 3"
    (evil / "completions.jsonl").write_text(record.to_json() + "\n")
    page = report([evil], tmp_path / "e.html").read_text()
    data = page.split('<script id="samples-data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data)[0]["output"] == record.answer_text


def test_report_command(runs_dir, tmp_path):
    from typer.testing import CliRunner

    from ftcot.cli import app

    html, md = tmp_path / "out" / "report.html", tmp_path / "out" / "report.md"
    result = CliRunner().invoke(app, ["report", str(runs_dir), "--out", str(html), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    assert html.stat().st_size > 50_000 and md.read_text().startswith("# ftcot report")


def test_report_of_a_recipe_run_folder(runs_dir, tmp_path):
    """`ftcot report runs/demo`: a recipe's folder holds its runs as RUN/<stage>/<label>-<hash>/."""
    import shutil

    from typer.testing import CliRunner

    from ftcot.cli import app

    recipe_run = tmp_path / "demo"
    for stage, name in (("teach", "teacher"), ("eval", "student-d4"), ("train", "train-d4")):
        shutil.copytree(runs_dir / name, recipe_run / stage / f"{name}-0123456789")
    (recipe_run / "report" / "demo-abc").mkdir(parents=True)  # the report stage's own folder: not a run
    (recipe_run / "recipe.json").write_text("{}")
    assert sorted(r.kind for r in find_runs([recipe_run])) == ["eval", "teach", "train"]
    result = CliRunner().invoke(app, ["report", str(recipe_run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output


def test_yield_table_reads_d_from_the_teach_manifest(tmp_path):
    """A D=4 teacher whose last sample of every question is missing is still D=4; no manifest D: '?'."""
    from ftcot.records import Completion, RecordWriter

    for name, manifest in (("d4", {"stage": "teach", "diverse": 4}), ("old", {"stage": "teach"})):
        with RecordWriter(tmp_path / name, manifest) as w:
            for d in range(3):
                w.write(Completion(task="t", sample_id=0, sample_index=d, gold="1", answer_type="number",
                                   answer_text="1", finish_reason="stop"))  # fmt: skip
    rows = {row[0]: row[5] for row in compare.yield_table(find_runs([tmp_path])).rows}
    assert rows == {"d4": "4", "old": "?"}


def test_every_text_on_the_page_is_escaped(runs_dir, tmp_path):
    """The page is rendered by jinja2 with autoescape: a question, a model name, a title or a note
    holding markup shows as text, and the samples' JSON cannot end its script element."""
    from ftcot.records import RecordWriter

    record = read_records(runs_dir / "student-d1")[0]
    record.question = "Is <script>alert('q')</script> & <b>this</b> escaped?"
    with RecordWriter(tmp_path / "evil", {"stage": "eval", "model": "<img src=x onerror=alert(1)>"}) as w:
        w.write(record)
    out = report([tmp_path / "evil"], tmp_path / "e.html", title="<i>title</i>", note="<u>note</u> & more")
    page = out.read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>this" not in page
    assert page.count("<script") == 2  # the samples' JSON and the browser's code, nothing else
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the model column of the runs table
    assert "<title>&lt;i&gt;title&lt;/i&gt;</title>" in page and "&lt;u&gt;note&lt;/u&gt; &amp; more" in page
    data = page.split('<script id="samples-data" type="application/json">')[1].split("</script>")[0]
    assert json.loads(data)[0]["question"] == record.question


def test_a_recipe_ends_by_printing_its_results_on_the_terminal(runs_dir, capsys):
    from ftcot.cli import _print_results

    _print_results([runs_dir / name for name, *_ in STUDENTS])
    out = capsys.readouterr().out
    assert "Results (test accuracy %)" in out
    for name, *_ in STUDENTS:
        run = find_runs([runs_dir / name])[0]
        assert compare.pct(run.metrics["accuracy"]) in out  # each student's accuracy, as the report has it


def test_students_are_paired_with_their_teachers_answer_on_the_same_split(runs_dir, tmp_path):
    """A teacher asked on train (where it teaches) says nothing about a test question with the same
    index; its Zero-shot-CoT baseline on test does, and a student meets the teacher that taught it."""
    import dataclasses

    from ftcot.records import RecordWriter
    from ftcot.report import html
    from tests.report.conftest import train_manifest

    test_teacher = read_records(runs_dir / "teacher")[:5]
    student = read_records(runs_dir / "student-d4")[:5]
    on_train = [
        dataclasses.replace(r, split="train", question="another question", model="qwen") for r in test_teacher
    ]
    taught = train_manifest(4, 135_000_000, epochs=[]) | {
        "dataset": {"teacher": "recorded:qwen", "teacher_model": "qwen", "diverse": 4}
    }
    folders = {
        "teach-train": (
            {"stage": "teach", "method": "zs_cot", "task": "multiarith", "split": "train"},
            on_train,
        ),
        "student": (
            {
                "stage": "eval",
                "model": "student",
                "task": "multiarith",
                "split": "test",
                "method": "ft_cot",
                "model_manifest": taught,
            },
            student,
        ),  # fmt: skip
    }
    for name, (manifest, records) in folders.items():
        with RecordWriter(tmp_path / name, manifest) as w:
            for r in records:
                w.write(r)
    rows = [s for s in html.sample_rows(find_runs([tmp_path])) if s["run"] == "student"]
    assert len(rows) == 5 and all(s["teacher"] is None for s in rows)  # never the train question's answer

    for model in ("other", "qwen"):  # two teachers asked on test: the student's own is shown
        baseline = {
            "stage": "eval",
            "model": model,
            "task": "multiarith",
            "split": "test",
            "method": "zs_cot",
        }
        with RecordWriter(tmp_path / f"zs-cot-{model}", baseline) as w:
            for r in test_teacher:
                w.write(dataclasses.replace(r, model=model))
    runs = find_runs([tmp_path])
    rows = [s for s in html.sample_rows(runs) if s["run"] == "student"]
    assert [s["teacher"]["model"] for s in rows] == ["qwen"] * 5
    assert [s["teacher"]["rationale"] for s in rows] == [r.rationale for r in test_teacher]
    accuracy, split = compare.teacher_accuracy(runs)["multiarith"]
    assert split == "test"  # the teacher's test answers, not mixed with its train answers
