"""The OpenAI Batch API for big teacher jobs: half price, results within 24 hours, resumable.

Zero-shot-CoT needs two rounds: the rationales of every missing sample go in one batch; once
they are back, the answers go in a second. Each round's results go straight into the
generation cache, so the ordinary run that follows finds every generation cached and
writes the records without sending anything (a sample whose batch line failed is simply
asked live). `OUT/batch_state.json` remembers the batch of each round, so a run stopped
while a batch is pending picks up the same batch instead of paying twice. The state file
holds ids and cache keys, never the API key.

`--max-cost` holds here as it does live: a round submits only the requests whose worst case
(a rationale's worst case counts its answers too) fits what is left of the budget. What a
batch left out or failed is asked live afterwards, at the live price, within the same budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ftcot.errors import ConfigError, FtcotError
from ftcot.tasks import Sample
from ftcot.teach.backends.base import Generation, SamplingParams
from ftcot.teach.backends.openai_backend import parse_reply, request_body
from ftcot.teach.cost import estimate_tokens, load_prices, price_for
from ftcot.teach.plan import Request

log = logging.getLogger("ftcot.teach")
STATE_FILE = "batch_state.json"
FAILED_STATES = ("failed", "expired", "cancelled", "cancelling")


class BatchFailed(FtcotError):
    """A batch ended without results."""


@dataclass
class BatchRequest:
    custom_id: str
    prompt: str
    params: SamplingParams  # with n = number of keys
    keys: list[str]  # cache key of each sample the reply fills, in choice order
    worst_case: tuple[int, int] = (0, 0)  # the most (prompt, completion) tokens it and what follows it take


def request_line(request: BatchRequest, model: str, chat: bool) -> str:
    """One line of the batch input file: the same body a live request would send."""
    url = "/v1/chat/completions" if chat else "/v1/completions"
    body = request_body(model, request.prompt, request.params, chat)
    return json.dumps({"custom_id": request.custom_id, "method": "POST", "url": url, "body": body})


def parse_result_line(line: str) -> tuple[str, list[Generation] | None]:
    """(custom_id, generations) of one output line; None when that request failed."""
    item = json.loads(line)
    response = item.get("response") or {}
    if item.get("error") or response.get("status_code") != 200:
        return item.get("custom_id", ""), None
    return item["custom_id"], parse_reply(response["body"])


class BatchRunner:
    def __init__(self, config, teacher):
        backend = teacher.engine.backend
        if backend.name != "openai":
            raise ConfigError("--batch-api needs an openai: teacher (the OpenAI Batch API)")
        self.teacher = teacher
        self.plan = teacher.plan
        self.engine = teacher.engine
        self.backend = backend
        self.poll_s = config.batch_poll_s
        self.state_path = Path(config.out) / STATE_FILE
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}

    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    def _key(self, request: Request, index: int) -> str:
        return request.cache_key(self.backend.name, self.backend.cache_model, index)

    def rationale_requests(self, jobs: list[tuple[Sample, list[int]]]) -> list[BatchRequest]:
        requests = []
        plan = self.plan
        for sample, indices in jobs:
            first = plan.first(sample)
            keys = [k for k in (self._key(first, d) for d in indices) if self.engine.cache.get(k) is None]
            if not keys:
                continue
            n, prompt_tokens = len(keys), estimate_tokens(first.prompt)
            worst = (prompt_tokens, n * first.params.max_tokens)
            if not plan.one_step:  # each rationale still needs its answer: count the most that takes
                answer_prompt = prompt_tokens + first.params.max_tokens + estimate_tokens(plan.trigger)
                worst = (worst[0] + n * answer_prompt, worst[1] + n * plan.step2.max_tokens)
            requests.append(
                BatchRequest(f"r{len(requests)}", first.prompt, first.params.with_n(n), keys, worst)
            )
        return requests

    def answer_requests(self, jobs: list[tuple[Sample, list[int]]]) -> list[BatchRequest]:
        requests = []
        if self.plan.one_step:  # the first round's replies are the answers
            return requests
        for sample, indices in jobs:
            first = self.plan.first(sample)
            for d in indices:
                rationale = self.engine.cache.get(self._key(first, d))
                second = None if rationale is None else self.plan.second(sample, rationale)
                if second is None:
                    continue
                key = self._key(second, d)
                if self.engine.cache.get(key) is None:
                    worst = (estimate_tokens(second.prompt), second.params.max_tokens)
                    requests.append(
                        BatchRequest(f"a{len(requests)}", second.prompt, second.params, [key], worst)
                    )
        return requests

    def within_budget(
        self, name: str, requests: list[BatchRequest]
    ) -> tuple[list[BatchRequest], list[float]]:
        """The requests, in order, whose worst cases fit the budget together, and their reservations
        (released once the round's results are counted)."""
        kept, reservations = [], []
        for request in requests:
            reservation = self.engine.costs.reserve(*request.worst_case)
            if reservation is None:
                log.warning(
                    "--max-cost %g: %d of %d %s requests fit the budget; the rest are not sent",
                    self.engine.costs.max_cost, len(kept), len(requests), name,
                )  # fmt: skip
                break
            kept.append(request)
            reservations.append(reservation)
        return kept, reservations

    async def round(self, name: str, requests: list[BatchRequest]) -> None:
        """Submit (or find the submitted) batch of one round, wait for it, and cache its results."""
        entry = self.state.get(name)
        reservations: list[float] = []
        try:
            if entry is None or entry.get("done"):  # (a pending batch was paid for when it was sent)
                requests, reservations = self.within_budget(name, requests)
                if not requests:
                    return
                entry = await self._submit(name, requests)
            batch = await self._wait(entry["batch_id"])
            content = await self.backend.client.files.content(batch.output_file_id)
            filled, failed = self._store(content.text, entry["keys"])
        finally:
            for reservation in reservations:
                self.engine.costs.release(reservation)
        entry["done"] = True
        self._save()
        log.info(
            "batch %s (%s): %d generations cached, %d requests failed",
            entry["batch_id"],
            name,
            filled,
            failed,
        )

    async def _submit(self, name: str, requests: list[BatchRequest]) -> dict:
        lines = "\n".join(request_line(r, self.backend.model, self.backend.chat) for r in requests) + "\n"
        client = self.backend.client
        upload = await client.files.create(file=(f"ftcot-{name}.jsonl", lines.encode()), purpose="batch")
        endpoint = "/v1/chat/completions" if self.backend.chat else "/v1/completions"
        batch = await client.batches.create(
            input_file_id=upload.id, endpoint=endpoint, completion_window="24h"
        )
        entry = {
            "batch_id": batch.id,
            "input_file_id": upload.id,
            "keys": {r.custom_id: r.keys for r in requests},
        }
        self.state[name] = entry
        self._save()
        log.info("submitted batch %s: %d %s requests", batch.id, len(requests), name)
        return entry

    async def _wait(self, batch_id: str):
        while True:
            batch = await self.backend.client.batches.retrieve(batch_id)
            if batch.status == "completed":
                return batch
            if batch.status in FAILED_STATES:
                raise BatchFailed(f"batch {batch_id} ended as {batch.status}; rerun to submit a new one")
            await asyncio.sleep(self.poll_s)  # Ctrl-C here is safe: the batch id is saved, a rerun resumes

    def _store(self, text: str, keys: dict[str, list[str]]) -> tuple[int, int]:
        filled = failed = 0
        for line in filter(None, text.splitlines()):
            custom_id, generations = parse_result_line(line)
            if generations is None or custom_id not in keys:
                failed += 1
                continue
            for key, generation in zip(keys[custom_id], generations, strict=False):
                self.engine.cache.put(key, self.backend.name, self.backend.cache_model, generation)
                self.engine.usage.add(generation)
                self.engine.costs.add(generation.prompt_tokens, generation.completion_tokens)
                filled += 1
        return filled, failed


async def prefill_with_batch_api(config, teacher, jobs: list[tuple[Sample, list[int]]]) -> None:
    """Fill the cache for `jobs` through two batch rounds (rationales, then answers)."""
    runner = BatchRunner(config, teacher)
    await runner.round("rationales", runner.rationale_requests(jobs))
    await runner.round("answers", runner.answer_requests(jobs))
    # What the batches left out or failed is asked live, and paid at the live price.
    backend = runner.backend
    runner.engine.costs.rate = price_for(backend.name, backend.model, load_prices(config.prices))
