"""What a student was made from travels teach -> curate -> train -> eval -> report as stated facts:
the teacher's D and the training questions and rows, and the task format the student was trained in."""

import json

import pytest

from ftcot.curate import CurateConfig, curate
from ftcot.evaluate import EvalConfig, evaluate
from ftcot.records import Completion, RecordWriter, read_records
from ftcot.report import compare, find_runs
from ftcot.train import TrainConfig, train
from tests.train.conftest import QUESTIONS

FAST = {"max_length": 64, "check_format": False, "bf16": False, "max_steps": 1, "eval_every_epoch": False}


def teach_run(folder, diverse: int):
    """A teacher run with D samples per question of which only D - 1 are right: no question keeps D."""
    manifest = {"stage": "teach", "teacher": "openai:big-model", "backend": {"backend": "openai", "model": "big-model"},
                "diverse": diverse}  # fmt: skip
    with RecordWriter(folder, manifest) as writer:
        for i, (question, rationale, answer) in enumerate(QUESTIONS):
            for d in range(diverse):
                right = d < diverse - 1
                writer.write(
                    Completion(
                        task="toy",
                        sample_id=i,
                        sample_index=d,
                        split="train",
                        method="zs_cot",
                        question=question,
                        gold=answer,
                        answer_type="number",
                        rationale=f"{rationale} (take {d})",
                        answer_text=f" {answer if right else 0}.",
                        finish_reason="stop",
                    )  # fmt: skip
                )
    return folder


@pytest.fixture
def task_card(tmp_path):
    """The same questions as a user task (a card), for `ftcot eval`."""
    lines = [{"question": q, "answer": a} for q, _, a in QUESTIONS]
    (tmp_path / "toy.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    card = tmp_path / "toy.toml"
    card.write_text('source = "toy.jsonl"\nanswer_type = "number"\n')
    return str(card)


def test_report_labels_a_d4_student_d4_with_its_questions_and_rows(tiny_decoder, task_card, tmp_path):
    teach = teach_run(tmp_path / "teach", diverse=4)
    data = curate(CurateConfig(run_dir=teach, out=tmp_path / "data", val_fraction=0))
    student = train(TrainConfig(data_dir=data, student=tiny_decoder, out=tmp_path / "student", **FAST))
    evaluate(
        EvalConfig(
            model=str(student), task=task_card, method="ft_cot", out=tmp_path / "eval", max_new_tokens=2
        )
    )

    [evaluation] = find_runs([tmp_path / "eval"])
    assert evaluation.diverse_degree == 4  # the teacher's setting, not the 3 rationales each question kept
    assert (evaluation.diverse_degree, evaluation.train_questions, evaluation.train_rows) == (4, 6, 18)
    [row] = compare.runs_table([evaluation]).rows
    facts = dict(zip(compare.runs_table([evaluation]).columns, row, strict=True))
    assert (facts["D"], facts["train questions"], facts["train rows"]) == ("4", "6", "18")
    [trained] = find_runs([student])
    assert trained.dataset.teacher == "openai:big-model" and trained.dataset.teacher_model == "big-model"


def test_a_student_without_stated_facts_shows_unknown(tmp_path):
    from ftcot.manifests import EvalManifest, TrainManifest
    from ftcot.report.runs import Run

    old_student = {
        "stage": "train",
        "data": {"train_rows": 18, "curate": {"samples_per_question": {"max": 3}}},
    }
    run = Run(tmp_path, EvalManifest(model_manifest=TrainManifest.model_validate(old_student)))
    assert run.diverse_degree is None
    assert (run.diverse_degree, run.train_questions, run.train_rows) == (None, None, None)
    assert compare._fact(run, run.diverse_degree) == "?"  # never 3, the most rationales kept
    assert compare._fact(Run(tmp_path, EvalManifest(model="smollm2")), None) == "–"  # not a student


def test_a_step_by_step_student_is_evaluated_on_its_label_task(tiny_decoder, task_card, tmp_path):
    teach = teach_run(tmp_path / "teach", diverse=2)
    data = curate(CurateConfig(run_dir=teach, out=tmp_path / "data", val_fraction=0))
    student = train(
        TrainConfig(data_dir=data, student=tiny_decoder, out=tmp_path / "student", step_by_step=True, **FAST)
    )
    out = evaluate(
        EvalConfig(
            model=str(student), task=task_card, method="ft_cot", out=tmp_path / "eval", max_new_tokens=2
        )
    )
    records = read_records(out)
    assert records and all(r.prompt == f"[label] {r.question} ###" for r in records)
    assert {r.method for r in records} == {"vanilla"}  # scored as the answer it was trained to give
    [run] = find_runs([out])
    assert run.method == "step_by_step"
