"""An API student's train manifest: its data, its format, the job as the service last reported it,
and the result of a job that ended."""

from __future__ import annotations

import logging
from pathlib import Path

from ftcot.errors import Incomplete
from ftcot.prompts import END_PHRASE
from ftcot.records import read_manifest, write_manifest
from ftcot.redact import redact, redact_url
from ftcot.sources import sha256_of
from ftcot.train.openai_student.client import sdk_field
from ftcot.train.openai_student.config import APITrainConfig
from ftcot.train.openai_student.files import TrainingFiles

log = logging.getLogger("ftcot.train")

# Where a completions student stops (it learnt to end with ` END`); harmless for chat.
STOP = [END_PHRASE.strip()]


def student_format(config: APITrainConfig) -> dict:
    """How `ftcot eval` prompts the student: the trained method and endpoint, the stop sequence."""
    return {
        "method": config.method,
        "question_prefix": "",
        "trained_as": config.method,
        "endpoint": config.endpoint,
        "stop": STOP,
    }


def train_manifest(config: APITrainConfig, files: TrainingFiles, fp: str, estimated: dict) -> dict:
    """The train manifest of an API student, less the job (`with_job` adds it)."""
    data_dir = Path(config.data_dir)
    curated = read_manifest(data_dir)
    train_rows = data_dir / "train.jsonl"
    val_rows = data_dir / "val.jsonl"
    return {
        "stage": "train",
        "data": {
            "dir": str(data_dir),
            "train_sha256": sha256_of(train_rows),
            "val_sha256": sha256_of(val_rows) if val_rows.is_file() else None,
            "train_rows": files.train_examples,
            "curate": curated.get("yield"),
        },
        # The curate stage's facts (teacher, D, questions, rows), carried for reports, as local students do.
        "dataset": {**(curated.get("dataset") or {}), "trained_rows": files.train_examples},
        "student_format": student_format(config),
        "model": {"student": config.student},
        "hyperparameters": config.model_dump(mode="json", exclude={"dry_run", "progress"}),
        "api": {
            "base_url": redact_url(config.base_url),  # never user:password@ or ?key=
            "api_key_env": config.api_key_env,
            "endpoint": config.endpoint,
            "fingerprint": fp,
            "train_file": str(files.train),
            "val_file": str(files.val) if files.val else None,
            "train_examples": files.train_examples,
            "val_examples": files.val_examples,
            "estimate": estimated,
        },
    }


def with_job(manifest: dict, job, *, status: str, error: str | None = None) -> dict:
    """The manifest with the job as the service last reported it; `fine_tuned_model` is what
    `ftcot eval` and reports read."""
    manifest["api"].update(
        job_id=job.id,
        fine_tuned_model=sdk_field(job, "fine_tuned_model"),
        trained_tokens=sdk_field(job, "trained_tokens"),
        job=job_summary(job),
    )
    return {**manifest, "status": status, "error": error}


def job_summary(job) -> dict:
    error = sdk_field(job, "error")
    hyperparameters = sdk_field(job, "hyperparameters")
    return {
        "id": job.id,
        "status": job.status,
        "base_model": sdk_field(job, "model"),
        "fine_tuned_model": sdk_field(job, "fine_tuned_model"),
        "trained_tokens": sdk_field(job, "trained_tokens"),
        "created_at": sdk_field(job, "created_at"),
        "finished_at": sdk_field(job, "finished_at"),
        "training_file": sdk_field(job, "training_file"),
        "validation_file": sdk_field(job, "validation_file"),
        "hyperparameters": hyperparameters.model_dump() if hyperparameters is not None else None,
        "seed": sdk_field(job, "seed"),
        "error": {"code": str(error.code), "message": redact(str(error.message))} if error else None,
    }


def finish(config: APITrainConfig, out: Path, manifest: dict, job) -> Path:
    """The manifest of a job that ended: "complete" only when it succeeded and named its model."""
    trained = sdk_field(job, "trained_tokens")
    manifest["api"]["cost"] = _cost(manifest["api"]["estimate"], trained)
    if job.status == "succeeded" and sdk_field(job, "fine_tuned_model"):
        write_manifest(out, with_job(manifest, job, status="complete"))
        log.info("fine-tuned %s: %s (%s trained tokens)", config.base_model, job.fine_tuned_model, trained)
        return out
    error = redact(_job_error(job))
    status = "cancelled" if job.status == "cancelled" else "failed"
    write_manifest(out, with_job(manifest, job, status=status, error=error))
    raise Incomplete(f"{error}; a rerun starts a new job", status=status)


def _cost(estimated: dict, trained: int | None) -> dict:
    """What the job cost: its trained tokens at the estimate's price."""
    price = estimated["price_per_1m_training_tokens"]
    return {
        "usd": round(trained * price / 1e6, 4) if trained is not None and price is not None else None,
        "estimated_usd": estimated["cost"],
        "price_per_1m_training_tokens": price,
        "note": "trained tokens x the price table (example prices; --prices overrides them)",
    }


def _job_error(job) -> str:
    """Why a job that ended gave no model."""
    if job.status == "succeeded":
        return f"fine-tuning job {job.id} succeeded but the server named no fine-tuned model"
    reason = sdk_field(job, "error")
    return f"fine-tuning job {job.id} {job.status}" + (f": {reason.code}: {reason.message}" if reason else "")
