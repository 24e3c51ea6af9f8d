"""The recorded teacher: text-davinci-002's Zero-shot-CoT logs (Kojima et al.) as completion records.

The logs list every sample of a dataset in a shuffled order and render questions their own
way: `Answer Choices: (A) x (B) y`, `\\nWhich choice is true ? Answer Choices: (A) Sam. (B) Helga.`,
AQuA's spaces around every parenthesis. Entries are matched to our samples by a key that
no rendering changes: the question stem with whitespace, case, quotes and the spacing before
punctuation normalised and any "Which choice is true?" dropped, plus the set of choice texts
without their separators. Option letters are mapped to ours through the choice text (Date
Understanding's choices were shuffled differently). Every entry is accounted for: matched,
unmatched or ambiguous, and the teach manifest and log say how many of each.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ftcot.answers import check
from ftcot.errors import DataError
from ftcot.manifests import BackendInfo, TeachManifest, TeachYield
from ftcot.prompts import COT_TRIGGER
from ftcot.records import Completion, RecordWriter, write_manifest
from ftcot.sources import fetch
from ftcot.tasks import Sample, Task
from ftcot.teach.config import TeachConfig
from ftcot.teach.cost import CostTracker, price_for, yield_report
from ftcot.teach.status import stopped_by

log = logging.getLogger("ftcot.teach")

MODEL = "text-davinci-002"
ENTRY_SEPARATOR = "*************************\n"
_TRIGGER_ARG = re.compile(r"direct_answer_trigger='((?:[^'\\]|\\.)*)'")
_CHOICES_MARK = re.compile(r"\s*Answer choices\s*:\s*", re.IGNORECASE)
_OPTION = re.compile(r"\(([A-F])\)\s*")
_WHICH_CHOICE = re.compile(r"\s*Which choice is true\s*\?\s*$", re.IGNORECASE)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([?.,!:;])")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
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


def normalize_text(text: str) -> str:
    """Text as no rendering changes it: NFKC, straight quotes, single spaces, none before
    punctuation (`true ?` is `true?`), lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split())).lower()


def normalize_choice(text: str) -> str:
    # AQuA's log put spaces around every parenthesis; lists end choices with ',' or '.' (`(A) Sam.`).
    return "".join(unicodedata.normalize("NFKC", text).split()).lower().rstrip(".,;")


def split_choices(question: str) -> tuple[str, list[str]]:
    """The stem and the choice texts of a question however it rendered them (`Answer Choices: (A) x
    (B) y`, `Answer choices: (A) x, (B) y.`); a question without choices is all stem."""
    marks = list(_CHOICES_MARK.finditer(question))
    if not marks:
        return question, []
    stem, rest = question[: marks[-1].start()], question[marks[-1].end() :]
    parts = _OPTION.split(rest)  # ['', 'A', '550 ', 'B', '570 ', ...]
    return _WHICH_CHOICE.sub("", stem), [parts[i].strip() for i in range(2, len(parts), 2)]


def match_key(stem: str, choices: list[str] | tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """What a log entry and a sample must share to be the same question."""
    return normalize_text(stem), tuple(sorted(normalize_choice(c) for c in choices))


def sample_key(sample: Sample) -> tuple[str, tuple[str, ...]]:
    stem, _ = split_choices(sample.question) if sample.choices else (sample.question, [])
    return match_key(stem, sample.choices)


def letter_mapping(log_choices: list[str], our_choices: list[str]) -> dict[str, str]:
    """Log letter -> our letter, through the choice text; repeated texts pair up in order."""
    ours: dict[str, list[str]] = defaultdict(list)
    for i, choice in enumerate(our_choices):
        ours[normalize_choice(choice)].append(chr(ord("A") + i))
    return {chr(ord("A") + i): ours[normalize_choice(c)].pop(0) for i, c in enumerate(log_choices)}


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
    return match_entries(task, entries, log_accuracy)


def match_entries(task: Task, entries: list[LogEntry], log_accuracy: float | None = None) -> ImportResult:
    """Match log entries to the task's samples by `match_key`; every entry ends matched, unmatched or
    ambiguous."""
    result = ImportResult(task.name, len(entries), log_accuracy=log_accuracy)
    by_key: dict[tuple, list[Sample]] = defaultdict(list)
    for sample in sorted(task.by_id.values(), key=lambda s: s.id):
        by_key[sample_key(sample)].append(sample)
    # Identical questions (MultiArith has 20) take their log entries in order, one each.
    taken: dict[tuple, int] = defaultdict(int)

    for entry in entries:
        stem, log_choices = split_choices(entry.question)
        key = match_key(stem, log_choices)
        candidates = by_key.get(key, [])
        if not candidates:
            result.unmatched.append(entry)
            continue
        if taken[key] >= len(candidates):
            result.ambiguous.append(entry)  # more log entries than samples with this question
            continue
        sample = candidates[taken[key]]
        taken[key] += 1
        mapping = letter_mapping(log_choices, list(sample.choices)) if log_choices else {}
        if log_choices:
            if mapping.get(entry.gold, entry.gold) != sample.answer:
                result.gold_mismatch.append((entry, sample))
        elif not check(entry.gold, sample.answer, task.answer_format).correct:
            result.gold_mismatch.append((entry, sample))
        result.records.append(_to_record(sample, entry, mapping))
    return result


def _to_record(sample: Sample, entry: LogEntry, mapping: dict[str, str]) -> Completion:
    prompt = f"Q: {entry.question}\nA: {COT_TRIGGER}"
    return Completion.scored(
        sample, 0, split="", method="zs_cot",
        prompt=prompt,
        rationale=remap_letters(entry.rationale, mapping),
        answer_prompt=f"{prompt}{entry.rationale} {entry.trigger}",
        answer_text=remap_letters(entry.answer_text, mapping),
        finish_reason="stop",
        model=MODEL,
        params={"temperature": 0.0, "max_tokens_rationale": 128, "max_tokens_answer": 32},
        meta={"log_entry": entry.number, "log_gold": entry.gold, **({"letter_map": mapping} if mapping else {})},
    )  # fmt: skip


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


# --- the recorded teacher as a teach run --------------------------------------------------------

# How many unmatched (or ambiguous) log entries the manifest lists by number.
LISTED_ENTRIES = 50


def teach_recorded(config: TeachConfig, task: Task, samples: list[Sample]) -> Path:
    """Write the records of `samples` that the log holds into `config.out`, with a manifest saying how
    the log matched (entries, matched, unmatched, ambiguous) and which split samples have no entry."""
    if config.diverse > 1:
        log.warning(
            "the recorded teacher has one rationale per question; --diverse %d is ignored", config.diverse
        )
    records, result = recorded_teacher(task, config.split)
    wanted = {s.id for s in samples}
    records = [r for r in records if r.sample_id in wanted]
    imported = {
        **result.summary(),
        "unmatched_entries": [e.number for e in result.unmatched][:LISTED_ENTRIES],
        "ambiguous_entries": [e.number for e in result.ambiguous][:LISTED_ENTRIES],
        "split_samples": len(wanted),
        "split_without_entry": len(wanted) - len(records),
    }
    manifest = TeachManifest(
        method="zs_cot",
        teacher="recorded",
        diverse=1,  # a log holds one rationale per question (curate and reports read D from here)
        backend=BackendInfo(backend="recorded", model=MODEL),
        task=task.name,
        split=config.split,
        limit=config.limit,
        questions=len(samples),
        import_=imported,
    )
    try:
        with RecordWriter(config.out, manifest=manifest.replace(status="running")) as writer:
            for record in records:
                writer.write(record)
    except BaseException as e:  # noqa: BLE001 - recorded in the manifest, then raised again
        status, error = stopped_by(e)
        write_manifest(config.out, manifest.replace(status=status, error=error))
        raise
    _log_import(result, imported, config.split)
    costs = CostTracker(MODEL, price_for("recorded", MODEL, {}))
    write_manifest(
        config.out,
        manifest.replace(
            status="complete", samples=len(records), yield_=TeachYield(**yield_report(records, costs))
        ),
    )
    return config.out


def _log_import(result: ImportResult, imported: dict, split: str) -> None:
    counts = (
        f"recorded teacher, {result.task}: {result.entries} log entries, {len(result.records)} matched, "
        f"{len(result.unmatched)} unmatched, {len(result.ambiguous)} ambiguous; "
        f"{imported['split_samples'] - imported['split_without_entry']}/{imported['split_samples']} "
        f"{split} samples have one"
    )
    if not (result.unmatched or result.ambiguous):
        log.info(counts)
        return
    listed = imported["unmatched_entries"] + imported["ambiguous_entries"]
    log.warning(
        "%s (log entries %s%s)", counts, ", ".join(map(str, listed[:10])), "..." if len(listed) > 10 else ""
    )
