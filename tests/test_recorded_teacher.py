"""The recorded 175B teacher against the logs' own accuracy lines and the paper's train counts."""

import pytest

from ftcot.records import score
from ftcot.tasks import PAPER_TASKS, get_task
from ftcot.teach.recorded import import_log, letter_mapping, parse_log, recorded_teacher, remap_letters

# Where Kojima's string comparison and the paper's float comparison differ, the paper's checker is
# the reference (paper.md): AddSub 71.4 (log 69.6), SingleEq 79.5 (log 78.0).
PAPER_CHECKER_ACCURACY = {"addsub": 71.4, "single_eq": 79.5}
PAPER_TRAIN_CORRECT = {
    "multiarith": 332,
    "last_letter_concatenation": 205,
    "addsub": 197,
    "single_eq": 282,
    "coin_flip": 320,
}


def _logs_in_mirror(mirror):
    out = []
    for name, spec in PAPER_TASKS.items():
        if (mirror / f"kojima-takeshi188/zero_shot_cot/log/{spec.log}_zero_shot_cot.log").exists():
            out.append(name)
    return out


def test_every_log_in_the_mirror_agrees_with_its_accuracy_line(mirror):
    names = _logs_in_mirror(mirror)
    assert len(names) == 9
    for name in names:
        result = import_log(get_task(name))
        assert not result.unmatched and not result.ambiguous and not result.gold_mismatch, result.summary()
        assert len(result.records) == result.entries
        accuracy = score(result.records)["accuracy"]
        expected = PAPER_CHECKER_ACCURACY.get(name, result.log_accuracy)
        assert abs(accuracy - expected) <= 0.5, (name, accuracy, expected)


@pytest.mark.parametrize("name, correct", PAPER_TRAIN_CORRECT.items())
def test_train_split_correct_counts_match_the_paper(mirror, name, correct):
    records, _ = recorded_teacher(get_task(name), "train")
    assert len(records) == get_task(name).split_sizes()["train"]
    assert sum(r.correct for r in records) == correct


def test_records_carry_the_teacher_output(mirror):
    records, _ = recorded_teacher(get_task("multiarith"), "test")
    r = records[0]
    assert r.model == "text-davinci-002" and r.method == "zs_cot" and r.split == "test"
    assert r.prompt.startswith("Q: ") and r.prompt.endswith("A: Let's think step by step.")
    assert r.answer_prompt.endswith("Therefore, the answer (arabic numerals) is")
    assert r.rationale.strip() and r.prediction is not None


def test_date_letters_are_remapped_through_choice_text(mirror):
    result = import_log(get_task("date_understanding"))
    remapped = [r for r in result.records if any(k != v for k, v in r.meta.get("letter_map", {}).items())]
    assert len(remapped) > 100  # the logs shuffled Date's choices differently
    assert sum(r.correct for r in result.records) == round(result.log_accuracy * result.entries / 100)


def test_letter_helpers():
    mapping = letter_mapping(["x", "y", "x"], ["y", "x", "x"])
    assert mapping == {"A": "B", "B": "A", "C": "C"}
    assert remap_letters("So (A) or B, not ABBA.", mapping) == "So (B) or A, not ABBA."


def test_parse_log_fixture():
    log = (
        "*****\nNamespace(direct_answer_trigger='\\nTherefore, the answer (arabic numerals) is', x=1)\n"
        "*************************\n1st data\n1_th_sampling\nQ: What is 1+1?\nA: Let's think step by step. "
        "One and one make two. \nTherefore, the answer (arabic numerals) is 2.\npred_before : 2.\n"
        "pred_after : 2\nGT : 2\n*************************\naccuracy : 100.0\n"
    )
    entries, accuracy = parse_log(log)
    assert accuracy == 100.0 and len(entries) == 1
    e = entries[0]
    assert (e.question, e.rationale, e.answer_text, e.gold) == (
        "What is 1+1?",
        " One and one make two.",
        " 2.",
        "2",
    )
