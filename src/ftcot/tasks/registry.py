"""The paper's 12 tasks, as data. Adding a task is one entry here plus, if its format is new, a loader."""

from __future__ import annotations

from functools import partial

from ftcot.answers import AnswerFormat
from ftcot.tasks import loaders
from ftcot.tasks.base import TaskSpec

# Kojima et al.'s Zero-shot-CoT answer triggers (step 2), by answer format.
TRIGGER_NUMBER = "\nTherefore, the answer (arabic numerals) is"
TRIGGER_YESNO = "\nTherefore, the answer (Yes or No) is"
TRIGGER_GENERIC = "\nTherefore, the answer is"


def trigger_choices(letters: str) -> str:
    return f"\nTherefore, among {letters[0]} through {letters[-1]}, the answer is"


def _spec(
    name, title, fmt, trigger, loader, *, log=None, fs_cot=None, template=False, split_file=None, notes=""
):
    answer_format = AnswerFormat.parse(fmt)
    return TaskSpec(
        name=name,
        title=title,
        answer_format=answer_format,
        trigger=trigger,
        load=partial(loader, name, str(answer_format)),
        split_file=split_file or name,
        template_split=template,
        log=log,
        fs_cot=fs_cot if fs_cot is not None else name,
        notes=notes,
    )


PAPER_TASKS: dict[str, TaskSpec] = {
    s.name: s
    for s in [
        _spec("single_eq", "SingleEq", "number:float", TRIGGER_NUMBER, loaders.single_eq, log="singleeq"),
        _spec("addsub", "AddSub", "number:float", TRIGGER_NUMBER, loaders.addsub, log="addsub"),
        _spec(
            "multiarith",
            "MultiArith",
            "number",
            TRIGGER_NUMBER,
            loaders.multiarith,
            log="multiarith",
            template=True,
        ),
        _spec("gsm8k", "GSM8K", "number", TRIGGER_NUMBER, loaders.gsm8k, log="gsm8k"),
        _spec(
            "aqua",
            "AQuA",
            "choice:ABCDE",
            trigger_choices("ABCDE"),
            loaders.aqua,
            log="aqua",
            notes="AQuA's train file (deepmind/AQuA train.json, 97,467 questions, ~40 MB) is not in the offline "
            "mirror: offline, only the test split (254) is available; online it is downloaded and checked.",
        ),
        _spec("svamp", "SVAMP", "number:float", TRIGGER_NUMBER, loaders.svamp, log="svamp"),
        _spec(
            "date_understanding",
            "Date Understanding",
            "choice:ABCDEF",
            trigger_choices("ABCDEF"),
            loaders.date_understanding,
            log="date_understanding",
            template=True,
        ),
        _spec(
            "tracking_shuffled_objects",
            "Tracking Shuffled Objects",
            "choice:ABC",
            trigger_choices("ABC"),
            loaders.tracking_shuffled_objects,
            log="shuffled_objects",
            fs_cot="",
        ),
        _spec(
            "last_letter_concatenation",
            "Last Letter Concatenation",
            "letters",
            TRIGGER_GENERIC,
            loaders.last_letter_concatenation,
            log="last_letters",
        ),
        _spec("coin_flip", "Coin Flip", "yesno", TRIGGER_YESNO, loaders.coin_flip, log="coin_flip"),
        _spec(
            "commonsense_qa",
            "CommonsenseQA",
            "choice:ABCDE",
            trigger_choices("ABCDE"),
            loaders.commonsense_qa,
            log="commonsensqa",
        ),
        _spec("strategy_qa", "StrategyQA", "yesno", TRIGGER_YESNO, loaders.strategy_qa, log="strategyqa"),
    ]
}

ALIASES = {
    "singleeq": "single_eq",
    "last_letter": "last_letter_concatenation",
    "last_letters": "last_letter_concatenation",
    "date": "date_understanding",
    "shuffled_objects": "tracking_shuffled_objects",
    "csqa": "commonsense_qa",
    "commonsenseqa": "commonsense_qa",
    "strategyqa": "strategy_qa",
}
