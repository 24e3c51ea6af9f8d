"""The engine: a backend behind the cache, the throttle (remote) or a micro-batcher (local), and a budget.

`Engine.sample(prompt, params, indices)` returns one generation per sample index. Cached
indices cost nothing; the rest are requested with `n` = how many are missing where the
backend can (the prompt is paid once), else one request per sample, concurrently. Every
fresh generation is cached the moment it arrives.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from ftcot.errors import FtcotError
from ftcot.teach.backends.base import Backend, Generation, RequestRefused, SamplingParams
from ftcot.teach.cache import GenerationCache, cache_key
from ftcot.teach.cost import CostTracker, estimate_tokens
from ftcot.teach.throttle import CircuitOpen, RetriesExhausted, Throttle


class StopRequested(FtcotError):
    """The run is stopping (budget reached); samples not yet finished stay unwritten."""


def most_severe(group: BaseExceptionGroup) -> BaseException:
    """The one error of a task group that decides what happens next: a refusal or an open circuit
    (a server failing everything) stops the run, a stop request stops it quietly, exhausted
    retries lose the sample only."""
    leaves = list(_leaves(group))
    for kind in (RequestRefused, CircuitOpen, StopRequested, RetriesExhausted):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _leaves(error: BaseException):
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generations: int = 0

    def add(self, g: Generation) -> None:
        self.prompt_tokens += g.prompt_tokens
        self.completion_tokens += g.completion_tokens
        self.generations += 1

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "generations": self.generations,
        }


class MicroBatcher:
    """Gathers concurrent requests for a local backend into batched `generate` calls, one at a time."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.queue: dict[SamplingParams, list[tuple[str, asyncio.Future]]] = defaultdict(list)
        self.worker: asyncio.Task | None = None
        self.calls = 0

    async def submit(self, prompt: str, params: SamplingParams) -> list[Generation]:
        future = asyncio.get_running_loop().create_future()
        self.queue[params].append((prompt, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0.005)  # let the other workers enqueue their prompts first
        while self.queue:
            params = max(self.queue, key=lambda p: len(self.queue[p]))  # the fullest batch first
            items = self.queue[params][: self.backend.max_batch]
            self.queue[params] = self.queue[params][len(items) :]
            if not self.queue[params]:
                del self.queue[params]
            self.calls += 1
            try:
                results = await self.backend.generate([prompt for prompt, _ in items], params)
            except Exception as e:  # noqa: BLE001 - handed to every waiting sample
                for _, future in items:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), generations in zip(items, results, strict=True):
                if not future.done():
                    future.set_result(generations)


class Engine:
    def __init__(
        self,
        backend: Backend,
        cache: GenerationCache,
        throttle: Throttle | None = None,
        costs: CostTracker | None = None,
    ):
        self.backend = backend
        self.cache = cache
        self.throttle = throttle or Throttle()
        self.batcher = None if backend.remote else MicroBatcher(backend)
        self.costs = costs or CostTracker(backend.model, prices=None)
        self.usage = Usage()  # fresh generations of this run (what was paid now)
        self.requests = 0  # requests handed to the backend (retries not counted; see throttle.stats)
        self._in_flight: dict[str, asyncio.Future] = {}  # cache key -> the reply being fetched

    async def sample(self, prompt: str, params: SamplingParams, indices: list[int]) -> list[Generation]:
        keys = {i: cache_key(self.backend.name, self.backend.cache_model, prompt, params, i) for i in indices}
        found = {i: self.cache.get(keys[i]) for i in indices}
        missing = [i for i in indices if found[i] is None]
        # A question asked twice (MultiArith repeats some) may be in flight already: wait for that reply.
        elsewhere = {i: self._in_flight[keys[i]] for i in missing if keys[i] in self._in_flight}
        mine = [i for i in missing if i not in elsewhere]
        if mine:
            found.update(await self._fetch_once(prompt, params, {i: keys[i] for i in mine}))
        for i, future in elsewhere.items():
            found[i] = await asyncio.shield(future)
        return [found[i] for i in indices]  # type: ignore[misc]

    async def _fetch_once(
        self, prompt: str, params: SamplingParams, keys: dict[int, str]
    ) -> dict[int, Generation]:
        """Fetch `keys`, letting concurrent callers of the same keys share the replies."""
        loop = asyncio.get_running_loop()
        for key in keys.values():
            self._in_flight[key] = loop.create_future()
        try:
            fetched = await self._fetch(prompt, params, keys)
        except BaseException as e:
            for key in keys.values():
                future = self._in_flight.pop(key)
                future.set_exception(e if isinstance(e, Exception) else asyncio.CancelledError())
                future.exception()  # the waiters, if any, see it; nobody needs a "never retrieved" warning
            raise
        for i, key in keys.items():
            self._in_flight.pop(key).set_result(fetched[i])
        return fetched

    async def _fetch(
        self, prompt: str, params: SamplingParams, keys: dict[int, str]
    ) -> dict[int, Generation]:
        found: dict[int, Generation] = {}
        missing = list(keys)
        while missing:
            groups = self._request_groups(missing)
            try:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(self._request(prompt, params, len(group))) for group in groups]
            except BaseExceptionGroup as group:
                raise most_severe(group) from None
            for group, task in zip(groups, tasks, strict=True):
                for i, generation in zip(group, task.result(), strict=False):
                    self.cache.put(keys[i], self.backend.name, self.backend.cache_model, generation)
                    found[i] = generation
            missing = [i for i in missing if i not in found]  # a server that ignored n: ask again
        return found

    def _request_groups(self, missing: list[int]) -> list[list[int]]:
        if not self.backend.supports_n:
            return [[i] for i in missing]
        step = max(1, self.backend.max_n)
        return [missing[k : k + step] for k in range(0, len(missing), step)]

    async def _request(self, prompt: str, params: SamplingParams, n: int) -> list[Generation]:
        request_params = params.with_n(n)
        estimate = estimate_tokens(prompt) + n * params.max_tokens
        reservation = self.costs.reserve(estimate_tokens(prompt), n * params.max_tokens)
        if reservation is None:
            raise StopRequested(f"--max-cost {self.costs.max_cost:g} reached")
        self.requests += 1
        try:
            if self.batcher is not None:
                results = await self.batcher.submit(prompt, request_params)
            else:
                results = await self.throttle.call(
                    lambda: self.backend.generate([prompt], request_params),
                    estimated_tokens=estimate,
                    used_tokens=lambda r: sum(g.prompt_tokens + g.completion_tokens for g in r[0]),
                )
                results = results[0]
        finally:
            self.costs.release(reservation)
        for generation in results:
            self.usage.add(generation)
            self.costs.add(generation.prompt_tokens, generation.completion_tokens)
        return results
