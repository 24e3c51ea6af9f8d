"""The job's lifecycle: find this fingerprint's job or start one, follow it to its end, cancel it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ftcot.errors import ConfigError, Incomplete
from ftcot.records import RunFolderLock, read_manifest, write_manifest
from ftcot.train.openai_student.client import FINISHED, NOT_REUSED, APIError, FineTuningAPI
from ftcot.train.openai_student.config import APITrainConfig
from ftcot.train.openai_student.cost import check_budget, estimate
from ftcot.train.openai_student.files import TrainingFiles, default_suffix, fingerprint, training_files
from ftcot.train.openai_student.manifest import finish, job_summary, train_manifest, with_job
from ftcot.train.openai_student.progress import EVENTS_FILE, EventLog, JobDisplay

log = logging.getLogger("ftcot.train")


def train_api(config: APITrainConfig) -> Path:
    """Fine-tune an API student (or follow its job to the end); returns OUT. Raises `Incomplete` when the
    job failed, was cancelled or would cost more than --max-cost."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunFolderLock(out)  # two processes on one folder could each start a job
    try:
        return _train(config, out)
    finally:
        lock.release()


def _train(config: APITrainConfig, out: Path) -> Path:
    files = training_files(config)
    fp = fingerprint(config, files)
    old = _previous_api_block(out, fp)
    manifest = train_manifest(config, files, fp, estimate(config, files))
    api = FineTuningAPI(config)
    try:
        job = _existing_job(api, old, fp, default_suffix(config, fp))
        if job is None:
            _check_budget(config, out, manifest)
            job = _start_job(api, config, files, fp)
        elif job.id != old.get("job_id"):
            log.info(
                "found fine-tuning job %s (%s) of these files and settings: following it", job.id, job.status
            )
        manifest["api"]["previous_jobs"] = _earlier_jobs(old, job.id)
        write_manifest(out, with_job(manifest, job, status="running"))
        job = follow(api, config, job, out, manifest)
    finally:
        api.close()
    return finish(config, out, manifest, job)


def _previous_api_block(out: Path, fp: str) -> dict:
    """The `api` block of OUT's manifest when OUT holds an earlier run of this job ({} when none);
    another run there is refused."""
    old = read_manifest(out)
    block = old.get("api") or {}
    if old and (old.get("stage") != "train" or not block):
        raise ConfigError(f"{out} holds another run (stage {old.get('stage')!r}): choose another --out")
    if block.get("job_id") and block.get("fingerprint") != fp:
        raise ConfigError(
            f"{out} holds fine-tuning job {block['job_id']} of other data or settings: choose another "
            "--out, or delete the folder to train again"
        )
    return block


def _earlier_jobs(old: dict, job_id: str) -> list[str]:
    """The jobs OUT followed before this one (failed or cancelled ones, which a rerun replaced)."""
    return [j for j in [*(old.get("previous_jobs") or []), old.get("job_id")] if j and j != job_id]


def _check_budget(config: APITrainConfig, out: Path, manifest: dict) -> None:
    try:
        check_budget(config, manifest["api"]["estimate"])
    except Incomplete as e:
        write_manifest(out, {**manifest, "status": "budget", "error": str(e)})
        raise


def _existing_job(api: FineTuningAPI, old: dict, fp: str, suffix: str):
    """This fingerprint's job, running or succeeded: the one OUT's manifest names, else one found by
    listing the account's jobs (the manifest was lost, or the run was killed before writing it)."""
    if old.get("job_id"):
        try:
            job = api.retrieve(old["job_id"])
        except APIError as e:
            if e.status_code != 404:
                raise
            job = None  # another server, or a deleted job: look for it by fingerprint
        if job is not None and job.status not in NOT_REUSED:
            return job
    return api.find(fp, suffix)


def _start_job(api: FineTuningAPI, config: APITrainConfig, files: TrainingFiles, fp: str):
    """Upload the files and create the job. A create retried after an error first looks for the job
    that the failed try may have made."""
    suffix = default_suffix(config, fp)
    request = {
        "model": config.base_model,
        "training_file": api.upload(files.train),
        "suffix": suffix,
        "metadata": {"ftcot_fingerprint": fp, "ftcot_method": config.method},
    }
    if files.val:
        request["validation_file"] = api.upload(files.val)
    if config.seed is not None:
        request["seed"] = config.seed
    if config.hyperparameters:
        request["method"] = {"type": "supervised", "supervised": {"hyperparameters": config.hyperparameters}}
    job = api.call(
        f"creating the fine-tuning job of {config.base_model}",
        api.client.fine_tuning.jobs.create,
        on_retry=lambda: api.find(fp, suffix),
        **request,
    )
    log.info("started fine-tuning job %s (%s, suffix %s)", job.id, config.base_model, suffix)
    return job


def follow(api: FineTuningAPI, config: APITrainConfig, job, out: Path, manifest: dict):
    """Check the job with backoff until it ends, showing its events; returns the finished job.
    Ctrl-C leaves the job running on the server and says how to follow or cancel it."""
    events = EventLog(out / EVENTS_FILE)
    wait = config.poll_s
    try:
        with JobDisplay(config.progress) as display:
            while True:
                new = events.add(_events(api, job.id))
                for event in new:
                    display.event(event)
                display.status(job)
                if job.status in FINISHED:
                    return job
                time.sleep(wait)
                previous, job = job.status, api.retrieve(job.id)
                if job.status != previous:
                    write_manifest(out, with_job(manifest, job, status="running"))
                wait = config.poll_s if new else min(config.max_poll_s, wait * 1.5)
    except KeyboardInterrupt:
        _left_running(config, job, out, manifest)
        raise


def _left_running(config: APITrainConfig, job, out: Path, manifest: dict) -> None:
    """The run was interrupted, not the job: say so in the manifest, and how to follow or cancel it."""
    write_manifest(out, with_job(manifest, job, status="interrupted"))
    log.warning(
        "the fine-tuning job %s keeps running on the server. Rerun the same command to follow it "
        "again; to cancel it: ftcot train %s --student %s --out %s --cancel",
        job.id, config.data_dir, config.student, out,
    )  # fmt: skip


def _events(api: FineTuningAPI, job_id: str) -> list:
    """The job's events; none when the server has no events endpoint (some compatible servers)."""
    try:
        return api.events(job_id)
    except APIError as e:
        if e.status_code == 404:
            return []
        raise


def cancel(config: APITrainConfig) -> dict:
    """Cancel OUT's job (named by its manifest, else found by its fingerprint); returns its summary."""
    out = Path(config.out)
    files = training_files(config)
    fp = fingerprint(config, files)
    api = FineTuningAPI(config)
    try:
        job = _existing_job(api, _previous_api_block(out, fp), fp, default_suffix(config, fp))
        if job is None:
            raise ConfigError(f"{out}: no running fine-tuning job of these files and settings to cancel")
        if job.status not in FINISHED:
            job = api.cancel(job.id)
    finally:
        api.close()
    manifest = train_manifest(config, files, fp, estimate(config, files))
    write_manifest(out, with_job(manifest, job, status="cancelled"))
    return job_summary(job)
