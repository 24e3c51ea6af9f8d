"""The recorded teacher: text-davinci-002's Zero-shot-CoT logs (Kojima et al.) as completion records.

The logs list every sample of a dataset in a shuffled order and render multiple-choice
questions their own way (`Answer Choices: (A) x (B) y`). Entries are matched to our
samples by question text (multiple choice: by stem, then by the set of choices); option
letters are mapped to ours through the choice text (Date Understanding's choices were
shuffled differently). Every entry is accounted for: matched, unmatched or ambiguous.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from ftcot.answers import check
from ftcot.errors import DataError
from ftcot.prompts import COT_TRIGGER
from ftcot.records import Completion
from ftcot.sources import fetch
from ftcot.tasks import Sample, Task

MODEL = "text-davinci-002"
ENTRY_SEPARATOR = "*************************\n"
_TRIGGER_ARG = re.compile(r"direct_answer_trigger='((?:[^'\\]|\\.)*)'")
_CHOICES_MARK = " Answer Choices: "
_LOG_OPTION = re.compile(r"\(([A-F])\)\s*")
_STANDALONE_LETTER = re.compile(r"\b([A-F])\b")


@dataclass
class LogEntry:
    number: int  # position in the log (1-based, as the log counts)
    question: str  # as the log rendered it
    rationale: str  # step-1 completion, raw
    answer_text: str  # step-2 completion, raw
    gold: str  # the log's GT line
    trigger: str


@dataclass
class ImportResult:
    task: str
    entries: int
    records: list[Completion] = field(default_factory=list)
    unmatched: list[LogEntry] = field(default_factory=list)
    ambiguous: list[LogEntry] = field(default_factory=list)
    gold_mismatch: list[tuple[LogEntry, Sample]] = field(default_factory=list)
    log_accuracy: float | None = None

    def summary(self) -> dict:
        return {
            "task": self.task,
            "entries": self.entries,
            "matched": len(self.records),
            "unmatched": len(self.unmatched),
            "ambiguous": len(self.ambiguous),
            "gold_mismatch": len(self.gold_mismatch),
            "log_accuracy": self.log_accuracy,
        }


def parse_log(text: str, source: str = "log") -> tuple[list[LogEntry], float | None]:
    """Entries of a Kojima Zero-shot-CoT log, and its final `accuracy :` line."""
    m = _TRIGGER_ARG.search(text)
    if m is None:
        raise DataError("no direct_answer_trigger in the log header", path=source, line=2)
    trigger = m.group(1).encode("latin-1", "backslashreplace").decode("unicode_escape")
    acc = re.search(r"^accuracy : ([0-9.]+)\s*$", text, re.M)
    entries = []
    for block in text.split(ENTRY_SEPARATOR):
        head = re.match(r"(\d+)st data\n\d+_th_sampling\nQ: ", block)
        if head is None:
            continue
        body = block[head.end() :]
        q_end = body.find(f"\nA: {COT_TRIGGER}")
        pred_at = body.rfind("\npred_before : ")
        if q_end == -1 or pred_at == -1:
            raise DataError(f"entry {head.group(1)} is not in the Zero-shot-CoT layout", path=source)
        question = body[:q_end]
        after_cot = body[q_end + len(f"\nA: {COT_TRIGGER}") : pred_at]
        # Kojima printed: prompt + rationale + " " + trigger + answer; the last trigger is the inserted one.
        cut = after_cot.rfind(" " + trigger)
        if cut == -1:
            raise DataError(f"entry {head.group(1)}: answer trigger {trigger!r} not found", path=source)
        gt = re.search(r"\nGT : (.*)", body[pred_at:])
        entries.append(
            LogEntry(
                number=int(head.group(1)),
                question=question,
                rationale=after_cot[:cut],
                answer_text=after_cot[cut + 1 + len(trigger) :],
                gold=gt.group(1).strip() if gt else "",
                trigger=trigger,
            )
        )
    return entries, float(acc.group(1)) if acc else None


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _norm_choice(text: str) -> str:
    # Kojima's AQuA rendering put spaces around every parenthesis: compare choices without whitespace.
    return "".join(text.split()).lower().rstrip(".")


def _split_log_choices(question: str) -> tuple[str, list[str]]:
    stem, mark, rest = question.partition(_CHOICES_MARK)
    if not mark:
        return question, []
    parts = _LOG_OPTION.split(rest)  # ['', 'A', '550 ', 'B', '570 ', ...]
    return stem, [parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)]


def _our_stem(sample: Sample) -> str:
    stem = sample.question.split(" Answer choices: ")[0] if sample.choices else sample.question
    return stem.removesuffix("\nWhich choice is true?")


def letter_mapping(log_choices: list[str], our_choices: list[str]) -> dict[str, str]:
    """Log letter -> our letter, through the choice text; repeated texts pair up in order."""
    ours: dict[str, list[str]] = defaultdict(list)
    for i, choice in enumerate(our_choices):
        ours[_norm_choice(choice)].append(chr(ord("A") + i))
    return {chr(ord("A") + i): ours[_norm_choice(c)].pop(0) for i, c in enumerate(log_choices)}


def remap_letters(text: str, mapping: dict[str, str]) -> str:
    """Rewrite standalone option letters (`D`, `(D)`) from the log's lettering to ours."""
    if all(k == v for k, v in mapping.items()):
        return text
    return _STANDALONE_LETTER.sub(lambda m: mapping.get(m.group(1), m.group(1)), text)


def import_log(task: Task) -> ImportResult:
    """Match every entry of the task's Zero-shot-CoT log to a sample of the task."""
    spec = task.spec
    if spec.log is None:
        raise DataError(f"task {task.name!r} has no recorded teacher log")
    path = fetch(f"kojima-takeshi188/zero_shot_cot/log/{spec.log}_zero_shot_cot.log")
    entries, log_accuracy = parse_log(path.read_text(encoding="utf-8"), source=str(path))
    result = ImportResult(task.name, len(entries), log_accuracy=log_accuracy)

    by_stem: dict[str, list[Sample]] = defaultdict(list)
    for sample in task.by_id.values():
        by_stem[_norm(_our_stem(sample))].append(sample)
    # Identical questions (MultiArith has 20) take their log entries in order, one each.
    taken: dict[str, int] = defaultdict(int)

    for entry in entries:
        stem, log_choices = _split_log_choices(entry.question)
        candidates = by_stem.get(_norm(stem), [])
        if log_choices:
            want = sorted(_norm_choice(c) for c in log_choices)
            candidates = [s for s in candidates if sorted(_norm_choice(c) for c in s.choices) == want]
        key = _norm(entry.question)
        if not candidates:
            result.unmatched.append(entry)
            continue
        index = taken[key]
        if index >= len(candidates):
            result.ambiguous.append(entry)  # more log entries than samples with this question
            continue
        taken[key] += 1
        sample = sorted(candidates, key=lambda s: s.id)[index]
        mapping = letter_mapping(log_choices, list(sample.choices)) if log_choices else {}
        if log_choices:
            if mapping.get(entry.gold, entry.gold) != sample.answer:
                result.gold_mismatch.append((entry, sample))
        elif not check(entry.gold, sample.answer, task.answer_format).correct:
            result.gold_mismatch.append((entry, sample))
        result.records.append(_to_record(task, sample, entry, mapping))
    return result


def _to_record(task: Task, sample: Sample, entry: LogEntry, mapping: dict[str, str]) -> Completion:
    prompt = f"Q: {entry.question}\nA: {COT_TRIGGER}"
    record = Completion(
        task=task.name,
        sample_id=sample.id,
        sample_index=0,
        method="zs_cot",
        question=sample.question,
        gold=sample.answer,
        answer_type=sample.answer_type,
        prompt=prompt,
        rationale=remap_letters(entry.rationale, mapping),
        answer_prompt=f"{prompt}{entry.rationale} {entry.trigger}",
        answer_text=remap_letters(entry.answer_text, mapping),
        finish_reason="stop",
        model=MODEL,
        params={"temperature": 0.0, "max_tokens_rationale": 128, "max_tokens_answer": 32},
        meta={
            "log_entry": entry.number,
            "log_gold": entry.gold,
            **({"letter_map": mapping} if mapping else {}),
        },
    )
    return record.rescore()


def recorded_teacher(task: Task, split: str) -> tuple[list[Completion], ImportResult]:
    """Records of the recorded teacher for one split, in split order; samples without an entry are listed."""
    result = import_log(task)
    by_id = {r.sample_id: r for r in result.records}
    ids = task.split_ids(split)
    records = []
    for sample_id in ids:
        if sample_id in by_id:
            record = by_id[sample_id]
            record.split = split
            records.append(record)
    return records, result
