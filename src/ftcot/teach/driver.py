"""Zero-shot-CoT with diverse reasoning: the teacher stage's one entry point, `teach(config)`.

For each question of a task split and each sample index d < D, the request plan
(`ftcot.teach.plan`) says what to ask: a rationale, then the answer (or, for the prompt
baselines zero_shot and fs_cot, one request). Questions run in parallel lanes through the
engine (cache, throttle, budget). Each finished sample is scored with the shared checker and
appended to `completions.jsonl` at once. A rerun skips the samples already written and finds
every earlier generation in the cache, so a run killed at any moment resumes with nothing
lost, duplicated or paid twice. Ctrl-C (or SIGTERM) lets the questions in flight finish, then
raises `Interrupted`; a second Ctrl-C abandons them. The manifest's status says how the run
ended: "complete" only when every (sample, index) is written.

Settings live in `ftcot.teach.config`, the dry run in `ftcot.teach.estimate`, run status in
`ftcot.teach.status`; their names are re-exported here for older imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ftcot.errors import ConfigError, Interrupted
from ftcot.manifests import BackendInfo, LastRun, Price, TeachManifest, TeachYield
from ftcot.records import Completion, RecordWriter, read_manifest, read_records, write_manifest
from ftcot.redact import redact_url
from ftcot.tasks import Sample, Task, get_task
from ftcot.teach.backends import get_backend, parse_teacher
from ftcot.teach.backends.base import Backend, Generation
from ftcot.teach.cache import GenerationCache
from ftcot.teach.config import JOB_FIELDS, TeachConfig
from ftcot.teach.cost import CostTracker, load_prices, price_for, yield_report
from ftcot.teach.engine import Engine, StopRequested, most_severe
from ftcot.teach.estimate import estimate
from ftcot.teach.plan import Request, RequestPlan, answer_trigger
from ftcot.teach.progress import TeachProgress
from ftcot.teach.status import expected_keys, stopped_by, unfinished
from ftcot.teach.throttle import RetriesExhausted, RetryPolicy, Throttle

__all__ = [
    "JOB_FIELDS",
    "TeachConfig",
    "ZeroShotCoT",
    "answer_trigger",
    "estimate",
    "expected_keys",
    "stopped_by",
    "teach",
    "unfinished",
]

log = logging.getLogger("ftcot.teach")


# --- the entry point --------------------------------------------------------------------------


def teach(config: TeachConfig, *, backend: Callable[[], Backend] | None = None) -> Path:
    """Run (or resume) a teacher job; returns the run folder. `dry_run` only logs the estimate.

    `backend` makes the backend instead of the teacher spec (a local student served by llama.cpp,
    `ftcot eval --engine llamacpp`); it is called only when the run starts."""
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
        from ftcot.teach.recorded import teach_recorded

        return teach_recorded(config, task, samples)
    _check_same_job(config)
    return asyncio.run(_teach_live(config, task, samples, backend))


def _check_same_job(config: TeachConfig) -> None:
    old = read_manifest(config.out).get("job")
    if old and old != config.job():
        changed = sorted(k for k in {*config.job(), *old} if old.get(k) != config.job().get(k))
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


async def _teach_live(
    config: TeachConfig, task: Task, samples: list[Sample], make_backend: Callable[[], Backend] | None = None
) -> Path:
    if make_backend is not None:
        backend = make_backend()
    else:
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
        timeout=max(config.timeout, backend.request_timeout or 0),
        max_consecutive_failures=config.max_consecutive_failures,
    )
    cache = GenerationCache(config.cache)
    # More requests than a local server has slots only queue there, against the request timeout.
    concurrency = min(config.concurrency, backend.max_in_flight or config.concurrency)
    engine = Engine(backend, cache, Throttle(concurrency, config.rpm, config.tpm, policy), costs)
    manifest = _manifest(config, task, samples, backend.describe())
    writer = RecordWriter(config.out, manifest=manifest.replace(status="running"))
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


# --- Zero-shot-CoT ------------------------------------------------------------------------------


class ZeroShotCoT:
    """Two steps per sample (one for the prompt baselines), as the request plan says; D samples per
    question; questions run in parallel lanes."""

    def __init__(self, config: TeachConfig, task: Task, engine: Engine, writer: RecordWriter):
        self.config = config
        self.task = task
        self.engine = engine
        self.writer = writer
        self.plan = RequestPlan.for_teach(config, task)
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
        # Twice as many requests as slots: when a reply lands, another is already waiting for the slot,
        # so the server never idles while work remains. A question asks D rationales at once, so
        # fewer questions fill the slots; more lanes would only lengthen a graceful stop, which
        # finishes every question in flight.
        backend, diverse = self.engine.backend, self.config.diverse
        per_question = -(-diverse // backend.max_n) if backend.supports_n else diverse
        slots = max(self.engine.throttle.concurrency, backend.max_batch)
        lanes = 2 * max(1, -(-slots // per_question))

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

    async def question(self, sample: Sample, indices: list[int]) -> None:
        first = self.plan.first(sample)
        replies = await self._ask(sample, first, indices)
        if replies is None:
            return
        if self.plan.one_step:  # the reply is the answer
            for index, reply in zip(indices, replies, strict=True):
                self._write(self.plan.record(sample, index, first, None, None, reply, self.engine.backend))
            return
        try:
            async with asyncio.TaskGroup() as tg:
                for index, rationale in zip(indices, replies, strict=True):
                    tg.create_task(self.answer(sample, index, first, rationale))
        except BaseExceptionGroup as group:
            raise most_severe(group) from None

    async def answer(self, sample: Sample, index: int, first: Request, rationale: Generation) -> None:
        second = self.plan.second(sample, rationale)
        if second is None:  # the content filter refused the rationale: nothing to ask an answer about
            answer = Generation("", "content_filter")
        else:
            replies = await self._ask(sample, second, [index])
            if replies is None:
                return
            [answer] = replies
        self._write(self.plan.record(sample, index, first, rationale, second, answer, self.engine.backend))

    async def _ask(self, sample: Sample, request: Request, indices: list[int]) -> list[Generation] | None:
        """The generations of `indices`; None when they are lost (retries ran out) or the run stops."""
        try:
            return await self.engine.sample(request.prompt, request.params, indices)
        except StopRequested as e:
            self._stop("budget", e)
        except RetriesExhausted as e:
            self._failed(sample, len(indices), e)
        return None

    def _write(self, record: Completion) -> None:
        self.writer.write(record)
        self.written += 1
        self.on_record()

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


def _manifest(config: TeachConfig, task: Task, samples: list[Sample], backend: dict) -> TeachManifest:
    return TeachManifest(
        method=config.method,
        teacher=config.teacher,
        backend=BackendInfo(**backend),
        task=task.name,
        split=config.split,
        job=config.job(),
        diverse=config.diverse,
        limit=config.limit,
        questions=len(samples),
        trigger=answer_trigger(task, config.generic_trigger),
        settings={
            **config.model_dump(mode="json", exclude={"out", "dry_run", "progress"}),
            "base_url": redact_url(config.base_url),  # never user:password@ or ?key=
        },
    )


def _finish_manifest(config, manifest, engine, teacher, costs, status, error, elapsed, wanted) -> str:
    """Write the manifest of a run that ended with `status`; returns the status written, which is
    "complete" only when every wanted (task, sample, index) is in the folder."""
    records = read_records(config.out) if (config.out / "completions.jsonl").exists() else []
    missing = len(wanted - {r.key for r in records})
    if status == "complete" and missing:
        status = "incomplete"
    manifest = manifest.replace(
        status=status,
        error=error,
        samples=len(records),
        samples_missing=missing,
        last_run=LastRun(
            elapsed_s=round(elapsed, 3),
            written=teacher.written,
            failed=teacher.failed,
            requests=engine.requests,
            backend_calls=engine.batcher.calls if engine.batcher else engine.throttle.stats.requests,
            throttle=engine.throttle.stats.as_dict(),
            cache={**engine.cache.stats.as_dict(), "path": str(engine.cache.path)},
            usage=engine.usage.as_dict(),
            spent=costs.spent if costs.price is not None else None,
        ),
        price_per_1m=None
        if costs.price is None
        else Price(input=costs.price.input, output=costs.price.output),
        yield_=TeachYield(**yield_report(records, costs)),
    )
    write_manifest(config.out, manifest)
    return status
