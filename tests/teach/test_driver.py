"""The Zero-shot-CoT driver against the fault server: records, cache, faults, refusals, n, budgets."""

import json
import time
from collections import Counter

import pytest

from ftcot.records import read_manifest, read_records
from ftcot.teach.backends import RequestRefused
from ftcot.teach.driver import TeachConfig, estimate, teach
from ftcot.testing.fault_server import FaultPlan


def config(server, out, **overrides) -> TeachConfig:
    settings = dict(
        teacher="openai:fault-model", task="multiarith", split="train", out=out, diverse=2, limit=10,
        base_url=server.url, concurrency=8, progress=False, max_attempts=8, timeout=5.0,
    )  # fmt: skip
    return TeachConfig(**{**settings, **overrides})


def keys_of(out):
    return Counter(r.key for r in read_records(out))


def test_records_every_sample_once_and_replays_from_cache(fault_server, tmp_path):
    server = fault_server()
    teach(config(server, tmp_path / "a"))
    records = read_records(tmp_path / "a")
    assert len(records) == 20 and set(keys_of(tmp_path / "a").values()) == {1}
    first = records[0]
    assert first.method == "zs_cot" and first.prompt.endswith("Let's think step by step.")
    # A chat reply starts bare; step 2 continues the prompt as a completion would, after a space.
    assert first.rationale.startswith("The numbers")
    assert (
        first.answer_prompt
        == first.prompt + " " + first.rationale + " \nTherefore, the answer (arabic numerals) is"
    )
    assert first.prediction is not None and first.correct is not None
    assert first.params["temperature"] == 0.7  # the paper's default for D > 1
    assert server.stats.completions == 10 + 20  # n=2 in one step-1 request per question, then 20 answers

    server.reset_stats()
    teach(config(server, tmp_path / "b"))  # same job, new folder: all from the cache
    assert server.stats.requests == 0
    assert [r.to_json() for r in read_records(tmp_path / "b")] != []
    manifest = read_manifest(tmp_path / "b")
    assert manifest["last_run"]["requests"] == 0 and manifest["last_run"]["cache"]["hits"] == 40
    assert manifest["status"] == "complete"
    a = {r.key: (r.rationale, r.answer_text) for r in records}
    b = {r.key: (r.rationale, r.answer_text) for r in read_records(tmp_path / "b")}
    assert a == b


def test_every_fault_still_ends_in_exactly_one_record_per_sample(fault_server, tmp_path):
    plan = FaultPlan(
        p_429=0.1, retry_after=0.05, p_500=0.08, p_503=0.08, p_hang=0.04, hang_seconds=3, p_drop=0.08,
        p_malformed=0.08, p_length=0.1, p_content_filter=0.05, seed=7,
    )  # fmt: skip
    server = fault_server(plan)
    teach(config(server, tmp_path / "run", limit=15, diverse=3, timeout=0.5))
    keys = keys_of(tmp_path / "run")
    assert len(keys) == 45 and set(keys.values()) == {1}
    assert set(server.stats.faults) >= {"429", "500", "503", "drop", "malformed"}
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "complete" and manifest["last_run"]["failed"] == 0
    assert manifest["last_run"]["throttle"]["retries"] >= sum(server.stats.faults.values())
    records = read_records(tmp_path / "run")
    reasons = Counter(r.finish_reason for r in records) + Counter(r.rationale_finish_reason for r in records)
    assert reasons["length"] > 0 and reasons["content_filter"] > 0
    for r in records:
        if r.rationale_finish_reason == "content_filter":  # no answer is asked about a refused rationale
            assert r.answer_prompt is None and r.finish_reason == "content_filter" and r.correct is False


@pytest.mark.parametrize("status", [401, 400, 404])
def test_errors_that_cannot_succeed_stop_fast(fault_server, tmp_path, status):
    server = fault_server(FaultPlan(status=status))
    started = time.monotonic()
    with pytest.raises(RequestRefused, match=str(status)) as error:
        teach(config(server, tmp_path / "run", limit=50))
    assert time.monotonic() - started < 3
    assert server.stats.requests <= 8  # the requests already in flight, no retries
    if status == 401:
        assert "OPENAI_API_KEY" in str(error.value)
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "refused" and str(status) in manifest["error"]


def test_server_that_ignores_n_gets_one_request_per_sample(fault_server, tmp_path):
    server = fault_server(FaultPlan(supports_n=False))
    teach(config(server, tmp_path / "run", limit=5, diverse=4))
    assert len(keys_of(tmp_path / "run")) == 20
    assert server.stats.choices == server.stats.completions  # one choice per reply
    assert server.stats.completions <= 5 * 4 * 2 + 5  # at most one wasted n-request per question


def test_completions_endpoint(fault_server, tmp_path):
    server = fault_server()
    teach(config(server, tmp_path / "run", limit=3, chat=False, diverse=1))
    assert server.stats.paths == {"/v1/completions": 6}
    assert read_records(tmp_path / "run")[0].params["temperature"] == 0.0  # D=1: greedy


def test_dry_run_estimates_without_sending(fault_server, tmp_path):
    server = fault_server()
    plan = estimate(config(server, tmp_path / "run", limit=10, diverse=4))
    assert server.stats.requests == 0
    assert plan["samples_todo"] == 40 and plan["requests_at_most"] == 10 + 40
    assert plan["completion_tokens_at_most"] == 40 * (128 + 32)
    teach(config(server, tmp_path / "run", limit=10, diverse=4))
    again = estimate(config(server, tmp_path / "other", limit=10, diverse=4))
    assert again["rationales_cached"] == 40 and again["requests_at_most"] == 0


def test_max_cost_stops_cleanly(fault_server, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fault-model": {"input": 1000.0, "output": 1000.0}}))  # $0.001 a token
    server = fault_server(FaultPlan(latency=0.01))
    out = tmp_path / "run"
    teach(config(server, out, limit=40, diverse=1, concurrency=2, prices=prices, max_cost=1.0))
    manifest = read_manifest(out)
    assert manifest["status"] == "budget"
    assert 0 < manifest["samples"] < 40
    assert manifest["last_run"]["spent"] <= 1.0
    assert set(keys_of(out).values()) == {1}
    assert manifest["yield"]["job_cost"] == pytest.approx(manifest["last_run"]["spent"])


def test_a_folder_holds_one_job(fault_server, tmp_path):
    server = fault_server()
    teach(config(server, tmp_path / "run", limit=2))
    with pytest.raises(Exception, match="temperature"):
        teach(config(server, tmp_path / "run", limit=2, temperature=0.3))


def test_more_questions_or_samples_extend_a_run(fault_server, tmp_path):
    server = fault_server()
    teach(config(server, tmp_path / "run", limit=3, diverse=2))
    server.reset_stats()
    teach(config(server, tmp_path / "run", limit=5, diverse=3))
    keys = keys_of(tmp_path / "run")
    assert len(keys) == 15 and set(keys.values()) == {1}
    assert server.stats.completions == 5 + (15 - 6)  # only the new samples were asked for


def test_identical_requests_in_flight_are_sent_once(fault_server, tmp_path):
    import asyncio

    from ftcot.teach.backends import get_backend
    from ftcot.teach.backends.base import SamplingParams
    from ftcot.teach.cache import GenerationCache
    from ftcot.teach.engine import Engine

    server = fault_server(FaultPlan(latency=0.05))

    async def ask_twice_at_once():
        engine = Engine(get_backend("openai:m", base_url=server.url), GenerationCache(tmp_path / "c.sqlite"))
        params = SamplingParams(0.7, 1.0, 16)
        first, second = await asyncio.gather(
            engine.sample("Q: 2+2?", params, [0, 1]), engine.sample("Q: 2+2?", params, [1, 2])
        )
        await engine.backend.aclose()
        return first, second

    first, second = asyncio.run(ask_twice_at_once())
    assert first[1].text == second[0].text
    assert server.stats.choices == 3  # indices 0, 1, 2: index 1 was asked for once


def test_a_crash_never_says_complete(fault_server, tmp_path):
    """An unexpected error mid-run (here a corrupt cache page) ends in 'failed' with the error."""
    server = fault_server()
    cache = tmp_path / "cache.sqlite"
    teach(config(server, tmp_path / "a", limit=3, cache=cache))
    with open(cache, "r+b") as f:  # every page but the schema's: the file opens, the first lookup fails
        f.seek(4096)
        f.write(b"\xff" * (cache.stat().st_size - 4096))
    with pytest.raises(Exception):  # noqa: B017 - which error is the cache's business; the status is ours
        teach(config(server, tmp_path / "b", limit=5, cache=cache))
    manifest = read_manifest(tmp_path / "b")
    assert manifest.get("status") != "complete"
    if manifest:  # (a check when the cache opens may refuse it before the run folder is written)
        assert manifest["status"] == "failed" and manifest["error"]
        assert manifest["samples"] == 0 and manifest["samples_missing"] == 10
