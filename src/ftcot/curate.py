"""Curate: turn a teacher's completion records into student training data.

Reads a teacher run folder (``completions.jsonl``), keeps the rationales a student should
learn from and writes a data folder:

  train.jsonl   one row per kept rationale; a training question with no kept rationale
                still gets one row with ``rationale: null`` so that the vanilla baseline
                (question -> gold answer) trains on every training question, as in the paper
  val.jsonl     one row per validation question (gold answer; a kept rationale if any),
                carved from the *train* questions by question text, so no question is in both
  openai/       the same data as OpenAI chat fine-tuning JSONL (ft_cot and vanilla)
  manifest.json inputs, `dataset` (teacher, its D, train/val questions and rows: what reports
                read), settings and the yield: questions covered, samples per question,
                records dropped and why

Rows hold the plain fields (task, sample_id, sample_index, question, answer, answer_type,
rationale); the trainer renders them with `ftcot.prompts` for the method (Fine-tune-CoT or
vanilla) and the architecture (decoder or encoder-decoder), so one folder serves all four.

Every record is accounted for once in the manifest: in the test split (dropped), of a
validation question, of a training question outside the N-question subsample
(not_sampled), dropped by the first filter that applies (empty, truncated, incorrect
unless keep_all, arithmetic when asked, duplicate of a kept rationale of the same question,
over_cap), or kept.
The training label is the teacher's rationale with the *gold* answer (the paper's rule).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ftcot import calculator
from ftcot.errors import DataError
from ftcot.manifests import (
    ArithmeticYield,
    CurateInputs,
    CurateManifest,
    CurateYield,
    DatasetFacts,
    Distribution,
    TeachManifest,
    load_manifest,
)
from ftcot.prompts import TrainingExample, clean_rationale, ft_cot_example, vanilla_example
from ftcot.records import Completion, read_records, write_manifest
from ftcot.sources import sha256_of

log = logging.getLogger(__name__)

TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"
DROP_REASONS = ("test_split", "not_sampled", "empty", "truncated", "incorrect", "duplicate", "over_cap")


class CurateConfig(BaseModel):
    """Settings of `ftcot curate`; every field is a CLI option."""

    run_dir: Path = Field(description="Teacher run folder (or its completions.jsonl).")
    out: Path = Field(description="Data folder to write.")
    keep_all: bool = Field(
        False, description="Keep incorrect rationales too (the paper's no-filter ablation)."
    )
    max_per_question: int | None = Field(None, ge=1, description="Keep at most K rationales per question.")
    train_questions: int | None = Field(
        None, ge=1, description="Subsample N training questions (the paper's 8/32/128-shot ablations)."
    )
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of train questions held out.")
    seed: int = Field(0, description="Seed of the validation split and the question subsample.")
    arithmetic: Literal["keep", "drop", "repair"] = Field(
        "keep",
        description="Rationales with an equation whose stated result is wrong (ftcot.calculator): keep them "
        "(the paper), drop them, or repair them (the calculator's result written in; dropped when the wrong "
        "number is used again later or is the answer, as a repair would change the reasoning).",
    )


def curate(config: CurateConfig) -> Path:
    """Write train.jsonl, val.jsonl, the OpenAI exports and the manifest; return the data folder."""
    records = read_records(config.run_dir)
    if not records:
        raise DataError("no completion records to curate", path=config.run_dir)
    for record in records:
        _validate_record(record, config.run_dir)
        record.rescore()  # filter with the one shared checker, whatever the teacher stored

    dropped: Counter[str] = Counter({reason: 0 for reason in DROP_REASONS})
    if config.arithmetic != "keep":
        dropped["arithmetic"] = 0
    pool = [r for r in records if r.split != "test"]
    dropped["test_split"] = len(records) - len(pool)
    if not pool:
        raise DataError(
            "every record is from the test split; curate a teacher run on train", path=config.run_dir
        )

    val_keys, train_keys = split_questions(pool, config.val_fraction, config.seed)
    train_keys = subsample(train_keys, config.train_questions, config.seed)
    val_records = [r for r in pool if _question_key(r) in val_keys]
    train_records = [r for r in pool if _question_key(r) in train_keys]
    dropped["not_sampled"] = len(pool) - len(val_records) - len(train_records)

    kept = select_rationales(train_records, config, dropped)
    val_kept = select_rationales(val_records, config, Counter())  # val drops are not training drops
    train_rows = []
    for first in _first_per_question(train_records):
        rationales = kept.get(_question_key(first), [])
        train_rows.extend(_row(r, r.rationale) for r in rationales)
        if not rationales:
            train_rows.append(_row(first, None))
    val_rows = []
    for first in _first_per_question(val_records):
        rationales = val_kept.get(_question_key(first), [])
        val_rows.append(_row(first, rationales[0].rationale if rationales else None))
    if not any(row["rationale"] is not None for row in train_rows):
        raise DataError(
            "no rationale survived curation (see the drop counts; try --keep-all)", path=config.run_dir
        )

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / TRAIN_FILE, train_rows)
    _write_jsonl(out / VAL_FILE, val_rows)
    exports = write_openai_exports(out, train_rows, val_rows)
    manifest = _manifest(config, records, train_rows, val_rows, dropped, exports, len(val_records))
    if config.arithmetic != "keep":
        repaired = sum(r.meta.get("arithmetic_repaired", False) for rs in kept.values() for r in rs)
        manifest.yield_.arithmetic = ArithmeticYield(
            mode=config.arithmetic, dropped=dropped["arithmetic"], repaired=repaired
        )
    write_manifest(out, manifest)
    return out


# --- selection ----------------------------------------------------------------------------------


def _question_key(record: Completion) -> tuple[str, str]:
    """Questions are grouped by text, not id: MultiArith repeats 20 questions under two ids."""
    return (record.task, " ".join(record.question.split()).lower())


def split_questions(records: list[Completion], val_fraction: float, seed: int) -> tuple[set, set]:
    """(val keys, train keys): a seeded, question-level split of the training questions."""
    keys = sorted({_question_key(r) for r in records})
    random.Random(seed).shuffle(keys)
    n_val = round(len(keys) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(keys) > 1:
        n_val = 1
    return set(keys[:n_val]), set(keys[n_val:])


def subsample(train_keys: set, n: int | None, seed: int) -> set:
    """N training questions chosen with the seed (all of them when N is None or too large)."""
    if n is None or n >= len(train_keys):
        return train_keys
    # A separate stream from the val split, so that N-shot sets of one seed are nested.
    return set(random.Random(f"subsample-{seed}").sample(sorted(train_keys), n))


def drop_reason(record: Completion, keep_all: bool) -> str | None:
    """Why a single record cannot be a training label (None: it can)."""
    if not (record.rationale or "").strip():
        return "empty"
    if record.rationale_finish_reason == "length" or record.finish_reason == "length":
        return "truncated"
    if not keep_all and not record.correct:
        return "incorrect"
    return None


def check_arithmetic(record: Completion, mode: str) -> tuple[Completion, str | None]:
    """(record, None) when its rationale's equations are right; else, by `mode`, (record, 'arithmetic')
    to drop it, or (a copy with the calculator's results written in, None) when it can be repaired.
    A repaired copy says so in meta['arithmetic_repaired'] (the teacher's text stays in its records)."""
    rationale = record.rationale or ""
    if all(e.correct for e in calculator.find_equations(rationale)):
        return record, None
    fixed = calculator.repair(rationale, answer=record.gold) if mode == "repair" else None
    if fixed is None:
        return record, "arithmetic"
    return dataclasses.replace(
        record, rationale=fixed, meta={**record.meta, "arithmetic_repaired": True}
    ), None


def select_rationales(records: list[Completion], config: CurateConfig, dropped: Counter) -> dict:
    """Kept records by question key: filtered, deduplicated, capped, in sample order."""
    kept: dict[tuple[str, str], list[Completion]] = defaultdict(list)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.task, r.sample_id, r.sample_index)):
        key = _question_key(record)
        reason = drop_reason(record, config.keep_all)
        if reason is None and config.arithmetic != "keep":
            record, reason = check_arithmetic(record, config.arithmetic)
        text = clean_rationale(record.rationale or "")
        if reason is None and text in seen[key]:
            reason = "duplicate"
        if reason is None and config.max_per_question and len(kept[key]) >= config.max_per_question:
            reason = "over_cap"
        if reason:
            dropped[reason] += 1
            continue
        seen[key].add(text)
        kept[key].append(record)
    return kept


def _first_per_question(records: list[Completion]) -> list[Completion]:
    first: dict[tuple[str, str], Completion] = {}
    for record in sorted(records, key=lambda r: (r.task, r.sample_id, r.sample_index)):
        first.setdefault(_question_key(record), record)
    return list(first.values())


def _validate_record(record: Completion, run_dir: Path) -> None:
    for name in ("question", "gold", "answer_type"):
        if not getattr(record, name):
            raise DataError(
                f"record {record.key} has no {name}; curate needs question, gold and answer_type",
                path=run_dir,
                field=name,
            )


# --- output -------------------------------------------------------------------------------------


def _row(record: Completion, rationale: str | None) -> dict:
    return {
        "task": record.task,
        "sample_id": record.sample_id,
        "sample_index": record.sample_index,
        "question": record.question,
        "answer": record.gold,
        "answer_type": record.answer_type,
        "rationale": clean_rationale(rationale) if rationale is not None else None,
        "teacher_correct": record.correct,
    }


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _chat(prompt: str, completion: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion.strip()},
        ]
    }


def write_openai_exports(out: Path, train_rows: list[dict], val_rows: list[dict]) -> dict[str, int]:
    """OpenAI chat fine-tuning files: the paper's decoder prompt as the user turn, the completion as the reply."""
    folder = out / "openai"
    folder.mkdir(exist_ok=True)
    counts = {}
    for split, rows in (("train", train_rows), ("val", val_rows)):
        for method in ("ft_cot", "vanilla"):
            name = f"{method}.{split}.jsonl"
            lines = [_chat(e.prompt, e.completion) for e in training_examples(rows, method)]
            _write_jsonl(folder / name, lines)
            counts[f"openai/{name}"] = len(lines)
    return counts


def training_examples(rows: list[dict], method: str) -> list[TrainingExample]:
    """The examples a method trains on, in the paper's decoder format: ft_cot, one per row with a
    rationale; vanilla, one per question (its first row)."""
    if method == "ft_cot":
        return [
            ft_cot_example(r["question"], r["rationale"], r["answer"])
            for r in rows
            if r.get("rationale") is not None
        ]
    questions: dict[tuple, dict] = {}
    for r in rows:
        questions.setdefault((r["task"], r["sample_id"]), r)
    return [vanilla_example(r["question"], r["answer"]) for r in questions.values()]


def _manifest(config, records, train_rows, val_rows, dropped, exports, n_val_records) -> CurateManifest:
    with_rationale = [r for r in train_rows if r["rationale"] is not None]
    per_question = Counter((r["task"], r["sample_id"]) for r in with_rationale)
    train_questions = {(r["task"], r["sample_id"]) for r in train_rows}
    records_file = Path(config.run_dir)
    records_file = records_file / "completions.jsonl" if records_file.is_dir() else records_file
    teacher = load_manifest(records_file.parent)
    return CurateManifest(
        status="complete",  # written last, after every file of the folder
        inputs=CurateInputs(run_dir=str(config.run_dir), records_sha256=sha256_of(records_file)),
        dataset=dataset_facts(teacher if isinstance(teacher, TeachManifest) else None, train_rows, val_rows),
        settings=config.model_dump(mode="json"),
        yield_=CurateYield(
            records=len(records),
            tasks=sorted({r.task for r in records}),
            train_questions=len(train_questions),
            train_questions_covered=len(per_question),
            val_questions=len(val_rows),
            val_records=n_val_records,
            train_rows_with_rationale=len(with_rationale),
            samples_per_question=_distribution(list(per_question.values())),
            dropped=dict(dropped),
        ),
        files={TRAIN_FILE: len(train_rows), VAL_FILE: len(val_rows), **exports},
    )


def dataset_facts(
    teacher: TeachManifest | None, train_rows: list[dict], val_rows: list[dict]
) -> DatasetFacts:
    """What a student trained on this folder learnt from, stated once so that no reader guesses it:
    the teacher (spec and model) and its D as the teach manifest states them (None when it does not),
    and the questions and rows of each split. D is the teacher's setting, not the most rationales that
    survived for one question (a D=4 teacher can leave at most 3 for every question)."""
    backend = teacher.backend if teacher is not None else None
    return DatasetFacts(
        teacher=teacher.teacher if teacher is not None else None,
        teacher_model=backend.model if backend is not None else None,
        diverse=teacher.diverse if teacher is not None else None,
        train_questions=len({(r["task"], r["sample_id"]) for r in train_rows}),
        train_rows=len(train_rows),
        train_rows_with_rationale=sum(r["rationale"] is not None for r in train_rows),
        val_questions=len({(r["task"], r["sample_id"]) for r in val_rows}),
        val_rows=len(val_rows),
    )


def _distribution(counts: list[int]) -> Distribution:
    if not counts:
        return Distribution(mean=0.0, min=0, max=0, histogram={})
    return Distribution(
        mean=round(sum(counts) / len(counts), 3),
        min=min(counts),
        max=max(counts),
        histogram={str(k): v for k, v in sorted(Counter(counts).items())},
    )
