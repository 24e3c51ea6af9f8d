"""Zero-shot-CoT with diverse reasoning: the teacher stage's one entry point, `teach(config)`.

For each question of a task split and each sample index d < D: step 1 asks for a rationale
(`Q: {question}\\nA: Let's think step by step.`, temperature T), step 2 asks for the answer
(step-1 prompt + rationale + the task's trigger, greedy). With `method` zero_shot or fs_cot
the teacher answers in one step instead (the paper's prompt baselines; `ftcot eval` runs API
models through here, so they get the same cache, limits and resume). Each finished sample is scored with
the shared checker and appended to `completions.jsonl` at once. A rerun skips the samples
already written and finds every earlier generation in the cache, so a run killed at any
moment resumes with nothing lost, duplicated or paid twice. Ctrl-C (or SIGTERM) lets the
questions in flight finish, then raises `Interrupted`; a second Ctrl-C abandons them. The
manifest's status says how the run ended: "complete" only when every (sample, index) is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ftcot.answers import PREFIXES
from ftcot.errors import ConfigError, Interrupted
from ftcot.prompts import GENERIC_ANSWER_TRIGGER, first_prompt, zs_cot_step2
from ftcot.records import Completion, RecordWriter, read_manifest, read_records, write_manifest
from ftcot.redact import redact, redact_url
from ftcot.tasks import Sample, Task, get_task
from ftcot.teach.backends import RequestRefused, get_backend, parse_teacher
from ftcot.teach.backends.base import Generation, SamplingParams, cache_model_name
from ftcot.teach.cache import GenerationCache, cache_key
from ftcot.teach.cost import CostTracker, estimate_tokens, load_prices, price_for, yield_report
from ftcot.teach.engine import Engine, StopRequested, most_severe
from ftcot.teach.progress import TeachProgress
from ftcot.teach.throttle import RetriesExhausted, RetryPolicy, Throttle

log = logging.getLogger("ftcot.teach")

# Settings that change what a sample is: a run folder holds one job, so a rerun must match them.
JOB_FIELDS = ("teacher", "task", "split", "temperature", "top_p", "max_tokens", "answer_max_tokens", "chat")


class TeachConfig(BaseModel):
    """The teacher stage's settings; the `ftcot teach` flags are these fields."""

    teacher: str = Field(
        description="openai:MODEL, hf:MODEL_OR_DIR, llamacpp:FILE.gguf, vllm:MODEL or recorded"
    )
    task: str
    split: str = "train"
    out: Path
    method: Literal["zs_cot", "zero_shot", "fs_cot"] = Field(
        "zs_cot", description="zs_cot: rationale then answer; zero_shot, fs_cot: one-step prompt baselines"
    )
    diverse: int = Field(1, ge=1, description="D: rationales per question (the paper: 1, or up to 64)")
    temperature: float | None = Field(None, ge=0, description="default: 0 when D=1, else 0.7 (the paper's)")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(128, ge=1, description="rationale length limit (step 1); the paper used 128")
    answer_max_tokens: int = Field(32, ge=1, description="answer length limit (step 2)")
    generic_trigger: bool = Field(False, description="use 'Therefore, the answer is' for every task")
    limit: int | None = Field(None, ge=1, description="only the first N questions of the split")
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    chat: bool = True
    concurrency: int = Field(32, ge=1)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    timeout: float = Field(120.0, gt=0, description="seconds per request attempt")
    max_attempts: int = Field(8, ge=1)
    max_consecutive_failures: int = Field(
        16, ge=1, description="stop the run when this many requests in a row fail on every try (server down)"
    )
    max_cost: float | None = Field(None, ge=0, description="stop before spending more than this (US$)")
    prices: Path | None = None
    cache: Path | None = None
    batch_size: int = Field(8, ge=1, description="prompts per call for local backends (hf)")
    tensor_parallel_size: int = Field(1, ge=1)
    batch_api: bool = Field(False, description="send through the OpenAI Batch API (half price, hours)")
    batch_poll_s: float = 30.0
    dry_run: bool = False
    progress: bool = True

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.diverse == 1 else 0.7

    @property
    def one_step(self) -> bool:
        return self.method != "zs_cot"

    def rationale_params(self) -> SamplingParams:
        # A one-step prompt ends in "A:"; the model would go on to invent the next "Q:".
        stop = ("\nQ:",) if self.one_step else ()
        return SamplingParams(self.sampling_temperature, self.top_p, self.max_tokens, stop)

    def answer_params(self) -> SamplingParams:
        return SamplingParams(0.0, 1.0, self.answer_max_tokens)  # the answer is read greedily

    def job(self) -> dict:
        data = self.model_dump(mode="json")
        job = {k: data[k] for k in JOB_FIELDS}
        job["temperature"] = self.sampling_temperature
        if self.one_step:  # only then: run folders made before `method` existed stay resumable
            job["method"] = self.method
        return job


def answer_trigger(task: Task, generic: bool) -> str:
    return GENERIC_ANSWER_TRIGGER if generic else task.spec.trigger


# --- the entry point --------------------------------------------------------------------------


def teach(config: TeachConfig) -> Path:
    """Run (or resume) a teacher job; returns the run folder. `dry_run` only logs the estimate."""
    task = get_task(config.task)
    samples = task.samples(config.split, limit=config.limit)
    kind, model = parse_teacher(config.teacher)
    if kind == "recorded" and config.one_step:
        raise ConfigError(f"the recorded teacher holds Zero-shot-CoT outputs only, not {config.method}")
    if config.method == "fs_cot" and not task.spec.fs_cot:
        raise ConfigError(f"task {task.name!r} has no Few-shot-CoT exemplars; use zero_shot or zs_cot")
    if config.dry_run:
        log.info("dry run: %s", estimate(config))
        return config.out
    if kind == "recorded" and model != "text-davinci-002":  # recorded:NAME, shipped with ftcot
        from ftcot.teach.recordings import teach_from_recording

        return teach_from_recording(config, task, samples)
    if kind == "recorded":
        return _teach_recorded(config, task, samples)
    _check_same_job(config)
    return asyncio.run(_teach_live(config, task, samples))


def _check_same_job(config: TeachConfig) -> None:
    old = read_manifest(config.out).get("job")
    if old and old != config.job():
        changed = sorted(k for k in config.job() if old.get(k) != config.job()[k])
        raise ConfigError(
            f"{config.out} holds a different teacher job (changed: {', '.join(changed)}); "
            "give another --out, or rerun with the same settings to resume"
        )


def _todo(
    samples: list[Sample], diverse: int, writer: RecordWriter, task: str
) -> list[tuple[Sample, list[int]]]:
    jobs = []
    for sample in samples:
        indices = [d for d in range(diverse) if (task, sample.id, d) not in writer]
        if indices:
            jobs.append((sample, indices))
    return jobs


async def _teach_live(config: TeachConfig, task: Task, samples: list[Sample]) -> Path:
    backend = get_backend(
        config.teacher,
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        chat=config.chat,
        timeout=config.timeout,
        batch_size=config.batch_size,
        tensor_parallel_size=config.tensor_parallel_size,
    )
    price = price_for(backend.name, backend.model, load_prices(config.prices), batch=config.batch_api)
    costs = CostTracker(backend.model, price, config.max_cost)
    policy = RetryPolicy(
        max_attempts=config.max_attempts,
        timeout=config.timeout,
        max_consecutive_failures=config.max_consecutive_failures,
    )
    cache = GenerationCache(config.cache)
    # More requests than a local server has slots only queue there, against the request timeout.
    concurrency = min(config.concurrency, backend.max_in_flight or config.concurrency)
    engine = Engine(backend, cache, Throttle(concurrency, config.rpm, config.tpm, policy), costs)
    manifest = _manifest(config, task, samples, backend.describe())
    writer = RecordWriter(config.out, manifest={**manifest, "status": "running"})
    jobs = _todo(samples, config.diverse, writer, task.name)
    teacher = ZeroShotCoT(config, task, engine, writer)
    started = time.monotonic()
    # "complete" is only reachable by finishing: any exception leaves "failed" (or says why it stopped).
    status, error = "failed", None
    try:
        if config.batch_api and jobs:
            from ftcot.teach.batch import prefill_with_batch_api

            await prefill_with_batch_api(config, teacher, jobs)
        total = len(samples) * config.diverse
        with TeachProgress(total, total - sum(len(ix) for _, ix in jobs), engine, config.progress) as bar:
            teacher.on_record = bar.advance
            status = await teacher.run(jobs)
    except BaseException as e:  # noqa: BLE001 - recorded in the manifest, then raised again
        status, error = stopped_by(e)
        raise
    finally:
        writer.close()
        await backend.aclose()
        wanted = expected_keys(config, task, samples)
        elapsed = time.monotonic() - started
        status = _finish_manifest(config, manifest, engine, teacher, costs, status, error, elapsed, wanted)
        cache.close()
    if status == "interrupted":  # the questions in flight finished; now stop the caller too
        raise Interrupted(teacher.stop_signal or signal.SIGINT)
    return config.out


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


# --- Zero-shot-CoT ------------------------------------------------------------------------------


class ZeroShotCoT:
    """Two steps per sample (one for the prompt baselines); D samples per question; questions run in
    parallel lanes."""

    def __init__(self, config: TeachConfig, task: Task, engine: Engine, writer: RecordWriter):
        self.config = config
        self.task = task
        self.engine = engine
        self.writer = writer
        self.trigger = answer_trigger(task, config.generic_trigger)
        self.step1 = config.rationale_params()
        self.step2 = config.answer_params()
        self.stop = asyncio.Event()
        self.stop_reason: str | None = None
        self.stop_signal: int | None = None  # SIGINT or SIGTERM, when one stopped the run
        self._previous_handlers: dict[int, object] = {}
        self.written = 0
        self.failed = 0
        self.on_record = lambda: None

    async def run(self, jobs: list[tuple[Sample, list[int]]]) -> str:
        """Teach every (question, missing indices) job; returns the run status."""
        pending = iter(jobs)
        # Twice as many lanes as request slots: when a reply lands, another lane is already waiting
        # for the slot, so the server never sees fewer than `concurrency` requests while work remains.
        lanes = 2 * max(self.config.concurrency, self.engine.backend.max_batch)

        async def lane() -> None:
            for sample, indices in pending:  # one shared iterator: each question is taken once
                if self.stop.is_set():
                    return
                await self.question(sample, indices)

        main = asyncio.current_task()
        self._install_signal_handlers(main)
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(min(lanes, len(jobs))):
                    tg.create_task(lane())
        except BaseExceptionGroup as group:
            raise most_severe(group) from None
        except asyncio.CancelledError:
            self.stop_reason = "interrupted"
            if main is not None:
                main.uncancel()  # handled: the caller still closes files and writes the manifest
        finally:
            self._remove_signal_handlers()
        if self.stop_reason:
            return self.stop_reason
        return "incomplete" if self.failed else "complete"

    def rationale_prompt(self, sample: Sample) -> str:
        """Step 1's prompt; for a one-step method, the only one."""
        return first_prompt(self.config.method, sample.question, fs_cot_key=self.task.spec.fs_cot)

    def answer_prompt(self, sample: Sample, rationale: str) -> str:
        if self.engine.backend.chat and rationale[:1] not in ("", " ", "\n"):
            rationale = (
                " " + rationale
            )  # chat replies start bare; a completion would have started with a space
        return zs_cot_step2(sample.question, rationale, self.trigger)

    async def question(self, sample: Sample, indices: list[int]) -> None:
        prompt = self.rationale_prompt(sample)
        try:
            rationales = await self.engine.sample(prompt, self.step1, indices)
        except StopRequested as e:
            self._stop("budget", e)
            return
        except RetriesExhausted as e:
            self._failed(sample, len(indices), e)
            return
        if self.config.one_step:  # the reply is the answer
            for index, reply in zip(indices, rationales, strict=True):
                self.writer.write(self.record(sample, index, prompt, None, None, reply))
                self.written += 1
                self.on_record()
            return
        try:
            async with asyncio.TaskGroup() as tg:
                for index, rationale in zip(indices, rationales, strict=True):
                    tg.create_task(self.answer(sample, index, prompt, rationale))
        except BaseExceptionGroup as group:
            raise most_severe(group) from None

    async def answer(self, sample: Sample, index: int, prompt: str, rationale: Generation) -> None:
        answer_prompt = None
        if rationale.finish_reason == "content_filter":
            answer = Generation("", "content_filter")  # nothing to ask an answer about
        else:
            answer_prompt = self.answer_prompt(sample, rationale.text)
            try:
                [answer] = await self.engine.sample(answer_prompt, self.step2, [index])
            except StopRequested as e:
                self._stop("budget", e)
                return
            except RetriesExhausted as e:
                self._failed(sample, 1, e)
                return
        self.writer.write(self.record(sample, index, prompt, rationale, answer_prompt, answer))
        self.written += 1
        self.on_record()

    def record(
        self,
        sample: Sample,
        index: int,
        prompt: str,
        rationale: Generation | None,
        answer_prompt: str | None,
        answer: Generation,
    ) -> Completion:
        """One sample's record; `rationale` is None for one-step methods (their reply is `answer`)."""
        backend = self.engine.backend
        steps = [g for g in (rationale, answer) if g is not None]
        if rationale is not None:
            params = {
                "max_tokens_rationale": self.step1.max_tokens,
                "max_tokens_answer": self.step2.max_tokens,
                "trigger": self.trigger,
            }
        else:
            params = {"max_tokens": self.step1.max_tokens, "stop": list(self.step1.stop)}
        return Completion(
            task=sample.task,
            sample_id=sample.id,
            sample_index=index,
            split=self.config.split,
            method=self.config.method,
            question=sample.question,
            gold=sample.answer,
            answer_type=sample.answer_type,
            prompt=prompt,
            rationale=rationale.text if rationale is not None else few_shot_rationale(self.config, answer),
            answer_prompt=answer_prompt,
            answer_text=answer.text,
            finish_reason=answer.finish_reason,
            rationale_finish_reason=rationale.finish_reason if rationale is not None else None,
            usage={
                "prompt_tokens": sum(g.prompt_tokens for g in steps),
                "completion_tokens": sum(g.completion_tokens for g in steps),
            },
            model=backend.model,
            params={"temperature": self.step1.temperature, "top_p": self.step1.top_p, **params},
            meta={
                "backend": backend.name,
                "chat": backend.chat,
                "cached": all(g.cached for g in steps),
            },
        ).rescore()

    def _stop(self, reason: str, error: Exception) -> None:
        if not self.stop.is_set():
            log.warning("stopping: %s; finished samples are kept", error)
        self.stop_reason = self.stop_reason or reason
        self.stop.set()

    def _failed(self, sample: Sample, count: int, error: Exception) -> None:
        self.failed += count
        log.warning("question %s: %d sample(s) not written: %s", sample.id, count, error)

    def _install_signal_handlers(self, main: asyncio.Task | None) -> None:
        loop = asyncio.get_running_loop()

        def interrupt(sig: int) -> None:
            self.stop_signal = self.stop_signal or sig
            if self.stop.is_set() and main is not None:
                main.cancel()  # second Ctrl-C: abandon the questions in flight
                return
            log.warning("interrupted: finishing the questions in flight (Ctrl-C again to abandon them)")
            self.stop_reason = "interrupted"
            self.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not the main thread, or not supported: the default handling stays.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                previous = signal.getsignal(sig)
                loop.add_signal_handler(sig, interrupt, sig)
                self._previous_handlers[sig] = previous

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, previous in self._previous_handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, TypeError):
                loop.remove_signal_handler(sig)
                # asyncio resets to the default; give back the caller's handler (`ftcot run` stops on SIGTERM).
                signal.signal(sig, previous)
        self._previous_handlers.clear()


# --- manifests ----------------------------------------------------------------------------------


def few_shot_rationale(config: TeachConfig, reply: Generation) -> str | None:
    """A Few-shot-CoT reply's reasoning: the text before 'The answer is' (curate can train on it)."""
    if config.method != "fs_cot":
        return None
    reasoning, found, _ = reply.text.partition(PREFIXES["fs_cot"])
    return reasoning.strip() if found else None


def _manifest(config: TeachConfig, task: Task, samples: list[Sample], backend: dict) -> dict:
    return {
        "stage": "teach",
        "method": config.method,
        "teacher": config.teacher,
        "backend": backend,
        "task": task.name,
        "split": config.split,
        "job": config.job(),
        "diverse": config.diverse,
        "limit": config.limit,
        "questions": len(samples),
        "trigger": answer_trigger(task, config.generic_trigger),
        "settings": {
            **config.model_dump(mode="json", exclude={"out", "dry_run", "progress"}),
            "base_url": redact_url(config.base_url),  # never user:password@ or ?key=
        },
    }


def _finish_manifest(config, manifest, engine, teacher, costs, status, error, elapsed, wanted) -> str:
    """Write the manifest of a run that ended with `status`; returns the status written, which is
    "complete" only when every wanted (task, sample, index) is in the folder."""
    records = read_records(config.out) if (config.out / "completions.jsonl").exists() else []
    missing = len(wanted - {r.key for r in records})
    if status == "complete" and missing:
        status = "incomplete"
    manifest = {
        **manifest,
        "status": status,
        "error": error,
        "samples": len(records),
        "samples_missing": missing,
        "last_run": {
            "elapsed_s": round(elapsed, 3),
            "written": teacher.written,
            "failed": teacher.failed,
            "requests": engine.requests,
            "backend_calls": engine.batcher.calls if engine.batcher else engine.throttle.stats.requests,
            "throttle": engine.throttle.stats.as_dict(),
            "cache": {**engine.cache.stats.as_dict(), "path": str(engine.cache.path)},
            "usage": engine.usage.as_dict(),
            "spent": costs.spent if costs.price is not None else None,
        },
        "price_per_1m": None
        if costs.price is None
        else {"input": costs.price.input, "output": costs.price.output},
        "yield": yield_report(records, costs),
    }
    write_manifest(config.out, manifest)
    return status


# --- the recorded teacher -----------------------------------------------------------------------


def _teach_recorded(config: TeachConfig, task: Task, samples: list[Sample]) -> Path:
    from ftcot.teach.recorded import MODEL, recorded_teacher

    if config.diverse > 1:
        log.warning(
            "the recorded teacher has one rationale per question; --diverse %d is ignored", config.diverse
        )
    records, result = recorded_teacher(task, config.split)
    wanted = {s.id for s in samples}
    records = [r for r in records if r.sample_id in wanted]
    missing = len(wanted) - len(records)
    imported = {**result.summary(), "split_samples": len(wanted), "split_without_entry": missing}
    manifest = {
        "stage": "teach",
        "method": "zs_cot",
        "teacher": "recorded",
        "diverse": 1,  # a log holds one rationale per question (curate and reports read D from here)
        "backend": {"backend": "recorded", "model": MODEL},
        "task": task.name,
        "split": config.split,
        "limit": config.limit,
        "questions": len(samples),
        "import": imported,
    }
    try:
        with RecordWriter(config.out, manifest={**manifest, "status": "running"}) as writer:
            for record in records:
                writer.write(record)
    except BaseException as e:  # noqa: BLE001 - recorded in the manifest, then raised again
        status, error = stopped_by(e)
        write_manifest(config.out, {**manifest, "status": status, "error": error})
        raise
    log.info(
        "recorded teacher, %s: %d log entries, %d matched, %d unmatched, %d ambiguous; %d/%d %s samples have one",
        task.name, result.entries, len(result.records), len(result.unmatched), len(result.ambiguous),
        len(records), len(wanted), config.split,
    )  # fmt: skip
    costs = CostTracker(MODEL, price_for("recorded", MODEL, {}))
    write_manifest(
        config.out,
        {**manifest, "status": "complete", "samples": len(records), "yield": yield_report(records, costs)},
    )
    return config.out


# --- is it finished? ----------------------------------------------------------------------------


def unfinished(config: TeachConfig) -> str | None:
    """What the folder `config.out` lacks to be a finished run of this job, in words; None when nothing.

    Finished means status "complete" and every (sample, index) of the job in completions.jsonl."""
    manifest = read_manifest(config.out)
    path = config.out / "completions.jsonl"
    have = {r.key for r in read_records(path)} if path.exists() else set()
    kind, _ = parse_teacher(config.teacher)
    if kind == "recorded":  # a recording holds what it holds: finished means all of it is written
        recorded = int(manifest.get("samples") or 0)
        not_recorded = int(manifest.get("missing") or 0)  # recorded:NAME counts split samples it lacks
        total, missing = recorded + not_recorded, max(0, recorded - len(have)) + not_recorded
    else:
        task = get_task(config.task)
        wanted = expected_keys(config, task, task.samples(config.split, limit=config.limit))
        total, missing = len(wanted), len(wanted - have)
    status = manifest.get("status", "not started")
    if status == "complete" and not missing:
        return None
    return f"{missing} of {total} samples missing (status {status})"


# --- dry run ------------------------------------------------------------------------------------


def estimate(config: TeachConfig) -> dict:
    """Tokens and cost before sending anything: exact for cached steps, an upper bound for the rest."""
    task = get_task(config.task)
    samples = task.samples(config.split, limit=config.limit)
    kind, model = parse_teacher(config.teacher)
    done: set = set()
    if (config.out / "completions.jsonl").exists():
        done = {r.key for r in read_records(config.out)}
    if kind == "recorded":
        return {"teacher": "recorded", "samples_todo": len(samples), "cost": 0.0}
    cache = GenerationCache(config.cache)
    cache_model = cache_model_name(model, config.chat)
    trigger = answer_trigger(task, config.generic_trigger)
    step1, step2 = config.rationale_params(), config.answer_params()
    n_supported = kind != "llamacpp"
    prompt_tokens = completion_tokens = cached = requests = todo = 0
    for sample in samples:
        prompt = first_prompt(config.method, sample.question, fs_cot_key=task.spec.fs_cot)
        p_tokens = estimate_tokens(prompt)
        indices = [d for d in range(config.diverse) if (task.name, sample.id, d) not in done]
        todo += len(indices)
        fresh = 0
        for d in indices:
            rationale = cache.get(cache_key(kind, cache_model, prompt, step1, d))
            if rationale is None:
                fresh += 1
                if config.one_step:
                    completion_tokens += step1.max_tokens
                    continue
                completion_tokens += step1.max_tokens + step2.max_tokens
                prompt_tokens += p_tokens + step1.max_tokens + estimate_tokens(trigger)
                requests += 1
                continue
            cached += 1
            if config.one_step:
                continue
            answer_prompt = zs_cot_step2(sample.question, rationale.text, trigger)
            if cache.get(cache_key(kind, cache_model, answer_prompt, step2, d)) is None:
                prompt_tokens += estimate_tokens(answer_prompt)
                completion_tokens += step2.max_tokens
                requests += 1
        if fresh:
            prompt_tokens += p_tokens * (1 if n_supported else fresh)
            requests += 1 if n_supported else fresh
    cache.close()
    price = price_for(kind, model, load_prices(config.prices), batch=config.batch_api)
    return {
        "teacher": config.teacher,
        "task": task.name,
        "split": config.split,
        "questions": len(samples),
        "samples_total": len(samples) * config.diverse,
        "samples_done": len(samples) * config.diverse - todo,
        "samples_todo": todo,
        "rationales_cached": cached,
        "requests_at_most": requests,
        "prompt_tokens": prompt_tokens,
        "completion_tokens_at_most": completion_tokens,
        "token_count": "tiktoken" if _has_tiktoken() else "4 characters a token (approximate)",
        "cost_at_most": None if price is None else price.cost(prompt_tokens, completion_tokens),
        "price_per_1m": None if price is None else {"input": price.input, "output": price.output},
    }


def _has_tiktoken() -> bool:
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return False
    return True
