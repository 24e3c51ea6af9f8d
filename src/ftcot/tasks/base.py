"""The record schema every task produces, and the task spec that describes a task as data."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property

from ftcot.answers import AnswerFormat
from ftcot.errors import DataError

SPLITS = ("train", "test", "all", "template_train", "template_test")


@dataclass(frozen=True)
class Sample:
    """One question of a task, rendered as the paper renders it."""

    task: str
    id: int  # the index that the paper's split files use (position in the source files)
    question: str
    answer: str  # gold answer as text: '39', '5.0', 'B', 'yes', 'fnel'
    answer_type: str  # AnswerFormat in compact form: number, number:float, choice:ABC, yesno, letters, text
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Sample:
        return cls(**{**d, "choices": tuple(d.get("choices") or ())})


@dataclass(frozen=True)
class TaskSpec:
    """A task is data: where its samples come from, how answers look, which trigger and splits it uses."""

    name: str
    title: str
    answer_format: AnswerFormat
    trigger: str  # Kojima's per-task Zero-shot-CoT answer trigger (step 2)
    load: Callable[[], dict[int, Sample]]  # every available sample, by id
    split_file: str | None = None  # key of the paper's split files: data/split/<key>__<scheme>.json
    template_split: bool = False
    log: str | None = None  # the recorded teacher's Zero-shot-CoT log (kojima log/<name>_zero_shot_cot.log)
    fs_cot: str | None = None  # key in few_shot_cot_prompts.json
    split_sizes: dict[str, int] = field(default_factory=dict)  # the paper's sizes; filled for user tasks
    notes: str = ""


class Task:
    """A loaded task: samples by id and the split index lists."""

    def __init__(self, spec: TaskSpec, splits: dict[str, list[int]] | None = None):
        self.spec = spec
        self._splits = splits

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def answer_format(self) -> AnswerFormat:
        return self.spec.answer_format

    @cached_property
    def by_id(self) -> dict[int, Sample]:
        return self.spec.load()

    @cached_property
    def splits(self) -> dict[str, list[int]]:
        if self._splits is not None:
            return self._splits
        from ftcot.sources import fetch

        result = {}
        schemes = ["default"] + (["template"] if self.spec.template_split else [])
        for scheme in schemes:
            path = fetch(f"itsnamgyu/reasoning-teacher/data/split/{self.spec.split_file}__{scheme}.json")
            data = json.loads(path.read_text())
            prefix = "" if scheme == "default" else f"{scheme}_"
            result[prefix + "train"] = data["train"]
            result[prefix + "test"] = data["test"]
        return result

    def split_ids(self, split: str) -> list[int]:
        if split == "all":
            return sorted(self.by_id)
        if split not in self.splits:
            raise DataError(
                f"task {self.name!r} has no split {split!r}; it has: all, {', '.join(self.splits)}"
            )
        return self.splits[split]

    def samples(self, split: str = "all", limit: int | None = None) -> list[Sample]:
        ids = self.split_ids(split)
        missing = [i for i in ids if i not in self.by_id]
        if missing:
            raise DataError(
                f"task {self.name!r}, split {split!r}: {len(missing)} of {len(ids)} samples are not available "
                f"(first missing id {missing[0]}). {self.spec.notes}".strip()
            )
        samples = [self.by_id[i] for i in ids]
        return samples[:limit] if limit is not None else samples

    def split_sizes(self) -> dict[str, int]:
        if self.spec.split_sizes:
            return dict(self.spec.split_sizes)
        return {name: len(ids) for name, ids in self.splits.items()}
