"""User tasks: your own questions from JSONL, CSV or a Hugging Face dataset, in the task schema.

Columns are mapped by name; the answer type decides how answers are parsed and compared
(number, number:float, choice, yesno, letters, text). A malformed row raises a DataError
naming the file, line and field. Without a split column, the paper's random split is used:
`RandomState(seed).permutation(N)`, the first round(0.7 N) are train.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ftcot.answers import AnswerFormat
from ftcot.errors import ConfigError, DataError, explain_invalid, unknown_key
from ftcot.records import iter_jsonl
from ftcot.tasks.base import Sample, Task, TaskSpec
from ftcot.tasks.loaders import render_choices
from ftcot.tasks.registry import TRIGGER_GENERIC, TRIGGER_NUMBER, TRIGGER_YESNO, trigger_choices


def slug(text: str) -> str:
    """A file- and CLI-safe task name: 'My Data v2' -> 'my_data_v2'."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "task"


SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "validation": "test",
    "dev": "test",
    "valid": "test",
}


class UserTaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo (answer_typ) must not fall back to a default

    source: str = Field(description="a .jsonl/.json/.csv file, or hf:<dataset id>")
    name: str | None = None
    answer_type: str = Field("text", description="number, number:float, choice, yesno, letters or text")
    question_field: str = "question"
    answer_field: str = "answer"
    choices_field: str | None = None
    id_field: str | None = None
    split_field: str | None = None
    train_fraction: float = 0.7
    seed: int = 0
    hf_config: str | None = None


def _rows(config: UserTaskConfig) -> list[tuple[int | None, dict, str]]:
    """(line number or None, row, origin) for each row; HF datasets add a `split` column from their splits."""
    source = config.source
    if source.startswith("hf:"):
        import datasets

        loaded = datasets.load_dataset(source[3:], config.hf_config)
        out = []
        for split_name, part in loaded.items():
            out += [
                (None, {**row, "__split__": split_name}, f"{source}[{split_name}][{i}]")
                for i, row in enumerate(part)
            ]
        return out
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError("file not found", path=path)
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return [(reader.line_num, row, str(path)) for row in reader]
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data.get("examples", data) if isinstance(data, dict) else data
        return [(None, row, f"{path}[{i}]") for i, row in enumerate(data)]
    return [(line_no, row, str(path)) for line_no, row in iter_jsonl(path)]


def _field(row: dict, name: str, origin: str, line: int | None) -> Any:
    if not isinstance(row, dict) or name not in row or row[name] is None or str(row[name]).strip() == "":
        raise DataError(
            "missing or empty (map it with --question-field/--answer-field)",
            path=origin,
            line=line,
            field=name,
        )
    return row[name]


def _choices(value: Any, origin: str, line: int | None, name: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)  # CSV cells hold a JSON list
        except json.JSONDecodeError:
            value = [c for c in value.split("|")]
    if isinstance(value, dict) and "text" in value:  # HF style {"label": [...], "text": [...]}
        value = value["text"]
    if not isinstance(value, list) or len(value) < 2 or len(value) > 26:
        raise DataError(
            "choices must be a list of 2 to 26 options (JSON list or 'a|b|c')",
            path=origin,
            line=line,
            field=name,
        )
    return [str(c).strip() for c in value]


def _answer(
    value: Any, fmt: AnswerFormat, choices: list[str], origin: str, line: int | None, name: str
) -> str:
    text = str(value).strip()
    if fmt.kind == "number":
        try:
            float(text.replace(",", ""))
        except ValueError:
            raise DataError(
                f"answer {text!r} is not a number (answer type {fmt})", path=origin, line=line, field=name
            ) from None
        return text.replace(",", "")
    if fmt.kind == "yesno":
        if text.lower() not in ("yes", "no", "true", "false"):
            raise DataError(f"answer {text!r} is not yes/no", path=origin, line=line, field=name)
        return {"true": "yes", "false": "no"}.get(text.lower(), text.lower())
    if fmt.kind == "choice":
        letters = fmt.letters
        if len(text) == 1 and text.upper() in letters:
            return text.upper()
        if text.isdigit() and int(text) < len(choices):
            return letters[int(text)]
        if text in choices:
            return letters[choices.index(text)]
        raise DataError(
            f"answer {text!r} is neither a letter, an index nor one of the choices",
            path=origin,
            line=line,
            field=name,
        )
    return text


def _trigger(fmt: AnswerFormat) -> str:
    if fmt.kind == "number":
        return TRIGGER_NUMBER
    if fmt.kind == "yesno":
        return TRIGGER_YESNO
    if fmt.kind == "choice":
        return trigger_choices(fmt.letters)
    return TRIGGER_GENERIC


def load_task_card(path: Path) -> Task:
    """A task card: a TOML file of UserTaskConfig's keys; `source` is relative to the card."""
    import tomllib

    try:
        card = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("task card not found", path=path) from None
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"not valid TOML ({e})", path=path) from None
    _check_keys(card, str(path))
    if "source" not in card:
        raise DataError("a task card needs `source` (a data file or hf:<dataset>)", path=path, field="source")
    source = str(card.pop("source"))
    if not source.startswith("hf:") and not Path(source).is_absolute():
        source = str(path.parent / source)  # relative to the card
    card.setdefault("name", path.stem)
    return load_user_task(source, where=str(path), **card)


def _check_keys(options: dict, where: str) -> None:
    for key in options:
        if key not in UserTaskConfig.model_fields:
            raise unknown_key(key, UserTaskConfig.model_fields, where)


def load_user_task(source: str, *, where: str | None = None, **options: Any) -> Task:
    """A user task from a data file or hf:<dataset>; `where` names the task card in errors."""
    options = {k: v for k, v in options.items() if v is not None}
    where = where or source
    _check_keys(options, where)
    try:
        config = UserTaskConfig(source=source, **options)
    except ValidationError as e:
        raise ConfigError(explain_invalid(e, where)) from None
    rows = _rows(config)
    if not rows:
        raise DataError("no rows", path=config.source)
    answer_type = config.answer_type
    if answer_type == "choice":
        n_choices = max(
            len(_choices(r[config.choices_field or "choices"], o, ln, config.choices_field or "choices"))
            for ln, r, o in rows
        )
        answer_type = "choice:" + "".join(chr(ord("A") + i) for i in range(n_choices))
    try:
        fmt = AnswerFormat.parse(answer_type)
    except ValueError as e:
        raise DataError(str(e), field="answer_type") from None
    name = config.name or slug(Path(config.source.removeprefix("hf:")).stem)

    samples: dict[int, Sample] = {}
    split_of: dict[int, str] = {}
    for index, (line, row, origin) in enumerate(rows):
        question = str(_field(row, config.question_field, origin, line)).strip()
        choices: list[str] = []
        if fmt.kind == "choice":
            choices_field = config.choices_field or "choices"
            choices = _choices(_field(row, choices_field, origin, line), origin, line, choices_field)
            question = render_choices(question, choices)
        answer = _answer(
            _field(row, config.answer_field, origin, line), fmt, choices, origin, line, config.answer_field
        )
        sample_id = index
        if config.id_field:
            try:
                sample_id = int(_field(row, config.id_field, origin, line))
            except (TypeError, ValueError):
                raise DataError(
                    "id must be an integer", path=origin, line=line, field=config.id_field
                ) from None
            if sample_id in samples:
                raise DataError(f"duplicate id {sample_id}", path=origin, line=line, field=config.id_field)
        samples[sample_id] = Sample(name, sample_id, question, answer, str(fmt), tuple(choices))
        split_value = (
            row.get("__split__")
            if config.split_field is None
            else _field(row, config.split_field, origin, line)
        )
        if split_value is not None:
            split = SPLIT_ALIASES.get(str(split_value).lower())
            if split is None:
                raise DataError(
                    f"split {split_value!r} is not train/test",
                    path=origin,
                    line=line,
                    field=config.split_field,
                )
            split_of[sample_id] = split

    splits = _splits(sorted(samples), split_of, config)
    spec = TaskSpec(
        name=name,
        title=name,
        answer_format=fmt,
        trigger=_trigger(fmt),
        load=lambda: samples,
        split_file=None,
        split_sizes={k: len(v) for k, v in splits.items()},
        notes=f"user task from {config.source}",
    )
    return Task(spec, splits)


def _splits(ids: list[int], split_of: dict[int, str], config: UserTaskConfig) -> dict[str, list[int]]:
    if split_of and len(split_of) == len(ids) and set(split_of.values()) >= {"train", "test"}:
        return {s: sorted(i for i in ids if split_of[i] == s) for s in ("train", "test")}
    # The paper's random split, by position.
    order = np.random.RandomState(config.seed).permutation(len(ids))
    n_train = round(len(ids) * config.train_fraction)
    return {
        "train": sorted(ids[i] for i in order[:n_train]),
        "test": sorted(ids[i] for i in order[n_train:]),
    }
