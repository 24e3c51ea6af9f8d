"""A folder of runs as the pipeline leaves them: the recorded teacher on MultiArith test, three
students' evaluations (records derived from the teacher's, so that every filter has samples),
and a training run with per-epoch history. No model is loaded: these tests are about reporting."""

import dataclasses
import os
import random
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


STUDENTS = [("student-d1", 0.2, 1, 1, 135_000_000), ("student-d4", 0.35, 4, 2, 135_000_000),
            ("student-360m-d4", 0.5, 4, 3, 360_000_000)]  # fmt: skip


def train_manifest(degree: int, params: int, epochs: list[dict], questions: int = 100) -> dict:
    """As ftcot.train writes it: the curate stage's `dataset` facts carried, plus the rows trained.
    The most rationales kept for one question (samples_per_question.max) is below D on purpose."""
    curate_yield = {
        "train_questions": questions,
        "samples_per_question": {"mean": degree * 0.8, "min": 1, "max": max(1, degree - 1)},
    }
    dataset = {"teacher": "recorded", "diverse": degree, "train_questions": questions,
               "train_rows": questions * degree, "trained_rows": int(0.8 * questions * degree)}  # fmt: skip
    return {
        "stage": "train",
        "dataset": dataset,
        "data": {"train_rows": int(0.8 * questions * degree), "val_questions": 20, "curate": curate_yield},
        "model": {"student": "smollm2", "checkpoint": "/cache/smollm2-135m-hf", "parameters": params},
        "metrics": {"epochs": epochs, "best_val_accuracy": None},
    }


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    from ftcot.teach.recorded import recorded_teacher

    if not Path(os.environ.get("FTCOT_MIRROR", "/nonexistent")).is_dir():
        pytest.skip("needs the offline mirror: set FTCOT_MIRROR to the shared data folder")

    root = tmp_path_factory.mktemp("runs")
    teacher, _ = recorded_teacher(get_task("multiarith"), "test")
    # Manifests in the shapes the stages write (teach: yield.job_cost; train: model dict, data, metrics.epochs).
    teach_manifest = {"stage": "teach", "method": "zs_cot", "teacher": "recorded", "diverse": 1, "task": "multiarith",
                      "split": "test", "yield": {"job_cost": 1.25}, "last_run": {"spent": 0.0}}  # fmt: skip
    with RecordWriter(root / "teacher", teach_manifest) as w:
        for r in teacher:
            w.write(r)
    for name, accuracy, degree, seed, params in STUDENTS:
        student = train_manifest(degree, params, epochs=[], questions=50 if degree == 1 else 100)
        manifest = {"stage": "eval", "model": name, "task": "multiarith", "split": "test", "method": "ft_cot",
                    "model_params": params, "model_manifest": student}  # fmt: skip
        with RecordWriter(root / name, manifest) as w:
            for r in _student_records(teacher, accuracy, "ft_cot", seed):
                w.write(r)
    epochs = [{"epoch": e, "train_loss": 2.0 / e, "val_accuracy": 5.0 + 3 * e} for e in range(1, 6)]
    (root / "train-d4").mkdir()
    write_manifest(root / "train-d4", train_manifest(4, 134_515_008, epochs))
    (root / "notes").mkdir()  # a folder that is not a run: skipped
    return root
