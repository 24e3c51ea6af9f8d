"""A folder of runs as the pipeline leaves them: the recorded teacher on MultiArith test, three
students' evaluations (records derived from the teacher's, so that every filter has samples),
and a training run with per-epoch history. No model is loaded: these tests are about reporting."""

import dataclasses
import random

import os
from pathlib import Path

import pytest

from ftcot.records import RecordWriter, write_manifest
from ftcot.tasks import get_task


def _student_records(teacher, accuracy: float, method: str, seed: int):
    rng = random.Random(seed)
    records = []
    for t in teacher:
        right = rng.random() < accuracy
        answer = t.gold if right else str(int(t.gold) + rng.choice([1, 2, 10]))
        text = f" {t.rationale.strip()[:200]} --> {answer}"
        if seed == 3 and not right and rng.random() < 0.3:
            text, finish = text[:40], "length"  # some truncated outputs
        else:
            finish = "stop"
        records.append(dataclasses.replace(t, method=method, model="student", answer_text=text, finish_reason=finish,
                                           rationale=text.split("-->")[0].strip(), answer_prompt=None,
                                           prompt=f"{t.question} ###", meta={}).rescore())  # fmt: skip
    return records


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    from ftcot.teach.recorded import recorded_teacher

    if not Path(os.environ.get("FTCOT_MIRROR", "/nonexistent")).is_dir():
        pytest.skip("needs the offline mirror: set FTCOT_MIRROR to the shared data folder")

    root = tmp_path_factory.mktemp("runs")
    teacher, _ = recorded_teacher(get_task("multiarith"), "test")
    with RecordWriter(root / "teacher", {"stage": "teach", "model": "text-davinci-002", "task": "multiarith",
                                         "cost_usd": 1.25}) as w:  # fmt: skip
        for r in teacher:
            w.write(r)
    students = [("student-d1", 0.2, 1, 1, 135_000_000), ("student-d4", 0.35, 4, 2, 135_000_000),
                ("student-360m-d4", 0.5, 4, 3, 360_000_000)]  # fmt: skip
    for name, accuracy, degree, seed, params in students:
        manifest = {"stage": "eval", "model": name, "task": "multiarith", "split": "test", "method": "ft_cot",
                    "model_params": params, "model_manifest": {"stage": "train", "diverse_degree": degree,
                                                               "train_size": 100 * degree}}  # fmt: skip
        with RecordWriter(root / name, manifest) as w:
            for r in _student_records(teacher, accuracy, "ft_cot", seed):
                w.write(r)
    history = [{"epoch": e, "train_loss": 2.0 / e, "val_accuracy": 5.0 + 3 * e} for e in range(1, 6)]
    (root / "train-d4").mkdir()
    write_manifest(root / "train-d4", {"stage": "train", "model": "smollm2", "history": history})
    (root / "notes").mkdir()  # a folder that is not a run: skipped
    return root
