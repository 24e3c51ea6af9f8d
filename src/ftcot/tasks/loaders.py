"""Readers for the source formats of the 12 tasks, rendering questions as the paper does.

Each reader returns every sample of its source files keyed by the index the paper's split
files use: the position in the source file, with multi-file datasets concatenated
(GSM8K train then test, CommonsenseQA train then dev, AQuA train then test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ftcot.records import iter_jsonl
from ftcot.sources import SourceUnavailable, fetch
from ftcot.tasks.base import Sample

K = "kojima-takeshi188/zero_shot_cot/dataset/"
AQUA_TRAIN_SIZE = 97467


def render_choices(question: str, choices: list[str]) -> str:
    """`question Answer choices: (A) x, (B) y, ... .` as in the paper's preprocessing."""
    options = ", ".join(f"({chr(ord('A') + i)}) {c.strip()}" for i, c in enumerate(choices))
    return f"{question} Answer choices: {options}."


def _json(name: str):
    return json.loads(fetch(name).read_text(encoding="utf-8"))


def _jsonl(path: Path) -> list[dict]:
    return [row for _, row in iter_jsonl(path)]


def _number_text(x: float | str) -> str:
    return str(x).strip()


def single_eq(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "SingleEq/questions.json")
    return {
        i: Sample(task, i, r["sQuestion"].strip(), _number_text(r["lSolutions"][0]), fmt)
        for i, r in enumerate(rows)
    }


def addsub(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "AddSub/AddSub.json")
    return {
        i: Sample(task, i, r["sQuestion"].strip(), _number_text(r["lSolutions"][0]), fmt)
        for i, r in enumerate(rows)
    }


def multiarith(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "MultiArith/MultiArith.json")
    # Solutions are integers written as floats (39.0); the paper compares MultiArith as strings of ints.
    return {
        i: Sample(task, i, r["sQuestion"].strip(), str(int(r["lSolutions"][0])), fmt)
        for i, r in enumerate(rows)
    }


def svamp(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "SVAMP/SVAMP.json")
    return {
        i: Sample(task, i, r["Body"].strip() + " " + r["Question"].strip(), _number_text(r["Answer"]), fmt)
        for i, r in enumerate(rows)
    }


def gsm8k(task: str, fmt: str) -> dict[int, Sample]:
    rows = []
    for part in ("train", "test"):
        rows += _jsonl(fetch(f"openai/grade-school-math/grade_school_math/data/{part}.jsonl"))
    return {
        i: Sample(task, i, r["question"], r["answer"].split("#### ")[-1].strip(), fmt)
        for i, r in enumerate(rows)
    }


def _aqua_rows(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for r in _jsonl(path):
        choices = [o[2:] for o in r["options"]]  # "A)5(√3 + 1)" -> "5(√3 + 1)"
        out.append(
            (render_choices(r["question"].strip(), choices), r["correct"], tuple(c.strip() for c in choices))
        )
    return out


def aqua(task: str, fmt: str) -> dict[int, Sample]:
    """AQuA train (97,467) then test (254). Without train.json (not in the offline mirror) only test loads."""
    samples = {}
    try:
        train = _aqua_rows(fetch("deepmind/AQuA/train.json"))
    except SourceUnavailable:  # offline without it; a file that fails its checksum still raises
        train = []
    for i, (q, a, choices) in enumerate(train):
        samples[i] = Sample(task, i, q, a, fmt, choices)
    for i, (q, a, choices) in enumerate(_aqua_rows(fetch("deepmind/AQuA/test.json"))):
        samples[AQUA_TRAIN_SIZE + i] = Sample(task, AQUA_TRAIN_SIZE + i, q, a, fmt, choices)
    return samples


def commonsense_qa(task: str, fmt: str) -> dict[int, Sample]:
    rows = []
    for part in ("train_rand_split", "dev_rand_split"):
        rows += _jsonl(fetch(K + f"CommonsenseQA/{part}.jsonl"))
    samples = {}
    for i, r in enumerate(rows):
        choices = [c["text"] for c in r["question"]["choices"]]
        q = render_choices(r["question"]["stem"].strip(), choices)
        samples[i] = Sample(task, i, q, r["answerKey"], fmt, tuple(c.strip() for c in choices))
    return samples


def _bigbench_choice(path_name: str, task: str, fmt: str, shuffle_seed: int | None) -> dict[int, Sample]:
    """BIG-bench multiple choice: `input\\nWhich choice is true? Answer choices: ...`.

    Date Understanding's choices are shuffled as the paper did: one RandomState(0), one
    permutation per example, in file order.
    """
    rows = _json(K + path_name)["examples"]
    state = np.random.RandomState(shuffle_seed) if shuffle_seed is not None else None
    samples = {}
    for i, r in enumerate(rows):
        n = len(r["target_scores"])
        order = state.permutation(list(range(n))) if state is not None else list(range(n))
        choices: list[str] = [""] * n
        answer_index = None
        for j, (choice, score) in enumerate(r["target_scores"].items()):
            choices[order[j]] = choice[:-1] if choice.endswith(".") else choice
            if score:
                answer_index = int(order[j])
        q = render_choices(r["input"].strip() + "\nWhich choice is true?", choices)
        samples[i] = Sample(task, i, q, chr(ord("A") + answer_index), fmt, tuple(c.strip() for c in choices))
    return samples


def date_understanding(task: str, fmt: str) -> dict[int, Sample]:
    return _bigbench_choice("Bigbench_Date/task.json", task, fmt, shuffle_seed=0)


def tracking_shuffled_objects(task: str, fmt: str) -> dict[int, Sample]:
    return _bigbench_choice("Bigbench_object_tracking/task.json", task, fmt, shuffle_seed=None)


def strategy_qa(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "StrategyQA/task.json")["examples"]
    return {
        i: Sample(task, i, r["input"].strip(), "Yes" if r["target_scores"]["Yes"] == 1 else "No", fmt)
        for i, r in enumerate(rows)
    }


def coin_flip(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "coin_flip/coin_flip.json")["examples"]
    return {i: Sample(task, i, r["question"], r["answer"], fmt) for i, r in enumerate(rows)}


def last_letter_concatenation(task: str, fmt: str) -> dict[int, Sample]:
    rows = _json(K + "last_letters/last_letters.json")["examples"]
    return {i: Sample(task, i, r["question"], r["answer"], fmt) for i, r in enumerate(rows)}
