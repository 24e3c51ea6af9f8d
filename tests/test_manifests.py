"""Typed manifests (ftcot.manifests): each stage's model is written and read through one module;
readers read fields instead of searching for keys, and old or odd files are read or refused plainly."""

import json
import logging

import pytest

from ftcot.errors import DataError
from ftcot.manifests import (
    CurateManifest,
    EvalManifest,
    TeachManifest,
    TeachYield,
    TrainManifest,
    load_manifest,
    read_manifest,
    write_manifest,
)
from ftcot.records import Completion, RecordWriter
from ftcot.report import compare, find_runs


def _write(folder, manifest: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _teacher_records(folder, manifest):
    with RecordWriter(folder, manifest) as w:
        for i in range(2):
            w.write(Completion(task="t", sample_id=i, gold="1", answer_type="number", answer_text="1",
                               finish_reason="stop", model="big"))  # fmt: skip
    return folder


# --- reading ----------------------------------------------------------------------------------------


def test_each_stage_reads_back_as_its_model(tmp_path):
    stages = {"teach": TeachManifest, "curate": CurateManifest, "train": TrainManifest, "eval": EvalManifest}
    for stage, model in stages.items():
        (tmp_path / stage).mkdir()
        write_manifest(
            tmp_path / stage, {"stage": stage, "status": "complete" if stage != "eval" else "done"}
        )
        manifest = load_manifest(tmp_path / stage)
        assert type(manifest) is model and manifest.created and manifest.code.ftcot
    assert load_manifest(tmp_path / "nothing-here") is None


def test_a_field_an_old_folder_lacks_is_none_and_shows_as_unknown(tmp_path):
    old = _teacher_records(tmp_path / "old", {"stage": "teach"})  # before D and costs were stated
    manifest = load_manifest(old)
    assert manifest.diverse is None and manifest.yield_ is None
    [row] = compare.yield_table(find_runs([old])).rows
    assert row[5] == "?" and row[-2] == "–"  # D, cost


def test_fields_of_another_version_are_ignored_with_a_warning(tmp_path, caplog):
    # A served evaluation of an earlier version: the teacher engine's keys at the top level.
    folder = _write(tmp_path / "eval", {"stage": "eval", "model": "openai:m", "task": "t", "status": "done",
                                        "job": {"teacher": "openai:m"}, "last_run": {"requests": 3},
                                        "timing": {"seconds": 1.5, "gpu": "none"}})  # fmt: skip
    with caplog.at_level(logging.WARNING):
        manifest = load_manifest(folder)
    assert manifest.model == "openai:m" and manifest.timing.seconds == 1.5
    assert "job, last_run, timing.gpu" in caplog.text and str(folder / "manifest.json") in caplog.text


@pytest.mark.parametrize(
    "manifest, field",
    [
        ({"stage": "teach", "diverse": "4"}, "diverse"),  # a string is not a number, even one that reads as one
        ({"stage": "eval", "model_params": 1.5e8}, "model_params"),
        ({"stage": "train", "metrics": {"epochs": [{"epoch": 1, "train_loss": "low"}]}}, "metrics.epochs.0.train_loss"),
        ({"stage": "teach", "status": "finished"}, "status"),
    ],
)  # fmt: skip
def test_a_wrong_typed_field_refuses_the_file_naming_it(tmp_path, manifest, field):
    folder = _write(tmp_path / "run", manifest)
    with pytest.raises(DataError, match=field.replace(".", r"\.")) as refused:
        load_manifest(folder)
    assert str(folder / "manifest.json") in str(refused.value)
    with pytest.raises(
        DataError, match="manifest.json"
    ):  # the report too: it shows nothing a file did not say
        find_runs([folder])


@pytest.mark.parametrize("manifest", [{"status": "complete"}, {"stage": "training"}, [1, 2]])
def test_a_manifest_without_a_known_stage_is_refused(tmp_path, manifest):
    with pytest.raises(DataError, match="stage|JSON object"):
        load_manifest(_write(tmp_path, manifest))


def test_bad_json_names_the_file(tmp_path):
    (tmp_path / "manifest.json").write_text('{"stage": "teach",')
    with pytest.raises(DataError, match="manifest.json.*not valid JSON"):
        load_manifest(tmp_path)


# --- the report reads fields, never searches --------------------------------------------------------


def test_the_report_does_not_pick_up_a_misleading_nested_key(tmp_path):
    """The report once searched manifests three levels deep for any key named like a cost or a
    parameter count: a setting called `cost` became the teacher's cost, an `n_params` the student's size."""
    teacher = _teacher_records(
        tmp_path / "teacher", {"stage": "teach", "diverse": 1, "settings": {"cost": 99.0}}
    )
    student = {"stage": "eval", "model": "m", "extra": {"n_params": 7_000_000_000}}
    with RecordWriter(tmp_path / "eval", student) as w:
        w.write(
            Completion(
                task="t", sample_id=0, gold="1", answer_type="number", answer_text="1", finish_reason="stop"
            )
        )
    runs = find_runs([tmp_path])
    [cost_row] = compare.yield_table(runs).rows
    assert cost_row[-2:] == ["–", "–"]  # cost and cost per kept: not stated
    table = compare.runs_table(runs)
    [eval_row] = table.rows
    assert eval_row[table.columns.index("size")] == "–"  # size: not stated
    assert find_runs([teacher])[0].params is None


def test_the_report_reads_cost_and_size_where_the_stages_state_them(tmp_path):
    teacher = _teacher_records(
        tmp_path / "teacher", TeachManifest(diverse=2, yield_=TeachYield(job_cost=0.5))
    )
    [run] = find_runs([teacher])
    [row] = compare.yield_table([run]).rows
    assert (row[5], row[-2]) == ("2", "0.5000")
    assert json.loads((teacher / "manifest.json").read_text())["yield"]["job_cost"] == 0.5  # as on disk


# --- writing ----------------------------------------------------------------------------------------


def test_writers_are_checked_too(tmp_path):
    with pytest.raises(ValueError, match="daignostics"):
        write_manifest(tmp_path, {"stage": "teach", "daignostics": {}})  # a typo is a bug, not a new field
    with pytest.raises(ValueError, match="diverse"):
        write_manifest(tmp_path, {"stage": "teach", "diverse": "4"})
    with pytest.raises(ValueError, match="needs a stage"):
        write_manifest(tmp_path, {"status": "failed"})  # an update with nothing to update
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(Exception, match="diverse"):
        TeachManifest(diverse=2).replace(diverse="many")  # replace() validates; model_copy would not


def test_an_update_keeps_the_rest_and_a_new_stage_replaces_it(tmp_path):
    write_manifest(tmp_path, TeachManifest(status="running", task="t", diverse=2))
    created = load_manifest(tmp_path).created
    write_manifest(tmp_path, {"status": "failed", "error": "boom"})
    manifest = load_manifest(tmp_path)
    assert (manifest.status, manifest.error, manifest.task, manifest.diverse) == ("failed", "boom", "t", 2)
    write_manifest(tmp_path, EvalManifest(status="done", task="t"))  # a served evaluation, scored
    assert set(read_manifest(tmp_path)) == {"stage", "status", "task", "created", "updated", "code"}
    assert load_manifest(tmp_path).created == created


def test_unset_fields_are_not_written_but_an_explicit_none_is(tmp_path):
    write_manifest(tmp_path, TeachManifest(status="complete", error=None))
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["error"] is None and "diverse" not in on_disk and "yield" not in on_disk


def test_secrets_never_reach_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_KEY", "s3cr3t-value-123")
    write_manifest(tmp_path, EvalManifest(api_key_env="MY_SERVICE_KEY", base_url="http://u:pw1234@host/v1",
                                          error="server said s3cr3t-value-123"))  # fmt: skip
    text = (tmp_path / "manifest.json").read_text()
    assert "s3cr3t-value-123" not in text and "pw1234" not in text
