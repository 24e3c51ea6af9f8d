"""Evaluation throughput: samples/s of `ftcot eval` for SmolLM2 on MultiArith test, batched vs batch 1.

    python benchmarks/eval_throughput.py            # writes benchmarks/results/eval.{md,json}
    python benchmarks/eval_throughput.py --questions 8 --batch-sizes 1 8   # a quick look

Each setting is a full `ftcot.evaluate.evaluate` run into a fresh folder (prompting,
generation, records, scoring), timed from the first generated sample to the last; the
model load is left out (it is the same for every setting). All settings run in the same
process on the same machine, so the ratios compare like with like. Greedy outputs of the
batched runs are compared with batch 1 too: left padding must not change what a model says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run(batch_size: int, questions: int, max_new_tokens: int, method: str, workdir: Path) -> dict:
    from ftcot.evaluate import EvalConfig, evaluate
    from ftcot.records import read_records

    out = workdir / f"batch{batch_size}"
    config = EvalConfig(model="smollm2", task="multiarith", split="test", method=method, out=out,
                        limit=questions, max_new_tokens=max_new_tokens, batch_size=batch_size)  # fmt: skip
    evaluate(config)
    metrics = json.loads((out / "metrics.json").read_text())
    records = sorted(read_records(out), key=lambda r: r.key)
    return {
        "batch_size": batch_size,
        "seconds": metrics["timing"]["seconds"],
        "samples_per_s": metrics["timing"]["samples_per_s"],
        "completion_tokens": metrics["usage"]["completion_tokens"],
        "accuracy": metrics["accuracy"],
        "outputs": [r.answer_text for r in records],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--method", default="zero_shot")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from ftcot.models import load_model

    load_model("smollm2")  # converts the bundled GGUF once, so that no timed run pays for it
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(b, args.questions, args.max_new_tokens, args.method, Path(tmp)) for b in args.batch_sizes]
    baseline = results[0]
    for r in results:
        r["speedup"] = r["samples_per_s"] / baseline["samples_per_s"]
        r["same_outputs_as_first"] = sum(a == b for a, b in zip(r.pop("outputs"), baseline["outputs"], strict=True))
    baseline.pop("outputs", None)

    import torch

    report = {
        "command": "python benchmarks/eval_throughput.py " + " ".join(
            [f"--questions {args.questions}", f"--max-new-tokens {args.max_new_tokens}", f"--method {args.method}",
             "--batch-sizes " + " ".join(map(str, args.batch_sizes))]),
        "model": "smollm2 (SmolLM2-135M-Instruct, fp32, transformers)",
        "task": "multiarith test",
        "questions": args.questions,
        "max_new_tokens": args.max_new_tokens,
        "method": args.method,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "eval.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Evaluation throughput",
        "",
        f"{report['model']}, {report['task']}: {report['questions']} questions, method {report['method']}, "
        f"max_new_tokens {report['max_new_tokens']}, greedy. Machine: {report['machine']['cpus']} CPUs "
        f"({report['machine']['torch_threads']} torch threads), torch {report['machine']['torch']}, {report['date']}.",
        "",
        f"Made with `{report['command']}`.",
        "",
        "| batch size | seconds | samples/s | speedup vs batch 1 | completion tokens | accuracy % | outputs equal to batch 1 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['batch_size']} | {r['seconds']:.1f} | {r['samples_per_s']:.2f} | {r['speedup']:.2f}× | "
            f"{r['completion_tokens']} | {r['accuracy']:.1f} | {r['same_outputs_as_first']}/{report['questions']} |"
        )
    lines += [
        "",
        "Timed from the first generated sample to the last (model load excluded), records and scoring included.",
        "Prompts are sorted by length before batching; a batch decodes until its longest row stops.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
