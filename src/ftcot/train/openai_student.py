"""API students: fine-tune a hosted model through an OpenAI-compatible fine-tuning API, as the paper
did for GPT-3 (ada, babbage, curie).

    ftcot train runs/data --student openai:gpt-4o-mini-2024-07-18 --out runs/student-api
    ftcot eval runs/student-api --task multiarith --method ft_cot --out runs/eval-api

`train_api` uploads the curated training and validation files, creates one fine-tuning job,
follows it until it ends (its events stream to the progress display) and writes the
fine-tuned model id, the job id, the trained tokens and the cost into OUT/manifest.json. The
status is "complete" only when the job succeeded and the fine-tuned model id is known.

Cost-safe and resumable. A job is named by a *fingerprint*: a hash of the training files and of
every setting that changes what is trained. Before it uploads or creates anything, a run looks
for the job of its fingerprint: in OUT's manifest, else among the account's jobs (the
fingerprint travels in the job's metadata and its suffix), so a rerun, a lost manifest or a kill
between creating the job and writing the manifest never pays twice. A job that failed or was
cancelled is not reused: a rerun starts a new one. `dry_run` prints the training tokens and the
estimated cost; `max_cost` refuses to start a job estimated above it. Ctrl-C (or SIGTERM) while
following a job leaves it running on the server: rerun to follow it again, or `--cancel` it.

Formats (what `ftcot eval` prompts the fine-tuned model with; the text comes from `ftcot.prompts`):
  chat         user `{question} ###`, assistant `{rationale} --> {answer}`: curate's openai/ export
  completions  prompt `{question} ###`, completion ` {rationale} --> {answer} END`, for the legacy
               completions models (babbage-002, davinci-002), which learn to stop at ` END`
The vanilla baseline trains `{question} ###` -> `{answer}` the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ftcot.errors import ConfigError, FtcotError, Incomplete
from ftcot.prompts import END_PHRASE, ft_cot_example, vanilla_example
from ftcot.records import RunFolderLock, read_manifest, write_manifest
from ftcot.redact import redact, redact_url, redact_value
from ftcot.sources import sha256_of
from ftcot.teach.cost import estimate_tokens, read_price_table

log = logging.getLogger("ftcot.train")

PREFIX = "openai:"
COMPLETIONS_MODELS = ("babbage-002", "davinci-002")  # legacy models: prompt/completion files, no chat
STOP = ["END"]  # where a completions student stops (it learnt to end with ` END`); harmless for chat
# Example prices in US$ per 1M *training* tokens (tokens in the training file x epochs). They change:
# check the provider's price page and override with --prices FILE ({"MODEL": {"training": 3.0}}).
TRAINING_PRICES: dict[str, float] = {
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
    "gpt-3.5-turbo": 8.00,
    "davinci-002": 6.00,
    "babbage-002": 0.40,
}
AUTO_EPOCHS = 3  # what estimates assume when the service picks the number of epochs ("auto")
NOT_REUSED = ("failed", "cancelled")  # a rerun starts a new job rather than follow one of these
FINISHED = ("succeeded", *NOT_REUSED)
TRANSIENT_STATUS = (408, 409, 429)  # and every 5xx
CHAT_TOKENS_PER_MESSAGE = 3  # role and separators around each message, and the reply's priming
LISTED_JOBS_MAX = 1000  # jobs searched for a lost job's fingerprint


def is_api_student(spec: str) -> bool:
    return str(spec).startswith(PREFIX)


class APITrainConfig(BaseModel):
    """Settings of `ftcot train --student openai:BASE_MODEL`; the CLI flags are these fields."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(description="Data folder written by `ftcot curate`.")
    student: str = Field(description="openai:BASE_MODEL, e.g. openai:gpt-4o-mini-2024-07-18.")
    out: Path = Field(description="Output folder: manifest.json (job, fine-tuned model, cost).")
    method: Literal["ft_cot", "vanilla"] = Field("ft_cot", description="Fine-tune-CoT or vanilla.")
    epochs: int | None = Field(None, ge=1, description="n_epochs (None: the service chooses, 'auto').")
    lr_multiplier: float | None = Field(None, gt=0, description="learning_rate_multiplier (None: auto).")
    batch_size: int | None = Field(None, ge=1, description="Examples per batch (None: auto).")
    seed: int | None = Field(None, description="The job's seed (None: the service picks one).")
    suffix: str | None = Field(
        None, max_length=64, description="Fine-tuned model name suffix (default: ftcot-<fingerprint>)."
    )
    chat: bool | None = Field(
        None, description="Chat or completions training file (None: completions for babbage/davinci-002)."
    )
    base_url: str | None = Field(None, description="OpenAI-compatible API (default: OpenAI's).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    timeout: float = Field(120.0, gt=0, description="Seconds per API call.")
    max_attempts: int = Field(8, ge=1, description="Tries per API call on 429, 5xx and dropped connections.")
    poll_s: float = Field(10.0, gt=0, description="Seconds between job status checks, at first.")
    max_poll_s: float = Field(120.0, gt=0, description="Longest wait between status checks (backoff).")
    max_cost: float | None = Field(
        None, ge=0, description="Refuse to start a job estimated above this (US$)."
    )
    prices: Path | None = Field(None, description="Training price table, JSON or TOML ($ per 1M tokens).")
    dry_run: bool = Field(
        False, description="Print the training tokens and the estimated cost; send nothing."
    )
    progress: bool = Field(True, description="Show the job's status and events.")

    @model_validator(mode="after")
    def _check(self) -> APITrainConfig:
        if not self.base_model:
            raise ConfigError(
                f"student {self.student!r}: name the base model, e.g. openai:gpt-4o-mini-2024-07-18"
            )
        if self.max_cost is not None and self.epochs is None:
            raise ConfigError(
                "--max-cost needs --epochs: with 'auto' epochs the service decides how much is trained"
            )
        return self

    @property
    def base_model(self) -> str:
        return self.student.removeprefix(PREFIX)

    @property
    def endpoint(self) -> str:
        """'chat' or 'completions': the training file format, and how the student is prompted."""
        if self.chat is not None:
            return "chat" if self.chat else "completions"
        return "completions" if self.base_model.startswith(COMPLETIONS_MODELS) else "chat"

    @property
    def hyperparameters(self) -> dict:
        """The hyperparameters given (the service chooses the others)."""
        chosen = {"n_epochs": self.epochs, "learning_rate_multiplier": self.lr_multiplier}
        chosen["batch_size"] = self.batch_size
        return {k: v for k, v in chosen.items() if v is not None}

    def job_settings(self) -> dict:
        """What changes the trained model: part of the fingerprint."""
        return {
            "base_model": self.base_model,
            "method": self.method,
            "endpoint": self.endpoint,
            "hyperparameters": self.hyperparameters,
            "seed": self.seed,
            "suffix": self.suffix,
        }


def api_train_config(settings: dict) -> APITrainConfig:
    """An APITrainConfig from train settings; a setting only local students take is refused by name."""
    local_only = sorted(set(settings) - set(APITrainConfig.model_fields))
    if local_only:
        raise ConfigError(
            f"{', '.join(local_only)}: not a setting of API students ({settings.get('student')}); "
            f"they take: {', '.join(k for k in APITrainConfig.model_fields if k not in ('data_dir', 'out'))}"
        )
    return APITrainConfig(**settings)


# --- the training files -------------------------------------------------------------------------


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
    if config.endpoint == "chat":
        paths = [data_dir / "openai" / f"{config.method}.{split}.jsonl" for split in ("train", "val")]
        if not paths[0].is_file():
            raise ConfigError(f"{paths[0]}: missing; curate the data again with this version of ftcot")
    else:
        folder = Path(config.out) / "openai"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for split in ("train", "val"):
            rows = _read_jsonl(data_dir / f"{split}.jsonl")
            path = folder / f"{config.method}.{split}.completions.jsonl"
            _write_jsonl(path, completion_examples(rows, config.method))
            paths.append(path)
    counts = [_count_lines(p) for p in paths]
    if counts[0] == 0:
        raise ConfigError(f"{paths[0]}: no training examples for {config.method}")
    return TrainingFiles(paths[0], paths[1] if counts[1] else None, counts[0], counts[1])


def completion_examples(rows: list[dict], method: str) -> list[dict]:
    """Prompt/completion pairs in the paper's format, ending with ` END` so the student learns to stop;
    the same rows as curate's chat export (vanilla: one per question)."""
    examples, seen = [], set()
    for row in rows:
        if method == "ft_cot":
            if row.get("rationale") is None:
                continue
            example = ft_cot_example(row["question"], row["rationale"], row["answer"])
        else:
            if (row["task"], row["sample_id"]) in seen:
                continue
            seen.add((row["task"], row["sample_id"]))
            example = vanilla_example(row["question"], row["answer"])
        examples.append({"prompt": example.prompt, "completion": example.completion + END_PHRASE})
    return examples


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _count_lines(path: Path) -> int:
    return len(_read_jsonl(path))


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


# --- tokens and cost ----------------------------------------------------------------------------


def count_tokens(path: Path) -> int:
    """Tokens of a training file as billed (tiktoken when installed, else 4 characters a token)."""
    tokens = 0
    for example in _read_jsonl(path):
        if "messages" in example:
            tokens += CHAT_TOKENS_PER_MESSAGE * (len(example["messages"]) + 1)
            tokens += sum(estimate_tokens(m.get("content") or "") for m in example["messages"])
        else:
            tokens += estimate_tokens(example.get("prompt", "") + example.get("completion", ""))
    return tokens


def load_training_prices(path: Path | None) -> dict[str, float]:
    return read_price_table(
        path, TRAINING_PRICES, lambda entry: float(entry["training"] if isinstance(entry, dict) else entry),
        "training price table", '{"MODEL": {"training": DOLLARS_PER_1M_TRAINING_TOKENS}}',
    )  # fmt: skip


def training_price(model: str, prices: dict[str, float]) -> float | None:
    """$ per 1M training tokens of a base model (its longest listed prefix), None when unknown."""
    matches = [name for name in prices if model == name or model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def estimate(config: APITrainConfig, files: TrainingFiles | None = None) -> dict:
    """Training tokens and estimated cost of the job, before anything is sent."""
    files = files or training_files(config)
    train_tokens = count_tokens(files.train)
    epochs = config.epochs or AUTO_EPOCHS
    price = training_price(config.base_model, load_training_prices(config.prices))
    return {
        "student": config.student,
        "method": config.method,
        "endpoint": config.endpoint,
        "train_examples": files.train_examples,
        "val_examples": files.val_examples,
        "train_file_tokens": train_tokens,
        "val_file_tokens": count_tokens(files.val) if files.val else 0,
        "epochs": config.epochs if config.epochs else f"auto (assumed {AUTO_EPOCHS})",
        "trained_tokens": train_tokens * epochs,
        "token_count": "tiktoken" if _has_tiktoken() else "4 characters a token (approximate)",
        "price_per_1m_training_tokens": price,
        "cost": None if price is None else round(train_tokens * epochs * price / 1e6, 4),
    }


def check_budget(config: APITrainConfig, estimated: dict) -> None:
    """Refuse a job that could cost more than --max-cost (with auto epochs the cost is not known)."""
    if config.max_cost is None:
        return
    if estimated["cost"] is None:
        raise ConfigError(
            f"--max-cost needs a training price for {config.base_model!r}: give --prices FILE with "
            f'{{"{config.base_model}": {{"training": DOLLARS_PER_1M_TOKENS}}}}'
        )
    if estimated["cost"] > config.max_cost:
        raise Incomplete(
            f"the job would cost about ${estimated['cost']:.2f} ({estimated['trained_tokens']:,} training "
            f"tokens), over --max-cost ${config.max_cost:.2f}; no job was started",
            status="budget",
        )


def _has_tiktoken() -> bool:
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return False
    return True


# --- the API client -----------------------------------------------------------------------------


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

        for attempt in range(self.config.max_attempts):
            try:
                return fn(*args, **kwargs)
            except openai.APIStatusError as e:
                if not _transient(e):
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


def _transient(e) -> bool:
    """Worth another try: a 5xx, a timeout or conflict, a rate limit (but not an exhausted quota)."""
    if e.status_code >= 500:
        return True
    return e.status_code in TRANSIENT_STATUS and _error_code(e) != "insufficient_quota"


def _error_code(e) -> str | None:
    body = e.body if isinstance(e.body, dict) else {}
    inner = body.get("error", body)
    return inner.get("code") if isinstance(inner, dict) else None


def _retry_after(e) -> float | None:
    from ftcot.teach.backends.openai_backend import _retry_after as retry_after

    return retry_after(e)


def _carries(job, fp: str, suffix: str) -> bool:
    """Whether a listed job is this fingerprint's: by its metadata, else (servers that keep no metadata)
    by the suffix that carries the fingerprint."""
    metadata = _get(job, "metadata") or {}
    if metadata.get("ftcot_fingerprint"):
        return metadata["ftcot_fingerprint"] == fp
    if not suffix.startswith("ftcot-"):  # a user's suffix does not say which data a job trained on
        return False
    named = (job.model_extra or {}).get("user_provided_suffix") or ""
    return named == suffix or f":{suffix}:" in (_get(job, "fine_tuned_model") or "")


def _get(obj, name: str):
    """A field of an SDK object, None when the server left it out (compatible servers vary)."""
    return getattr(obj, name, None)


# --- the run ------------------------------------------------------------------------------------

EVENTS_FILE = "job_events.jsonl"  # the job's events as the service reported them, one a line


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
    manifest = _manifest(config, files, fp, estimate(config, files))
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
        earlier = [j for j in [*(old.get("previous_jobs") or []), old.get("job_id")] if j and j != job.id]
        manifest["api"]["previous_jobs"] = earlier
        write_manifest(out, _with_job(manifest, job, status="running"))
        job = follow(api, config, job, out, manifest)
    finally:
        api.close()
    return _finish(config, out, manifest, job)


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
                    write_manifest(out, _with_job(manifest, job, status="running"))
                wait = config.poll_s if new else min(config.max_poll_s, wait * 1.5)
    except KeyboardInterrupt:
        write_manifest(out, _with_job(manifest, job, status="interrupted"))
        log.warning(
            "the fine-tuning job %s keeps running on the server. Rerun the same command to follow it "
            "again; to cancel it: ftcot train %s --student %s --out %s --cancel",
            job.id, config.data_dir, config.student, out,
        )  # fmt: skip
        raise


def _events(api: FineTuningAPI, job_id: str) -> list:
    """The job's events; none when the server has no events endpoint (some compatible servers)."""
    try:
        return api.events(job_id)
    except APIError as e:
        if e.status_code == 404:
            return []
        raise


class EventLog:
    """The job's events in OUT/job_events.jsonl, each once (a resumed run reads the same events again)."""

    def __init__(self, path: Path):
        self.path = path
        self.seen = {e.get("id") for e in _read_jsonl(path)}

    def add(self, events: list) -> list:
        """Append the events not seen before; returns them."""
        new = [e for e in events if e.id not in self.seen]
        with open(self.path, "a", encoding="utf-8") as f:
            for event in new:
                self.seen.add(event.id)
                row = {k: _get(event, k) for k in ("id", "created_at", "level", "type", "message", "data")}
                f.write(json.dumps(redact_value(row), ensure_ascii=False, default=str) + "\n")
        return new


def _finish(config: APITrainConfig, out: Path, manifest: dict, job) -> Path:
    """The manifest of a job that ended: "complete" only when it succeeded and named its model."""
    api_block = manifest["api"]
    price = api_block["estimate"]["price_per_1m_training_tokens"]
    trained = _get(job, "trained_tokens")
    api_block["cost"] = {
        "usd": round(trained * price / 1e6, 4) if trained is not None and price is not None else None,
        "estimated_usd": api_block["estimate"]["cost"],
        "price_per_1m_training_tokens": price,
        "note": "trained tokens x the price table (example prices; --prices overrides them)",
    }
    if job.status == "succeeded" and _get(job, "fine_tuned_model"):
        write_manifest(out, _with_job(manifest, job, status="complete"))
        log.info("fine-tuned %s: %s (%s trained tokens)", config.base_model, job.fine_tuned_model, trained)
        return out
    if job.status == "succeeded":
        error = f"fine-tuning job {job.id} succeeded but the server named no fine-tuned model"
    else:
        reason = _get(job, "error")
        error = f"fine-tuning job {job.id} {job.status}" + (
            f": {reason.code}: {reason.message}" if reason else ""
        )
    status = "cancelled" if job.status == "cancelled" else "failed"
    write_manifest(out, _with_job(manifest, job, status=status, error=redact(error)))
    raise Incomplete(f"{redact(error)}; a rerun starts a new job", status=status)


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
    manifest = _manifest(config, files, fp, estimate(config, files))
    write_manifest(out, _with_job(manifest, job, status="cancelled"))
    return _job_summary(job)


# --- manifest -----------------------------------------------------------------------------------


def student_format(config: APITrainConfig) -> dict:
    """How `ftcot eval` prompts the student: the trained method and endpoint, the stop sequence."""
    return {
        "method": config.method,
        "question_prefix": "",
        "trained_as": config.method,
        "endpoint": config.endpoint,
        "stop": STOP,
    }


def _manifest(config: APITrainConfig, files: TrainingFiles, fp: str, estimated: dict) -> dict:
    """The train manifest of an API student, less the job (`_with_job` adds it)."""
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


def _with_job(manifest: dict, job, *, status: str, error: str | None = None) -> dict:
    """The manifest with the job as the service last reported it; `fine_tuned_model` is what
    `ftcot eval` and reports read."""
    manifest["api"].update(
        job_id=job.id,
        fine_tuned_model=_get(job, "fine_tuned_model"),
        trained_tokens=_get(job, "trained_tokens"),
        job=_job_summary(job),
    )
    return {**manifest, "status": status, "error": error}


def _job_summary(job) -> dict:
    error = _get(job, "error")
    hyperparameters = _get(job, "hyperparameters")
    return {
        "id": job.id,
        "status": job.status,
        "base_model": _get(job, "model"),
        "fine_tuned_model": _get(job, "fine_tuned_model"),
        "trained_tokens": _get(job, "trained_tokens"),
        "created_at": _get(job, "created_at"),
        "finished_at": _get(job, "finished_at"),
        "training_file": _get(job, "training_file"),
        "validation_file": _get(job, "validation_file"),
        "hyperparameters": hyperparameters.model_dump() if hyperparameters is not None else None,
        "seed": _get(job, "seed"),
        "error": {"code": str(error.code), "message": redact(str(error.message))} if error else None,
    }


# --- the progress display -----------------------------------------------------------------------


class JobDisplay:
    """A status line (job id, status, elapsed) with the job's events printed above it, on stderr."""

    def __init__(self, enabled: bool = True):
        from rich.console import Console

        self.enabled = enabled
        self.console = Console(stderr=True)
        self.started = time.monotonic()
        self._status = None

    def __enter__(self) -> JobDisplay:
        if self.enabled:
            self._status = self.console.status("fine-tuning job: starting")
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.stop()

    def status(self, job) -> None:
        text = f"fine-tuning job {job.id}: {job.status} ({time.monotonic() - self.started:.0f}s)"
        if self._status is not None:
            self._status.update(text)

    def event(self, event) -> None:
        from rich.text import Text

        when = time.strftime("%H:%M:%S", time.localtime(_get(event, "created_at") or time.time()))
        message = redact(str(_get(event, "message")))
        if self.enabled:  # plain text: a message may hold `[...]`, which rich would take for markup
            self.console.print(Text.assemble((when, "dim"), " ", message), highlight=False)
        else:
            log.info("%s %s", when, message)


# --- evaluation -------------------------------------------------------------------------------------


def served_student(config, student):
    """An `EvalConfig` of an API student's train folder (`student`: its TrainManifest), made into the
    served model it names (`openai:ft:...`, on its server and endpoint); other configs come back unchanged."""
    api = student.api if student is not None else None
    if api is None:
        return config
    if student.status != "complete" or not api.fine_tuned_model:
        raise ConfigError(
            f"{config.model}: the fine-tuning job has no model yet (status {student.status!r}); "
            "rerun `ftcot train` with the same arguments to finish it"
        )
    update = {
        "model": f"{PREFIX}{api.fine_tuned_model}",
        "base_url": config.base_url or api.base_url,
        "chat": config.chat if config.chat is not None else api.endpoint != "completions",
    }
    if "api_key_env" not in config.model_fields_set and api.api_key_env:
        update["api_key_env"] = api.api_key_env
    return config.model_copy(update=update)


def is_fine_tuned(model: str) -> bool:
    """An OpenAI fine-tuned model (`openai:ft:BASE:ORG:SUFFIX:ID`): prompted in its training format."""
    return model.startswith(f"{PREFIX}ft:")


def trained_on_chat(model: str) -> bool:
    """Whether a served model answers on the chat endpoint: a fine-tuned legacy completions model
    (`ft:babbage-002:...`, `ft:davinci-002:...`) does not."""
    name = model.removeprefix(PREFIX).removeprefix("ft:")
    return not name.startswith(COMPLETIONS_MODELS)
