"""The OpenAI Batch API path against the fault server's /v1/files and /v1/batches."""

import asyncio
import json

import pytest

from ftcot.records import read_manifest, read_records
from ftcot.teach.backends.base import SamplingParams
from ftcot.teach.batch import BatchRequest, parse_result_line, request_line
from ftcot.teach.driver import TeachConfig, teach
from ftcot.testing.fault_server import FaultPlan


def config(server, out, **overrides):
    settings = dict(teacher="openai:gpt-4o-mini", task="multiarith", out=out, limit=6, diverse=2,
                    base_url=server.url, batch_api=True, batch_poll_s=0.01, progress=False)  # fmt: skip
    return TeachConfig(**{**settings, **overrides})


def test_request_line_and_result_parser():
    request = BatchRequest(
        "r0", "Q: 1+1?\nA: Let's think step by step.", SamplingParams(0.7, 1.0, 128, n=3), ["k"] * 3
    )
    line = json.loads(request_line(request, "gpt-4o-mini", chat=True))
    assert line["url"] == "/v1/chat/completions" and line["body"]["n"] == 3
    assert line["body"]["messages"] == [{"role": "user", "content": request.prompt}]
    body = {"choices": [{"index": 1, "message": {"content": "bb"}, "finish_reason": "length"},
                        {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 9}}  # fmt: skip
    custom_id, generations = parse_result_line(
        json.dumps({"custom_id": "r0", "response": {"status_code": 200, "body": body}})
    )
    assert custom_id == "r0" and [g.text for g in generations] == ["a", "bb"]
    assert [g.completion_tokens for g in generations] == [3, 6] and generations[0].prompt_tokens == 10
    failed = {"custom_id": "r1", "response": {"status_code": 500, "body": {}}, "error": None}
    assert parse_result_line(json.dumps(failed)) == ("r1", None)


def test_batch_run_sends_no_live_requests_and_costs_half(fault_server, tmp_path):
    server = fault_server()
    teach(config(server, tmp_path / "run"))
    assert server.stats.requests == 0  # nothing went to the live endpoints
    assert len(server.batches) == 2  # one round of rationales, one of answers
    assert len(read_records(tmp_path / "run")) == 12
    manifest = read_manifest(tmp_path / "run")
    assert manifest["price_per_1m"] == {"input": 0.075, "output": 0.3}  # gpt-4o-mini at batch price
    assert manifest["last_run"]["usage"]["generations"] == 24 and manifest["last_run"]["spent"] > 0
    state = json.loads((tmp_path / "run" / "batch_state.json").read_text())
    assert state["rationales"]["done"] and state["answers"]["done"]


def test_a_pending_batch_is_resumed_not_resubmitted(fault_server, tmp_path):
    from ftcot.records import RecordWriter
    from ftcot.tasks import get_task
    from ftcot.teach.backends import get_backend
    from ftcot.teach.batch import BatchRunner
    from ftcot.teach.cache import GenerationCache
    from ftcot.teach.driver import ZeroShotCoT, _todo
    from ftcot.teach.engine import Engine

    server = fault_server(FaultPlan(batch_polls_before_done=10**6))
    cfg = config(server, tmp_path / "run")

    async def submit_and_give_up():
        backend = get_backend(cfg.teacher, base_url=cfg.base_url)
        engine = Engine(backend, GenerationCache(tmp_path / "c.sqlite"))
        task = get_task("multiarith")
        with RecordWriter(cfg.out) as writer:
            teacher = ZeroShotCoT(cfg, task, engine, writer)
            runner = BatchRunner(cfg, teacher)
            jobs = _todo(task.samples("train", limit=6), 2, writer, task.name)
            pending = asyncio.create_task(runner.round("rationales", runner.rationale_requests(jobs)))
            for _ in range(1000):  # until the batch is submitted (it never finishes), then give up on it
                if server.batches or pending.done():
                    break
                await asyncio.sleep(0.01)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
        await backend.aclose()

    asyncio.run(submit_and_give_up())
    assert len(server.batches) == 1
    server.plan.batch_polls_before_done = 0
    teach(cfg.model_copy(update={"cache": tmp_path / "c.sqlite"}))
    assert len(server.batches) == 2  # the pending rationale batch was collected, then one for answers
    assert len(read_records(tmp_path / "run")) == 12 and server.stats.requests == 0


def test_batch_api_keeps_to_max_cost(fault_server, tmp_path):
    """A cap of $1 once spent several dollars: each round submitted every request. Now a round sends
    only what fits the budget (a rationale's worst case counting its answers), and the rest stops."""
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"gpt-4o-mini": {"input": 1000.0, "output": 1000.0}})
    )  # $0.0005 a token batched
    server = fault_server()
    out = tmp_path / "run"
    teach(config(server, out, limit=20, prices=prices, max_cost=1.0))
    manifest = read_manifest(out)
    assert manifest["status"] == "budget"
    assert 0 < manifest["last_run"]["spent"] <= 1.0
    assert 0 < manifest["samples"] < 40
    rationale_batch = server.files[server.batches["batch-1"]["input_file_id"]].decode().splitlines()
    assert 0 < len(rationale_batch) < 20  # not every question went into the batch
    keys = [r.key for r in read_records(out)]
    assert len(keys) == len(set(keys))
