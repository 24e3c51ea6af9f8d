"""The training files an API student's job is given, and the fingerprint that names the job."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ftcot.curate import training_examples
from ftcot.errors import ConfigError
from ftcot.prompts import END_PHRASE
from ftcot.records import iter_jsonl
from ftcot.sources import sha256_of
from ftcot.tasks.generators import write_jsonl
from ftcot.train.openai_student.config import APITrainConfig


@dataclass(frozen=True)
class TrainingFiles:
    train: Path
    val: Path | None  # None: no validation examples
    train_examples: int
    val_examples: int


def training_files(config: APITrainConfig) -> TrainingFiles:
    """The JSONL files to upload: curate's chat export, or prompt/completion files written to OUT."""
    data_dir = Path(config.data_dir)
    if not (data_dir / "train.jsonl").is_file():
        raise ConfigError(f"{data_dir}: no train.jsonl; give a data folder written by `ftcot curate`")
    paths = _chat_files(config) if config.endpoint == "chat" else _completion_files(config)
    counts = [len(read_rows(p)) for p in paths]
    if counts[0] == 0:
        raise ConfigError(f"{paths[0]}: no training examples for {config.method}")
    return TrainingFiles(paths[0], paths[1] if counts[1] else None, counts[0], counts[1])


def _chat_files(config: APITrainConfig) -> list[Path]:
    """Curate's chat export of the method, train and val."""
    folder = Path(config.data_dir) / "openai"
    paths = [folder / f"{config.method}.{split}.jsonl" for split in ("train", "val")]
    if not paths[0].is_file():
        raise ConfigError(f"{paths[0]}: missing; curate the data again with this version of ftcot")
    return paths


def _completion_files(config: APITrainConfig) -> list[Path]:
    """Prompt/completion files of the curated rows, written to OUT/openai/."""
    paths = []
    for split in ("train", "val"):
        rows = read_rows(Path(config.data_dir) / f"{split}.jsonl")
        path = Path(config.out) / "openai" / f"{config.method}.{split}.completions.jsonl"
        write_jsonl(completion_examples(rows, config.method), path)
        paths.append(path)
    return paths


def completion_examples(rows: list[dict], method: str) -> list[dict]:
    """Prompt/completion pairs in the paper's format, ending with ` END` so the student learns to stop;
    the same examples as curate's chat export (vanilla: one per question)."""
    return [
        {"prompt": e.prompt, "completion": e.completion + END_PHRASE} for e in training_examples(rows, method)
    ]


def read_rows(path: Path) -> list[dict]:
    """The objects of a JSONL file; none when there is no file."""
    return [row for _, row in iter_jsonl(path)] if path.is_file() else []


def fingerprint(config: APITrainConfig, files: TrainingFiles) -> str:
    """The job's identity: the training data and every setting that changes the trained model."""
    payload = {
        "train": sha256_of(files.train),
        "val": sha256_of(files.val) if files.val else None,
        **config.job_settings(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_suffix(config: APITrainConfig, fp: str) -> str:
    """The model name suffix: the user's, else one that carries the fingerprint (found again by it)."""
    return config.suffix or f"ftcot-{fp[:12]}"
