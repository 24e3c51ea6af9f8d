"""Teacher throughput: our client vs the paper's sequential loop, cached replay, and hf batching.

    python benchmarks/teach_throughput.py            # writes benchmarks/results/teach.{md,json}

1. Requests/s against the fault server (a separate process) at a fixed latency, for
   `ftcot.teach.driver.teach` at concurrency C and for a sequential client (one blocking
   request at a time, as reasoning-teacher's code does), in the same run. Ideal = C / latency.
2. Cached replay: a job of 10,080 records (MultiArith train, D=24) rerun into a new folder
   from a full cache.
3. The hf backend (SmolLM2-135M, fp32 CPU): greedy tokens/s at batch B vs batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftcot.train.precision import cpu_model

RESULTS = Path(__file__).parent / "results"


def start_fault_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftcot.testing.fault_server", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    return proc, line.split()[-1]


def server_requests(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats") as reply:
        return json.load(reply)["requests"]


def ours(url: str, questions: int, concurrency: int, workdir: Path) -> dict:
    from ftcot.teach.driver import TeachConfig, teach

    before = server_requests(url)
    config = TeachConfig(
        teacher="openai:bench", task="multiarith", split="train", out=workdir / "ours", limit=questions,
        base_url=url, concurrency=concurrency, cache=workdir / "ours.sqlite", progress=False,
    )  # fmt: skip
    started, cpu_started = time.perf_counter(), time.process_time()
    teach(config)
    elapsed = time.perf_counter() - started
    sent = server_requests(url) - before
    cpu_ms = 1000 * (time.process_time() - cpu_started) / sent
    return {
        "requests": sent,
        "seconds": elapsed,
        "requests_per_s": sent / elapsed,
        "client_cpu_ms_per_request": cpu_ms,
    }


def sequential(url: str, requests: int) -> dict:
    """The paper's pattern: a blocking client, one request after another."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="no-key", max_retries=0)
    started = time.perf_counter()
    for i in range(requests):
        client.chat.completions.create(
            model="bench", messages=[{"role": "user", "content": f"Q: {i} + 1?\nA: Let's think step by step."}],
            max_tokens=128, temperature=0,
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    return {"requests": requests, "seconds": elapsed, "requests_per_s": requests / elapsed}


def cached_replay(diverse: int, workdir: Path) -> dict:
    from ftcot.records import read_manifest
    from ftcot.teach.driver import TeachConfig, teach

    proc, url = start_fault_server(0.0)
    try:
        base = dict(teacher="openai:bench", task="multiarith", split="train", diverse=diverse, base_url=url,
                    concurrency=64, cache=workdir / "replay.sqlite", progress=False)  # fmt: skip
        started = time.perf_counter()
        teach(TeachConfig(**base, out=workdir / "fill"))
        fill_seconds = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        teach(TeachConfig(**base, out=workdir / "replay"))
        replay_seconds = time.perf_counter() - started
        replay_cpu_seconds = time.process_time() - cpu_started
    finally:
        proc.terminate()
    manifest = read_manifest(workdir / "replay")
    return {
        "records": manifest["samples"],
        "requests": manifest["last_run"]["requests"],
        "cache_hits": manifest["last_run"]["cache"]["hits"],
        "fill_seconds": fill_seconds,
        "replay_seconds": replay_seconds,
        "replay_cpu_seconds": replay_cpu_seconds,
        "records_per_s": manifest["samples"] / replay_seconds,
    }


def hf_batching(batch: int, max_tokens: int, threads: int) -> dict:
    import asyncio

    import torch

    from ftcot.prompts import zs_cot_step1
    from ftcot.tasks import get_task
    from ftcot.teach.backends.base import SamplingParams
    from ftcot.teach.backends.hf import HFBackend

    torch.set_num_threads(threads)  # on a shared 2-core box, more threads than free cores is slower
    prompts = [zs_cot_step1(s.question) for s in get_task("multiarith").samples("train", limit=batch)]
    backend = HFBackend("smollm2", batch_size=batch)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    asyncio.run(backend.generate(prompts[:1], SamplingParams(max_tokens=2)))  # load and warm up

    def timed(groups):
        started = time.perf_counter()
        tokens = sum(
            g[0].completion_tokens for group in groups for g in asyncio.run(backend.generate(group, params))
        )
        return tokens, time.perf_counter() - started

    tokens_1, seconds_1 = timed([[p] for p in prompts])
    tokens_b, seconds_b = timed([prompts])
    return {
        "model": "smollm2-135m (fp32, CPU)",
        "torch_threads": threads,
        "prompts": batch,
        "max_tokens": max_tokens,
        "batch_1_tokens_per_s": tokens_1 / seconds_1,
        f"batch_{batch}_tokens_per_s": tokens_b / seconds_b,
        "speedup": (tokens_b / seconds_b) / (tokens_1 / seconds_1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--questions", type=int, default=320, help="our client sends 2 requests a question")
    parser.add_argument("--sequential-requests", type=int, default=25)
    parser.add_argument("--replay-diverse", type=int, default=24, help="420 x 24 = 10,080 records")
    parser.add_argument("--hf-batch", type=int, default=8)
    parser.add_argument("--hf-max-tokens", type=int, default=32)
    parser.add_argument("--hf-threads", type=int, default=1)
    parser.add_argument("--skip-hf", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FTCOT_MIRROR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

    results: dict = {"command": "python " + " ".join(["benchmarks/teach_throughput.py", *sys.argv[1:]])}
    results["machine"] = {
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg()[0],  # other jobs sharing the CPUs slow every figure
    }
    print(f"CPU: {results['machine']['cpu']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["FTCOT_CACHE"] = str(workdir / "cache")
        proc, url = start_fault_server(args.latency)
        try:
            seq = sequential(url, args.sequential_requests)
            ours_result = ours(url, args.questions, args.concurrency, workdir)
        finally:
            proc.terminate()
        ideal = args.concurrency / args.latency
        results["throughput"] = {
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "ideal_requests_per_s": ideal,
            "ours": ours_result,
            "sequential": seq,
            "speedup_vs_sequential": ours_result["requests_per_s"] / seq["requests_per_s"],
            "fraction_of_ideal": ours_result["requests_per_s"] / ideal,
        }
        print(json.dumps(results["throughput"], indent=2), flush=True)
        results["cached_replay"] = cached_replay(args.replay_diverse, workdir)
        print(json.dumps(results["cached_replay"], indent=2), flush=True)
        if not args.skip_hf:
            results["hf_batching"] = hf_batching(args.hf_batch, args.hf_max_tokens, args.hf_threads)
            print(json.dumps(results["hf_batching"], indent=2), flush=True)
    write_results(results)


def write_results(results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "teach.json").write_text(json.dumps(results, indent=2) + "\n")
    t, r = results["throughput"], results["cached_replay"]
    lines = [
        "# Teacher throughput",
        "",
        f"Made by `{results['command']}` on {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), Python "
        f"{results['machine']['python']}, load average {results['machine']['load_average_at_start']:.1f} at the start "
        "(the machine was shared with other jobs; a busy CPU delays the client's event loop and lowers every figure).",
        "",
        f"## Requests/s against the fault server ({t['latency_s'] * 1000:.0f} ms a request, concurrency {t['concurrency']})",
        "",
        "| client | requests | seconds | requests/s |",
        "| --- | --- | --- | --- |",
        f"| ftcot teach (Zero-shot-CoT, 2 steps) | {t['ours']['requests']} | {t['ours']['seconds']:.2f} | {t['ours']['requests_per_s']:.1f} |",
        f"| sequential (the paper's loop) | {t['sequential']['requests']} | {t['sequential']['seconds']:.2f} | {t['sequential']['requests_per_s']:.2f} |",
        "",
        f"Speed-up over sequential: **{t['speedup_vs_sequential']:.1f}x**; ideal (concurrency / latency) is "
        f"{t['ideal_requests_per_s']:.0f} requests/s, of which we reach **{t['fraction_of_ideal']:.2f}** (goal: 0.9). Our client "
        f"spends {t['ours']['client_cpu_ms_per_request']:.2f} ms of CPU a request (the openai SDK, the cache, the record).",
        "",
        "## Cached replay",
        "",
        f"{r['records']} records rerun into a new folder from a full cache: **{r['replay_seconds']:.2f} s** "
        f"wall, {r['replay_cpu_seconds']:.2f} s CPU "
        f"({r['records_per_s']:.0f} records/s), {r['requests']} requests, {r['cache_hits']} cache hits "
        f"(goal: under 2 s). Filling the cache against the zero-latency server took {r['fill_seconds']:.1f} s.",
    ]
    if "hf_batching" in results:
        h = results["hf_batching"]
        batch_key = next(k for k in h if k.startswith("batch_") and k != "batch_1_tokens_per_s")
        lines += [
            "",
            "## hf backend: batched generation",
            "",
            f"{h['model']}, {h['torch_threads']} torch thread(s), {h['prompts']} MultiArith step-1 prompts, greedy, "
            f"at most {h['max_tokens']} new tokens: "
            f"batch 1 {h['batch_1_tokens_per_s']:.1f} tokens/s, {batch_key.replace('_tokens_per_s', '').replace('_', ' ')} "
            f"{h[batch_key]:.1f} tokens/s (**{h['speedup']:.1f}x**).",
        ]
    (RESULTS / "teach.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
