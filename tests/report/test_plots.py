"""The plots' lines: a run joins a line only with runs that differ in the plotted axis alone."""

from ftcot.records import Completion, RecordWriter
from ftcot.report import find_runs
from ftcot.report.plots import curve_points, line_label
from ftcot.tasks import get_task
from tests.report.conftest import train_manifest


def _students(root, specs):
    """Evaluations of ft_cot students (D, training questions, right answers, teacher) on 20 test questions."""
    samples = get_task("multiarith").samples("test")[:20]
    for degree, questions, right, teacher in specs:
        student = train_manifest(degree, 135_000_000, epochs=[], questions=questions)
        student["dataset"]["teacher"] = teacher
        manifest = {"stage": "eval", "model": f"d{degree}-n{questions}-{teacher}", "task": "multiarith", "split": "test",
                    "method": "ft_cot", "model_params": 135_000_000, "model_manifest": student}  # fmt: skip
        with RecordWriter(root / f"d{degree}-n{questions}-{teacher}", manifest) as writer:
            for i, sample in enumerate(samples):
                answer = sample.answer if i < right else "-1"
                record = Completion(task="multiarith", sample_id=sample.id, sample_index=0, split="test",
                                    method="ft_cot", model="student", question=sample.question, gold=sample.answer,
                                    answer_type="number", prompt=f"{sample.question} ###",
                                    answer_text=f" so --> {answer}", rationale="so")  # fmt: skip
                writer.write(record.rescore())


def test_runs_of_another_size_or_teacher_are_not_averaged_into_the_d_curve(tmp_path, mirror):
    _students(
        tmp_path, [(1, 100, 2, "small"), (8, 100, 10, "small"), (8, 25, 4, "small"), (1, 100, 6, "big")]
    )
    runs = find_runs([tmp_path])

    by_d = curve_points(runs, lambda r: r.diverse_degree, line_label("diverse"))
    d_line = "multiarith · ft_cot · 135M · 100 questions · teacher small"
    assert list(by_d) == [d_line]  # the 25-question run and the other teacher's D=1 join no D line
    assert [(x, y) for x, y, _ in by_d[d_line]] == [(1.0, 10.0), (8.0, 50.0)]

    by_size = curve_points(runs, lambda r: r.train_questions, line_label("questions"))
    size_line = "multiarith · ft_cot · 135M · D=8 · teacher small"
    assert list(by_size) == [size_line]
    assert [(x, y) for x, y, _ in by_size[size_line]] == [(25.0, 20.0), (100.0, 50.0)]
