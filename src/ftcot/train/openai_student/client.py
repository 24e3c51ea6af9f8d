"""The fine-tuning API: the official `openai` SDK with our retries, and the job fields it reports."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ftcot.errors import FtcotError
from ftcot.redact import redact, redact_url
from ftcot.train.openai_student.config import APITrainConfig

log = logging.getLogger("ftcot.train")

NOT_REUSED = ("failed", "cancelled")  # a rerun starts a new job rather than follow one of these
FINISHED = ("succeeded", *NOT_REUSED)
LISTED_JOBS_MAX = 1000  # jobs searched for a lost job's fingerprint


class APIError(FtcotError):
    """The API refused a call, or failed it on every try."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class FineTuningAPI:
    """The official `openai` SDK, with our retries: 429, 408/409, 5xx and dropped connections are retried
    with backoff, never sooner than the server's Retry-After. The SDK's own retries are off."""

    def __init__(self, config: APITrainConfig):
        import openai

        from ftcot.teach.backends.openai_backend import read_api_key
        from ftcot.teach.throttle import RetryPolicy

        self.config = config
        self._key = read_api_key(config.api_key_env, config.base_url)
        self.client = openai.OpenAI(
            api_key=self._key, base_url=config.base_url, max_retries=0, timeout=config.timeout
        )
        self.policy = RetryPolicy(max_attempts=config.max_attempts, base_delay=0.5, max_delay=60.0)
        self.retries = 0

    def call(self, what: str, fn, *args, on_retry=None, **kwargs):
        """fn(*args, **kwargs), retried on transient errors; `on_retry()` may return a result instead."""
        import openai

        from ftcot.teach.backends.openai_backend import _retry_after, is_transient

        for attempt in range(self.config.max_attempts):
            try:
                return fn(*args, **kwargs)
            except openai.APIStatusError as e:
                if not is_transient(e):
                    raise self._refused(what, e) from None
                detail, retry_after = f"{e.status_code}: {self._detail(e)}", _retry_after(e)
            except (openai.APIConnectionError, openai.APITimeoutError) as e:
                detail, retry_after = type(e).__name__, None
            if attempt + 1 == self.config.max_attempts:
                break
            wait = self.policy.backoff(attempt, retry_after)
            self.retries += 1
            log.warning(
                "%s: %s; try %d of %d in %.1fs", what, detail, attempt + 2, self.config.max_attempts, wait
            )
            time.sleep(wait)
            if on_retry is not None and (found := on_retry()) is not None:
                return found
        raise APIError(f"{what}: failed {self.config.max_attempts} times ({detail}); rerun to try again")

    def _detail(self, e) -> str:
        from ftcot.teach.backends.openai_backend import _error_message

        return redact(_error_message(e), (self._key,))

    def _refused(self, what: str, e) -> APIError:
        where = redact_url(self.config.base_url) or "api.openai.com"
        hint = {
            401: f"the key in ${self.config.api_key_env} was refused; set a valid key or name another "
            "variable with --api-key-env",
            403: "this key may not fine-tune this model",
            404: f"unknown at {where}: check --student and --base-url",
            429: "the account is out of quota",
        }.get(e.status_code, "check the student, the data and the hyperparameters")
        return APIError(f"{what}: {e.status_code} from {where}: {self._detail(e)}. {hint}", e.status_code)

    # the calls
    def upload(self, path: Path) -> str:
        file = (path.name, path.read_bytes(), "application/jsonl")
        return self.call(
            f"uploading {path.name}", self.client.files.create, file=file, purpose="fine-tune"
        ).id

    def retrieve(self, job_id: str):
        return self.call(f"checking job {job_id}", self.client.fine_tuning.jobs.retrieve, job_id)

    def events(self, job_id: str) -> list:
        """The job's latest events, oldest first."""
        events = self.client.fine_tuning.jobs.list_events
        page = self.call(f"reading the events of {job_id}", events, job_id, limit=100)
        return sorted(page.data, key=lambda e: (e.created_at, e.id))

    def cancel(self, job_id: str):
        return self.call(f"cancelling job {job_id}", self.client.fine_tuning.jobs.cancel, job_id)

    def find(self, fp: str, suffix: str):
        """The newest job of this fingerprint that is running or succeeded; None when there is none."""

        def listed():
            return self.client.fine_tuning.jobs.list(limit=100, metadata={"ftcot_fingerprint": fp})

        page = self.call("listing fine-tuning jobs", listed)
        for i, job in enumerate(page):  # the SDK fetches the next pages as the loop goes on
            if i >= LISTED_JOBS_MAX:
                break
            if _carries(job, fp, suffix) and job.status not in NOT_REUSED:
                return job
        return None

    def close(self) -> None:
        self.client.close()


def _carries(job, fp: str, suffix: str) -> bool:
    """Whether a listed job is this fingerprint's: by its metadata, else (servers that keep no metadata)
    by the suffix that carries the fingerprint."""
    metadata = sdk_field(job, "metadata") or {}
    if metadata.get("ftcot_fingerprint"):
        return metadata["ftcot_fingerprint"] == fp
    if not suffix.startswith("ftcot-"):  # a user's suffix does not say which data a job trained on
        return False
    named = (job.model_extra or {}).get("user_provided_suffix") or ""
    return named == suffix or f":{suffix}:" in (sdk_field(job, "fine_tuned_model") or "")


def sdk_field(obj, name: str):
    """A field of an SDK object, None when the server left it out (compatible servers vary)."""
    return getattr(obj, name, None)
