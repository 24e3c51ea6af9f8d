"""Live teacher throughput: llama-server with D=8 samples in flight vs batch-1 generation.

    python benchmarks/teach_llama_server.py [--model qwen2.5-coder-0.5b] [--questions 6]
        [--slots 8] [--server-args "--batch-size 512 --ubatch-size 512"] [--tag NAME]

Same model, same Zero-shot-CoT step-1 prompts (chat template), T=0.7, max_tokens 128, one
run: the baseline sends one request at a time to a 1-slot server (batch-1 generation,
what a plain loop gets); the measured arm starts the server the teacher stage starts
(`ftcot.teach.backends.llama_server`) and keeps D=8 samples of each question in flight, one
question after another, as `ftcot teach --diverse 8` does. Output tokens/s are completion
tokens over wall time. Appends to benchmarks/results/teach_llama_server.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import time
from pathlib import Path

import openai

from ftcot.models import gguf_file
from ftcot.prompts import first_prompt
from ftcot.tasks import get_task
from ftcot.teach.backends.llama_server import LlamaServer
from ftcot.train.precision import cpu_model

RESULTS = Path(__file__).parent / "results"


async def generate(client: openai.AsyncOpenAI, prompt: str, max_tokens: int) -> int:
    reply = await client.chat.completions.create(
        model="teacher",
        messages=[{"role": "user", "content": prompt}],
        temperature=0.7,
        max_tokens=max_tokens,
    )
    return reply.usage.completion_tokens


async def arm(url: str, prompts: list[str], diverse: int, in_flight: int, max_tokens: int) -> dict:
    client = openai.AsyncOpenAI(base_url=url, api_key="no-key", max_retries=0, timeout=600)
    jobs = [p for p in prompts for _ in range(diverse)]
    gate = asyncio.Semaphore(in_flight)

    async def one(prompt: str) -> int:
        async with gate:
            return await generate(client, prompt, max_tokens)

    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(p) for p in jobs)))
    elapsed = time.perf_counter() - started
    await client.close()
    return {"requests": len(jobs), "completion_tokens": tokens, "seconds": round(elapsed, 2),
            "tokens_per_s": round(tokens / elapsed, 1)}  # fmt: skip


def render(results: list[dict], model: str) -> str:
    rows = [
        f"| {r['tag'] or '-'} | {r['questions']}×{r['diverse']} | {r['slots']} | `{r['server_args'] or 'defaults'}` "
        f"| {r['batch1']['tokens_per_s']} | {r['in_flight']['tokens_per_s']} | **{r['speedup']}x** | {r['cpu']} "
        f"| {r['date']} |"
        for r in results
    ]
    return (
        "# Live teacher: llama-server, D samples in flight vs batch-1\n\n"
        "Made by `python benchmarks/teach_llama_server.py` (see its docstring); output tokens/s, "
        f"{model}, MultiArith train prompts, T=0.7, one run per row.\n\n"
        "| arm | questions×D | slots | server flags | batch-1 tok/s | in flight tok/s | speed-up | CPU | date |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--diverse", type=int, default=8)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--server-args", default="", help="extra llama-server flags for the measured arm")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    print(f"CPU: {cpu_model()}", flush=True)
    task = get_task("multiarith")
    prompts = [first_prompt("zs_cot", s.question) for s in task.samples("train", limit=args.questions)]
    model = gguf_file(args.model)
    with LlamaServer(model, slots=1) as server:  # the baseline: batch-1 generation
        asyncio.run(arm(server.url, prompts[:1], 1, 1, 16))  # warm-up
        baseline = asyncio.run(arm(server.url, prompts, args.diverse, 1, args.max_tokens))
    extra = tuple(shlex.split(args.server_args))
    with LlamaServer(model, slots=args.slots, extra_args=extra) as server:
        asyncio.run(arm(server.url, prompts[:1], 1, 1, 16))
        batched = asyncio.run(arm(server.url, prompts, args.diverse, args.slots, args.max_tokens))
    result = {
        "tag": args.tag, "model": model.name, "questions": args.questions, "diverse": args.diverse,
        "slots": args.slots, "server_args": args.server_args, "max_tokens": args.max_tokens,
        "cpu": cpu_model(), "batch1": baseline, "in_flight": batched,
        "speedup": round(batched["tokens_per_s"] / baseline["tokens_per_s"], 2),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "teach_llama_server.json"
    history = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*history, result], indent=2) + "\n")
    (RESULTS / "teach_llama_server.md").write_text(render([*history, result], args.model))


if __name__ == "__main__":
    main()
