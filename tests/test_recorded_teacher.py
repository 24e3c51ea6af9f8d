"""The recorded 175B teacher against the logs' own accuracy lines and the paper's train counts."""

import pytest

from ftcot.records import score
from ftcot.tasks import PAPER_TASKS, get_task
from ftcot.teach.recorded import (
    LogEntry,
    import_log,
    letter_mapping,
    match_entries,
    parse_log,
    recorded_teacher,
    remap_letters,
    split_choices,
)

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


# The share of a log's entries that must match a sample. Every mirrored log matches all of its
# entries; SVAMP's and StrategyQA's logs are not in the mirror (they render questions plainly, as
# test_every_upstream_rendering_matches checks), so their floor only guards a download.
MATCHED_AT_LEAST = {name: 1.0 for name in PAPER_TASKS} | {"svamp": 0.99, "strategy_qa": 0.99}


def _logs_in_mirror(mirror):
    out = []
    for name, spec in PAPER_TASKS.items():
        if (mirror / f"kojima-takeshi188/zero_shot_cot/log/{spec.log}_zero_shot_cot.log").exists():
            out.append(name)
    return out


def test_every_log_in_the_mirror_belongs_to_a_task(mirror):
    """Every Zero-shot-CoT log the mirror holds is some task's `log`, so the test below reads them all."""
    logs = {p.name for p in (mirror / "kojima-takeshi188/zero_shot_cot/log").glob("*_zero_shot_cot.log")}
    named = {f"{spec.log}_zero_shot_cot.log" for spec in PAPER_TASKS.values() if spec.log}
    assert logs and logs <= named, sorted(logs - named)
    assert len(_logs_in_mirror(mirror)) == len(logs)
    assert PAPER_TASKS["tracking_shuffled_objects"].log == "shuffled_objects"


@pytest.mark.parametrize("name", PAPER_TASKS)
def test_every_log_in_the_mirror_agrees_with_its_accuracy_line(mirror, name):
    if name not in _logs_in_mirror(mirror):
        pytest.skip(f"{name}: its log is not in the mirror")
    result = import_log(get_task(name))
    matched = len(result.records) / result.entries
    assert matched >= MATCHED_AT_LEAST[name], result.summary()
    assert not result.gold_mismatch, result.summary()
    accuracy = score(result.records)["accuracy"]
    expected = PAPER_CHECKER_ACCURACY.get(name, result.log_accuracy)
    assert abs(accuracy - expected) <= 0.5, (name, accuracy, expected)


def test_tracking_shuffled_objects_log_matches_despite_its_rendering(mirror):
    """The log renders `... dancing with \\nWhich choice is true ? Answer Choices: (A) Sam. (B) Helga.`;
    ours is `... dancing with\\nWhich choice is true? Answer choices: (A) Sam, (B) Helga.` (matched 0 of 750)."""
    result = import_log(get_task("tracking_shuffled_objects"))
    assert result.entries == 750 and len(result.records) == 750, result.summary()
    assert "Which choice is true ? Answer Choices: (A)" in result.records[0].prompt  # as the teacher saw it
    assert round(score(result.records)["accuracy"], 1) == round(result.log_accuracy, 1) == 52.4


def _kojima_question(task_name: str, sample, order: list[int]) -> tuple[str, str]:
    """A sample as upstream `utils.data_reader` rendered it (kojima-takeshi188/zero_shot_cot), with the
    choices in `order`; returns the question and the gold in the log's lettering."""
    if not sample.choices:
        return sample.question, sample.answer
    stem, _ = split_choices(sample.question)
    choices = [sample.choices[i] for i in order]
    gold = "ABCDEF"[order.index(ord(sample.answer) - ord("A"))]
    letters = "ABCDEF"[: len(choices)]
    if task_name == "aqua":  # "(" + "(".join(options), then a space before "(" and after ")"
        options = "(" + "(".join(f"{x}){c}" for x, c in zip(letters, choices, strict=True))
        return stem + " Answer Choices:" + options.replace("(", " (").replace(")", ") "), gold
    rendered = "".join(f" ({x}) {c}" for x, c in zip(letters, choices, strict=True))
    if task_name == "tracking_shuffled_objects":  # BIG-bench's choice keys end with "."
        stem = stem.removesuffix("\nWhich choice is true?")
        rendered = "".join(f" ({x}) {c}." for x, c in zip(letters, choices, strict=True))
        return stem + " \nWhich choice is true ? Answer Choices:" + rendered, gold
    if task_name == "date_understanding":
        stem = stem.removesuffix("\nWhich choice is true?")
    return stem + " Answer Choices:" + rendered, gold


@pytest.mark.parametrize("name", PAPER_TASKS)
def test_every_upstream_rendering_matches(mirror, name):
    """Logs in the mirror or not (SVAMP, StrategyQA): a question rendered as upstream renders it, choices
    in another order, matches its sample, and its gold letter maps onto ours."""
    task = get_task(name)
    samples = sorted(task.by_id.values(), key=lambda s: s.id)[:40]
    entries = []
    for number, sample in enumerate(samples, 1):
        order = list(reversed(range(len(sample.choices))))
        question, gold = _kojima_question(name, sample, order)
        entries.append(LogEntry(number, question, " Let me see.", f" ({gold}).", gold, task.spec.trigger))
    result = match_entries(task, entries)
    assert not result.unmatched and not result.gold_mismatch, result.summary()
    assert [r.sample_id for r in result.records] == [s.id for s in samples]  # repeats take theirs in order
    if samples[0].choices:  # the answer "(gold)" in the log's letters is right in ours
        assert all(r.correct for r in result.records)


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


def test_entries_that_match_nothing_are_listed(mirror):
    task = get_task("coin_flip")
    sample = task.samples("test", limit=1)[0]
    trigger = task.spec.trigger
    entries = [
        LogEntry(1, sample.question, " Heads.", " Yes.", sample.answer, trigger),
        LogEntry(2, "A coin nobody flipped. Is it still heads up?", " Heads.", " Yes.", "yes", trigger),
    ]
    result = match_entries(task, entries)
    assert [r.sample_id for r in result.records] == [sample.id]
    assert [e.number for e in result.unmatched] == [2] and result.summary()["unmatched"] == 1


def test_the_recorded_teacher_is_a_prompt_baseline_on_test(mirror, tmp_path):
    """`ftcot eval recorded --method zs_cot`: text-davinci-002's logged test answers, replayed with no
    request, scored like any evaluation and named by the model that wrote them."""
    import json

    from ftcot.evaluate import EvalConfig, evaluate
    from ftcot.records import read_manifest, read_records
    from ftcot.report.runs import read_run

    config = EvalConfig(model="recorded", task="coin_flip", split="test", method="zs_cot", out=tmp_path / "e")
    assert config.served
    out = evaluate(config)
    records = read_records(out)
    assert len(records) == len(get_task("coin_flip").split_ids("test")) == 150
    manifest = read_manifest(out)
    assert manifest["status"] == "done"
    assert manifest["served"]["backend"] == {"backend": "recorded", "model": "text-davinci-002"}  # no server
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == pytest.approx(
        100 * sum(bool(r.correct) for r in records) / 150
    )
    assert read_run(out).label == "text-davinci-002 (recorded) · Zero-shot-CoT"
