import asyncio
import contextlib
import time

import pytest

from ftcot.teach.backends.base import RequestRefused, RetryableError
from ftcot.teach.throttle import CircuitOpen, RetriesExhausted, RetryPolicy, Throttle, TokenBucket

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=1.0)


class Flaky:
    """Fails `failures` times with `error`, then returns 'ok'; counts calls."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_retries_then_succeeds():
    throttle = Throttle(4, policy=FAST)
    send = Flaky(2, RetryableError("503", kind="503"))
    assert asyncio.run(throttle.call(send)) == "ok"
    assert send.calls == 3
    assert throttle.stats.retries == 2
    assert throttle.stats.failures == {"503": 2}


def test_honours_retry_after():
    throttle = Throttle(4, policy=FAST)
    send = Flaky(1, RetryableError("429", kind="429", retry_after=0.3, rate_limited=True))
    started = time.monotonic()
    asyncio.run(throttle.call(send))
    assert time.monotonic() - started >= 0.3
    assert throttle.stats.rate_limited == 1


def test_refusals_are_not_retried():
    throttle = Throttle(4, policy=FAST)
    send = Flaky(5, RequestRefused("401: bad key"))
    with pytest.raises(RequestRefused):
        asyncio.run(throttle.call(send))
    assert send.calls == 1


def test_gives_up_after_max_attempts():
    throttle = Throttle(4, policy=FAST)
    send = Flaky(10, RetryableError("500", kind="500"))
    with pytest.raises(RetriesExhausted, match="4 tries"):
        asyncio.run(throttle.call(send))
    assert send.calls == 4


def test_timeout_is_retried():
    throttle = Throttle(4, policy=RetryPolicy(max_attempts=3, base_delay=0.01, timeout=0.1))
    calls = []

    async def send():
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(5)  # a hang: the throttle gives up on it after 0.1 s
        return "ok"

    assert asyncio.run(throttle.call(send)) == "ok"
    assert throttle.stats.failures == {"timeout": 1}


def test_concurrency_is_bounded():
    throttle = Throttle(3, policy=FAST)
    live, peak = 0, 0

    async def send():
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.02)
        live -= 1

    async def main():
        await asyncio.gather(*(throttle.call(send) for _ in range(20)))

    asyncio.run(main())
    assert peak == 3


def test_token_bucket_limits_the_rate():
    async def main():
        bucket = TokenBucket(rate_per_minute=1200, burst_seconds=0.5)  # 20/s, burst 10
        started = time.monotonic()
        for _ in range(20):
            await bucket.take(1)
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert 0.4 <= elapsed <= 1.0  # 10 at once, then 10 more at 20/s


def test_token_bucket_lets_one_oversized_request_through():
    async def main():
        bucket = TokenBucket(rate_per_minute=600, burst_seconds=1)  # capacity 10 tokens
        await asyncio.wait_for(bucket.take(500), 1)  # bigger than the bucket: goes, leaves a debt
        return bucket.level

    assert asyncio.run(main()) < 0


# --- the circuit breaker: a server that fails everything stops the run --------------------------


def test_circuit_opens_after_consecutive_failed_requests():
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_consecutive_failures=3)
    throttle = Throttle(2, policy=policy)
    send = Flaky(10**6, RetryableError("500 from the server", kind="500"))
    outcomes = []

    async def lane(pending):  # as the driver does: a few lanes share the requests of a split
        for _ in pending:
            try:
                await throttle.call(send)
            except (RetriesExhausted, CircuitOpen) as e:
                outcomes.append(e)
                if isinstance(e, CircuitOpen):
                    return

    async def main():
        pending = iter(range(100))
        await asyncio.gather(*(lane(pending) for _ in range(4)))

    asyncio.run(main())
    circuit = [e for e in outcomes if isinstance(e, CircuitOpen)]
    assert circuit and len(outcomes) < 10
    # Without the breaker: 100 requests x 2 tries. With it: three failed requests and those in flight.
    assert send.calls <= 3 * 2 + 4 * 2
    message = str(circuit[0])
    assert "3 requests in a row" in message and "500 from the server" in message and "rerun" in message


def test_a_success_closes_the_count_again():
    policy = RetryPolicy(max_attempts=1, base_delay=0.01, max_consecutive_failures=3)
    throttle = Throttle(1, policy=policy)
    failing = Flaky(10**6, RetryableError("503", kind="503"))

    async def ok():
        return "ok"

    async def main():
        for _ in range(5):  # two failures, a success, two failures...: never three in a row
            for send in (failing, failing, ok):
                with contextlib.suppress(RetriesExhausted):
                    await throttle.call(send)

    asyncio.run(main())
    assert throttle.circuit is None and failing.calls == 10
