"""Client-side flow control for remote teachers: concurrency, RPM/TPM limits, timeouts and retries.

Every request runs `Throttle.call`: it waits for a concurrency slot and for the
requests-per-minute and tokens-per-minute buckets, runs the request under a timeout, and
retries `RetryableError`s with full-jitter exponential backoff. A server's `Retry-After`
is honoured as a lower bound, and a 429 pauses *all* requests for that long, since every
request in flight shares the same limit. `RequestRefused` is never retried. A circuit
breaker stops the run once `max_consecutive_failures` requests in a row have given up: a
server that fails everything is not asked `max_attempts` times for every request of a split.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ftcot.errors import FtcotError
from ftcot.teach.backends.base import RequestRefused, RetryableError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetriesExhausted(FtcotError):
    """A request failed on every try; the sample stays unwritten and a rerun tries again."""


class CircuitOpen(FtcotError):
    """Too many requests in a row failed on every try: the server is down, so the run stops.
    Finished samples are kept and a rerun resumes. Not a `RetriesExhausted`: it ends the run,
    not one sample."""


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.5  # seconds, doubled each attempt
    max_delay: float = 60.0
    timeout: float = 120.0  # per attempt
    max_consecutive_failures: int | None = 16  # requests giving up in a row that stop the run; None: never

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (uniform in [0, base*2^attempt]); never shorter than the server asked."""
        jittered = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return max(jittered, retry_after or 0.0)


class TokenBucket:
    """`rate_per_minute` units a minute, bursting up to `burst` units. A request bigger than the
    bucket may drive it negative (it waits for the bucket to be non-negative first), so one huge
    prompt is delayed but never stuck."""

    def __init__(self, rate_per_minute: float, burst_seconds: float = 5.0):
        self.rate = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def take(self, amount: float) -> None:
        async with self.lock:  # first come, first served
            while True:
                self._refill()
                need = min(amount, self.capacity)
                if self.level >= need:
                    self.level -= amount
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def refund(self, amount: float) -> None:
        """Correct an estimate once the true usage is known (amount may be negative)."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


@dataclass
class ThrottleStats:
    requests: int = 0  # attempts sent, retries included
    retries: int = 0
    rate_limited: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # by error kind

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "failures": dict(self.failures),
        }


class Throttle:
    def __init__(
        self,
        concurrency: int = 32,
        rpm: float | None = None,
        tpm: float | None = None,
        policy: RetryPolicy | None = None,
    ):
        self.concurrency = concurrency
        self.slots = asyncio.Semaphore(concurrency)
        self.rpm = TokenBucket(rpm) if rpm else None
        self.tpm = TokenBucket(tpm) if tpm else None
        self.policy = policy or RetryPolicy()
        self.stats = ThrottleStats()
        self._paused_until = 0.0
        self.refused: RequestRefused | None = None  # set by the first refusal: the run is over
        self.circuit: CircuitOpen | None = None  # set when too many requests failed in a row: likewise
        self._failed_in_a_row = 0

    async def call(self, send: Callable[[], Awaitable[T]], estimated_tokens: int = 0, used_tokens=None) -> T:
        """Run `send()` with limits and retries. `used_tokens(result)` gives the true token count."""
        for attempt in range(self.policy.max_attempts):
            try:
                result = await self._attempt(send, estimated_tokens)
            except RequestRefused as e:
                self.refused = e  # every request still waiting for a slot stops here too
                raise
            except RetryableError as e:
                self._note_failure(e)
                if attempt + 1 == self.policy.max_attempts:
                    self._request_failed(e)
                    raise RetriesExhausted(f"gave up after {attempt + 1} tries; last error: {e}") from None
                delay = self.policy.backoff(attempt, e.retry_after)
                if e.rate_limited:
                    self._paused_until = max(self._paused_until, time.monotonic() + delay)
                log.debug("retry %d in %.2fs: %s", attempt + 1, delay, e)
                self.stats.retries += 1
                await asyncio.sleep(delay)
                continue
            self._failed_in_a_row = 0
            if self.tpm and used_tokens is not None:
                self.tpm.refund(estimated_tokens - used_tokens(result))
            return result
        raise AssertionError("unreachable")

    async def _attempt(self, send: Callable[[], Awaitable[T]], estimated_tokens: int) -> T:
        async with self.slots:
            if self.refused is not None:
                raise self.refused
            if self.circuit is not None:  # requests waiting for a slot or a retry stop here
                raise self.circuit
            await self._wait_for_pause()
            if self.rpm:
                await self.rpm.take(1)
            if self.tpm:
                await self.tpm.take(estimated_tokens)
            self.stats.requests += 1
            try:
                return await asyncio.wait_for(send(), self.policy.timeout)
            except TimeoutError:
                raise RetryableError(f"no reply within {self.policy.timeout:g}s", kind="timeout") from None

    async def _wait_for_pause(self) -> None:
        while (wait := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    def _request_failed(self, last: RetryableError) -> None:
        """Count a request that gave up; open the circuit (raise `CircuitOpen`) after too many in a row."""
        self._failed_in_a_row += 1
        limit = self.policy.max_consecutive_failures
        if self.circuit is None and limit and self._failed_in_a_row >= limit:
            self.circuit = CircuitOpen(
                f"the server failed {self._failed_in_a_row} requests in a row, each tried "
                f"{self.policy.max_attempts} times (last: {last}); stopping. Finished samples are kept; "
                "rerun the same command to resume once the server answers again"
            )
        if self.circuit is not None:
            raise self.circuit

    def _note_failure(self, e: RetryableError) -> None:
        self.stats.failures[e.kind] = self.stats.failures.get(e.kind, 0) + 1
        if e.rate_limited:
            self.stats.rate_limited += 1
