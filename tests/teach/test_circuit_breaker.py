"""A server that fails every request: the run stops after a run of failures, keeps what it wrote, resumes."""

import sqlite3
import threading
import time
from collections import Counter

import pytest

from ftcot.records import read_manifest, read_records
from ftcot.teach.driver import TeachConfig, teach
from ftcot.teach.throttle import CircuitOpen
from ftcot.testing.fault_server import FaultPlan


def config(server, out, cache, **overrides) -> TeachConfig:
    settings = dict(
        teacher="openai:fault-model", task="multiarith", split="train", out=out, cache=cache, limit=100,
        base_url=server.url, concurrency=4, progress=False, max_attempts=2, timeout=5.0,
        max_consecutive_failures=4,
    )  # fmt: skip
    return TeachConfig(**{**settings, **overrides})


def cached_rows(cache) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]


def test_a_server_failing_everything_stops_the_run(fault_server, tmp_path):
    server = fault_server(FaultPlan(status=500))
    out = tmp_path / "run"
    started = time.monotonic()
    with pytest.raises(CircuitOpen, match="4 requests in a row.*500.*rerun"):
        teach(config(server, out, tmp_path / "cache.sqlite"))
    assert time.monotonic() - started < 30
    # Without the breaker: 100 questions x 2 tries. With it: 4 failed requests and those in flight.
    assert server.stats.requests <= 2 * (4 + 2 * 4)
    manifest = read_manifest(out)
    assert manifest["status"] != "complete" and "in a row" in manifest["error"]


def test_a_server_dying_mid_run_loses_nothing_and_a_rerun_sends_only_the_rest(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.01))
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"

    def kill_server_after_some_records():
        path = out / "completions.jsonl"
        while not (path.exists() and path.read_bytes().count(b"\n") >= 20):
            time.sleep(0.005)
        server.plan.status = 500

    killer = threading.Thread(target=kill_server_after_some_records, daemon=True)
    killer.start()
    with pytest.raises(CircuitOpen):
        teach(config(server, out, cache))
    killer.join(5)
    written = Counter(r.key for r in read_records(out))
    assert 20 <= len(written) < 100 and set(written.values()) == {1}
    paid = cached_rows(cache)

    server.plan.status = None  # the server is back
    server.reset_stats()
    teach(config(server, out, cache))
    keys = Counter(r.key for r in read_records(out))
    assert len(keys) == 100 and set(keys.values()) == {1}
    assert server.stats.choices == cached_rows(cache) - paid  # nothing fetched before was asked again
    assert read_manifest(out)["status"] == "complete"
