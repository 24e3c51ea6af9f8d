import json

import pytest

from ftcot.errors import ConfigError, DataError
from ftcot.tasks import PAPER_TASKS, get_task
from ftcot.tasks.generators import coin_flip, last_letter_concatenation, write_jsonl

# The paper's split sizes (paper.md, "The 12 tasks").
PAPER_SPLITS = {
    "single_eq": (356, 152), "addsub": (276, 119), "multiarith": (420, 180), "gsm8k": (7473, 1319),
    "aqua": (10000, 254), "svamp": (700, 300), "date_understanding": (258, 111),
    "tracking_shuffled_objects": (525, 225), "last_letter_concatenation": (350, 150), "coin_flip": (350, 150),
    "commonsense_qa": (9741, 1221), "strategy_qa": (1603, 687),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PAPER_TASKS))
def test_paper_split_sizes_and_samples(mirror, name):
    task = get_task(name)
    sizes = task.split_sizes()
    assert (sizes["train"], sizes["test"]) == PAPER_SPLITS[name]
    test = task.samples("test")
    assert len(test) == PAPER_SPLITS[name][1]
    assert not set(task.split_ids("train")) & set(task.split_ids("test"))
    for s in test[:50]:
        assert s.question and s.answer and s.task == name
        if task.answer_format.kind == "choice":
            assert s.answer in task.answer_format.letters[: len(s.choices)]
            assert " Answer choices: (A) " in s.question and s.question.endswith(".")


def test_aqua_train_says_why_it_is_missing(mirror):
    with pytest.raises(DataError, match="not in the offline mirror"):
        get_task("aqua").samples("train")


def test_renderings_match_the_paper(mirror):
    date = get_task("date_understanding").by_id[0]
    assert date.question.startswith(
        "Yesterday was April 30, 2021. What is the date today in MM/DD/YYYY?\nWhich choice is true? Answer choices: (A) "
    )
    # The paper shuffled Date's choices with RandomState(0): the right answer is not always (A).
    answers = {s.answer for s in get_task("date_understanding").samples("all")}
    assert len(answers) == 6
    assert get_task("multiarith").by_id[0].answer == "39"  # 39.0 in the file; compared as a string of an int
    assert get_task("single_eq").by_id[0].answer == "43.0"
    gsm = get_task("gsm8k").samples("test")[0]
    assert gsm.answer == "18" and gsm.id == 7473
    assert get_task("strategy_qa").by_id[0].answer in ("Yes", "No")


def test_template_splits(mirror):
    assert get_task("multiarith").split_sizes()["template_train"] == 413
    assert len(get_task("date").samples("template_test")) == 108


def test_unknown_task_and_split(mirror):
    with pytest.raises(ConfigError, match="unknown task"):
        get_task("nope")
    with pytest.raises(DataError, match="no split 'dev'"):
        get_task("coin_flip").samples("dev")


def test_generators_are_seeded_and_correct():
    rows = coin_flip(200, people=6, seed=3)
    assert rows == coin_flip(200, people=6, seed=3) and rows != coin_flip(200, people=6, seed=4)
    for r in rows:
        flips = r["question"].count(" flips the coin.")
        assert r["question"].count("the coin.") == 6
        assert r["answer"] == ("yes" if flips % 2 == 0 else "no")
    for r in last_letter_concatenation(50, words=3, seed=0, names=["Alpha", "Bravo", "Zulu", "Echo"]):
        words = r["question"].split('"')[1].split()
        assert len(words) == 3 and r["answer"] == "".join(w[-1] for w in words)


def test_user_task_jsonl_with_generated_data(tmp_path):
    path = write_jsonl(coin_flip(100, seed=0), tmp_path / "coins.jsonl")
    task = get_task(str(path), answer_type="yesno")
    assert task.split_sizes() == {"train": 70, "test": 30}
    assert task.samples("test")[0].answer in ("yes", "no")


def test_user_task_csv_choices_and_split_column(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "q,opts,a,part\n"
        'Which is red?,"[""sky"", ""rose""]",rose,train\n'
        'Which is blue?,"[""sky"", ""rose""]",A,test\n'
    )
    task = get_task(
        str(path),
        answer_type="choice",
        question_field="q",
        answer_field="a",
        choices_field="opts",
        split_field="part",
    )
    train, test = task.samples("train"), task.samples("test")
    assert train[0].answer == "B" and test[0].answer == "A"
    assert train[0].question == "Which is red? Answer choices: (A) sky, (B) rose."
    assert str(task.answer_format) == "choice:AB"


@pytest.mark.parametrize(
    "content, answer_type, match",
    [
        ('{"question": "q1", "answer": "1"}\n{"question": "q2"}\n', "number", r"line 2, field 'answer'"),
        ('{"question": "q1", "answer": "ten"}\n', "number", r"line 1, field 'answer'.*not a number"),
        ('{"question": "q1", "answer": "1"}\n{oops\n', "number", r"line 2: not valid JSON"),
        ('{"question": "q1", "answer": "maybe"}\n', "yesno", r"line 1, field 'answer'.*yes/no"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, content, answer_type, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        get_task(str(path), answer_type=answer_type)
    assert "bad.jsonl" in str(info.value)


def test_hf_dataset_user_task(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    # A local dataset script-free folder: save_to_disk is not loadable by load_dataset, so write JSON splits.
    (tmp_path / "ds").mkdir()
    for split, rows in {"train": [{"problem": f"{i}+1?", "solution": str(i + 1)} for i in range(6)],
                        "test": [{"problem": "9+1?", "solution": "10"}]}.items():  # fmt: skip
        (tmp_path / "ds" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert datasets.__version__
    task = get_task(
        f"hf:{tmp_path / 'ds'}", answer_type="number", question_field="problem", answer_field="solution"
    )
    assert task.split_sizes() == {"train": 6, "test": 1}
    assert task.samples("test")[0].answer == "10"


def test_task_card_names_a_user_task_everywhere(tmp_path):
    write_jsonl([{"q": f"{i} + 1?", "a": str(i + 1)} for i in range(10)], tmp_path / "sums.jsonl")
    card = tmp_path / "sums.toml"
    card.write_text(
        'source = "sums.jsonl"\nanswer_type = "number"\nquestion_field = "q"\nanswer_field = "a"\n'
    )
    task = get_task(str(card))
    assert task.name == "sums" and str(task.answer_format) == "number"
    assert task.split_sizes() == {"train": 7, "test": 3}
    card.write_text('answer_type = "number"\n')
    with pytest.raises(DataError, match="field 'source'"):
        get_task(str(card))
