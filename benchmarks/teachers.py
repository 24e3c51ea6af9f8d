"""The offline teachers, measured: Zero-shot-CoT accuracy and output tokens/s per task.

Each (teacher, task) is one `ftcot eval MODEL --method zs_cot --split test --limit N` run: greedy,
the paper's two steps, llama-server with its default slots, ftcot's own cache (a rerun with the
same settings replays). Accuracy and its 95% interval come from the eval manifest's metrics,
tokens/s from the served teach manifest's usage and wall time (both steps' output tokens over the
whole run, the server's start included), so every figure is read from what the run wrote. The
runs get a generation cache of their own (the model files are shared with $FTCOT_CACHE), so each
figure is generated, not replayed from an earlier run's answers; a row with cache hits says so.
A pair whose folder holds a finished run is read, not run again, so a stopped benchmark resumes.

    python benchmarks/teachers.py --teachers qwen2.5-coder-0.5b qwen2.5-coder-1.5b \
        --tasks multiarith svamp coin_flip --limit 50 --runs runs/teachers \
        --out benchmarks/results/teachers.md

A baseline for the speed: the same teacher on the same task is the row to compare with; the
tokens/s of different teachers differ by the model's size, not by the code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ftcot.manifests import load_manifest
from ftcot.sources import cache_dir
from ftcot.train.precision import cpu_model

MAX_NEW_TOKENS = 256


def fresh_cache(runs: Path) -> dict[str, str]:
    """Environment for a cache folder of the runs' own: a new generation cache, the models shared."""
    cache = runs / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for shared in ("models", "llama.cpp"):
        link = cache / shared
        if not link.exists() and (cache_dir() / shared).exists():
            link.symlink_to((cache_dir() / shared).resolve())
    return {**os.environ, "FTCOT_CACHE": str(cache)}


def measure(teacher: str, task: str, limit: int, runs: Path) -> dict:
    out = runs / f"{task}-{teacher}"
    command = [sys.executable, "-m", "ftcot.cli", "eval", f"llamacpp:{teacher}", "--task", task]
    command += ["--split", "test", "--method", "zs_cot", "--limit", str(limit), "--out", str(out)]
    command += ["--max-new-tokens", str(MAX_NEW_TOKENS)]  # the recording's: 128 cuts off 43 of 50 rationales
    manifest = load_manifest(out) if (out / "manifest.json").is_file() else None
    if manifest is None or manifest.status != "done":  # a finished pair is read, not run again
        subprocess.run(command, check=True, env=fresh_cache(runs))
        manifest = load_manifest(out)
    served = manifest.served
    usage = served.last_run.usage
    metrics = manifest.metrics
    return {
        "teacher": teacher,
        "task": task,
        "questions": metrics["n"],
        "accuracy": round(metrics["accuracy"], 1),
        "ci95": [round(v, 1) for v in metrics["ci95"]],
        "completion_tokens": usage["completion_tokens"],
        "tokens_per_question": round(usage["completion_tokens"] / max(1, metrics["n"]), 1),
        "elapsed_s": round(served.last_run.elapsed_s, 1),
        "tokens_per_s": round(usage["completion_tokens"] / served.last_run.elapsed_s, 1),
        "cache_hits": served.last_run.cache["hits"],
        "slots": getattr(served.backend, "slots", None),
        "folder": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teachers", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    parser.add_argument("--tasks", nargs="+", default=["multiarith", "svamp", "coin_flip"])
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--runs", type=Path, default=Path("runs/teachers"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/teachers.md"))
    args = parser.parse_args()
    rows = [measure(t, task, args.limit, args.runs) for task in args.tasks for t in args.teachers]
    machine = f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    lines = [
        "# The offline teachers: Zero-shot-CoT accuracy and speed",
        "",
        f"Made by `python benchmarks/teachers.py --teachers {' '.join(args.teachers)} --tasks "
        f"{' '.join(args.tasks)} --limit {args.limit}`; {machine}, {time.strftime('%Y-%m-%d')}. "
        f"Greedy Zero-shot-CoT (the paper's two steps, chat template, {MAX_NEW_TOKENS}-token rationales) on the "
        f"first {args.limit} test questions of each task, through llama-server (Q4_K_M GGUF).",
        "",
        "| task | teacher | accuracy % (95% CI) | output tokens / question | tokens/s | slots | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lo, hi = r["ci95"]
        speed = r["tokens_per_s"] if not r["cache_hits"] else f"replayed ({r['cache_hits']} cache hits)"
        lines.append(
            f"| {r['task']} | {r['teacher']} | **{r['accuracy']}** ({lo}–{hi}) | {r['tokens_per_question']} "
            f"| {speed} | {r['slots']} | {r['elapsed_s']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
