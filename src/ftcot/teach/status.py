"""How a teacher run ended, and whether its folder is finished (the pipeline asks before skipping)."""

from __future__ import annotations

import asyncio

from ftcot.records import read_manifest, read_records
from ftcot.redact import redact
from ftcot.tasks import Sample, Task, get_task
from ftcot.teach.backends import RequestRefused, parse_teacher
from ftcot.teach.config import TeachConfig


def stopped_by(error: BaseException) -> tuple[str, str | None]:
    """The status and the (redacted) error of a run that `error` ended."""
    if isinstance(error, KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted", None
    if isinstance(error, RequestRefused):
        return "refused", redact(str(error))
    # CircuitOpen (the server failed everything), a corrupt cache, a bug: what is written is kept.
    return "failed", redact(f"{type(error).__name__}: {error}")


def expected_keys(config: TeachConfig, task: Task, samples: list[Sample]) -> set[tuple[str, int, int]]:
    """Every (task, sample, sample index) a finished run of this job holds."""
    return {(task.name, s.id, d) for s in samples for d in range(config.diverse)}


def unfinished(config: TeachConfig) -> str | None:
    """What the folder `config.out` lacks to be a finished run of this job, in words; None when nothing.

    Finished means status "complete" and every (sample, index) of the job in completions.jsonl."""
    manifest = read_manifest(config.out)
    path = config.out / "completions.jsonl"
    have = {r.key for r in read_records(path)} if path.exists() else set()
    kind, _ = parse_teacher(config.teacher)
    if kind == "recorded":  # a recording holds what it holds: finished means all of it is written
        recorded = int(manifest.get("samples") or 0)
        not_recorded = int(manifest.get("samples_missing") or 0)  # recorded:NAME: split samples it lacks
        total, missing = recorded + not_recorded, max(0, recorded - len(have)) + not_recorded
    else:
        task = get_task(config.task)
        wanted = expected_keys(config, task, task.samples(config.split, limit=config.limit))
        total, missing = len(wanted), len(wanted - have)
    status = manifest.get("status", "not started")
    if status == "complete" and not missing:
        return None
    return f"{missing} of {total} samples missing (status {status})"
