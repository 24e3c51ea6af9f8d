"""Test-set evaluation of one student: transformers (batch 1, 16, 32) vs llama.cpp (1 and 16 slots).

    python benchmarks/eval_llamacpp.py --student runs/train/X     # writes benchmarks/results/eval_llamacpp.{md,json}
    python benchmarks/eval_llamacpp.py --questions 4 --max-new-tokens 16   # a quick look (SmolLM2 as the student)

Every setting is a full `ftcot.evaluate.evaluate` run into a fresh folder (prompts, generation,
records, scoring) on the same questions with the same budget, greedy: `--engine transformers`
at each batch size, then `--engine llamacpp` (`ftcot.llamacpp_student`) with 1 slot (one
sequence at a time: what batch 1 gets from llama.cpp) and with 16 (continuous batching). Each
llama.cpp arm gets an empty generation cache, so it generates everything. Seconds are
`metrics.json`'s timing: transformers from the first generated sample to the last (model load
left out), llama.cpp from the server's start to the last reply (its start, ~1-2 s, included);
each GGUF export (bf16 and f32 by default) is timed on its own (the student is linked into a scratch folder, so the
export lands there and the student's folder is left as it is). Outputs are compared with the
first transformers setting's (batch 1 by default): a different output is a different greedy
path (bf16 weights, or floating-point near-ties), not an error.
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
# See eval_throughput.py: spinning OpenMP threads collapse on shared cores. Read by torch at import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def scratch_student(spec: str, folder: Path) -> Path:
    """The student's files linked into `folder` (its GGUF exports land there, not in the student's folder)."""
    from ftcot.models import local_checkpoint

    source = Path(local_checkpoint(spec))
    folder.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.endswith(".gguf") and path.name != "ftcot-converted.json":
            (folder / path.name).symlink_to(path.resolve())
    return folder


def run(student: Path, args, out: Path, **engine) -> dict:
    from ftcot.evaluate import EvalConfig, evaluate
    from ftcot.records import read_records

    config = EvalConfig(model=str(student), task=args.task, split="test", method=args.method, out=out,
                        limit=args.questions, max_new_tokens=args.max_new_tokens, **engine)  # fmt: skip
    evaluate(config)
    metrics = json.loads((out / "metrics.json").read_text())
    seconds = metrics["timing"]["seconds"]
    tokens = metrics["usage"]["completion_tokens"]
    return {
        "seconds": seconds,
        "samples": metrics["n"],
        "samples_per_s": round(metrics["n"] / seconds, 3),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "accuracy": metrics["accuracy"],
        "outputs": {str(r.key): r.answer_text for r in read_records(out)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--student", default="smollm2", help="a student's folder (default: SmolLM2 as one)")
    parser.add_argument("--task", default="multiarith")
    parser.add_argument("--method", default="ft_cot", help="default: as the student was trained (ft_cot)")
    parser.add_argument(
        "--questions", type=int, default=None, help="the first N test questions (default: all)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 16, 32], help="transformers")
    parser.add_argument("--slots", type=int, nargs="*", default=[1, 16], help="llama.cpp")
    parser.add_argument(
        "--outtypes",
        nargs="+",
        default=["bf16", "f32"],
        choices=["bf16", "f16", "f32"],
        help="GGUF exports to run (f32: the exact weights, ftcot's default; bf16: faster, outputs can differ)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    from ftcot.tasks import get_task
    from ftcot.teach.backends.llama_server import converter_script, server_binary
    from ftcot.train.export import export_gguf
    from ftcot.train.precision import cpu_model

    print(f"CPU: {cpu_model()}", flush=True)
    # Found before each llama.cpp arm points FTCOT_CACHE at an empty cache of its own.
    os.environ.setdefault("FTCOT_LLAMA_CPP_SOURCE", str(converter_script().parent))
    questions = len(get_task(args.task).samples("test", limit=args.questions))
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="ftcot-bench-") as tmp:
        student = scratch_student(args.student, Path(tmp) / "student")
        exports = {}
        for outtype in args.outtypes:
            started = time.perf_counter()
            gguf = export_gguf(student, outtype)
            exports[outtype] = {
                "bytes": gguf.stat().st_size,
                "export_seconds": round(time.perf_counter() - started, 1),
            }
            print(f"export {gguf.name}: {exports[outtype]}", flush=True)
        for b in args.batch_sizes:
            r = run(student, args, Path(tmp) / f"transformers-{b}", batch_size=b)
            results.append({"engine": "transformers", "setting": f"batch {b}", **r})
            print(
                f"transformers batch {b}: {r['samples_per_s']} samples/s, {r['tokens_per_s']} tok/s",
                flush=True,
            )
        for outtype in args.outtypes:
            for slots in args.slots:
                name = f"llamacpp-{outtype}-{slots}"
                os.environ["FTCOT_CACHE"] = str(Path(tmp) / f"cache-{name}")  # nothing cached: all generated
                r = run(
                    student,
                    args,
                    Path(tmp) / name,
                    engine="llamacpp",
                    concurrency=slots,
                    gguf_outtype=outtype,
                )
                results.append({"engine": f"llamacpp ({outtype})", "setting": f"{slots} slot(s)", **r})
                print(f"llama.cpp {outtype} {slots} slot(s): {r['samples_per_s']} samples/s, {r['tokens_per_s']} tok/s",
                      flush=True)  # fmt: skip
    reference = results[0]
    for r in results:
        r["outputs_equal_to_first"] = sum(r["outputs"][k] == v for k, v in reference["outputs"].items())
        r["speedup"] = round(r["samples_per_s"] / reference["samples_per_s"], 2)
    for r in results:
        r.pop("outputs")
    report = {
        "command": "python benchmarks/eval_llamacpp.py " + " ".join(
            [f"--student {args.student}", f"--task {args.task}", f"--method {args.method}"]
            + ([f"--questions {args.questions}"] if args.questions else [])
            + [f"--max-new-tokens {args.max_new_tokens}", "--batch-sizes " + " ".join(map(str, args.batch_sizes)),
               "--slots " + " ".join(map(str, args.slots)), "--outtypes " + " ".join(args.outtypes)]),
        "student": args.student,
        "task": f"{args.task} test",
        "method": args.method,
        "questions": questions,
        "max_new_tokens": args.max_new_tokens,
        "gguf": exports,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "llama_server_threads": os.cpu_count(), "llama_server": str(server_binary()),
                    "platform": platform.platform(), "torch": torch.__version__,
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval_llamacpp.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "eval_llamacpp.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Evaluation through llama.cpp vs transformers",
        "",
        f"Student `{report['student']}`, {report['task']}: {report['questions']} questions, method {report['method']}, "
        f"max_new_tokens {report['max_new_tokens']}, greedy; each setting a full `ftcot eval` run. "
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['torch_threads']} torch threads, {m['llama_server_threads']} "
        f"llama-server threads, OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}), torch {m['torch']}, {report['date']}; "
        f"1-minute load average {report['load_average_before_after'][0]} before, "
        f"{report['load_average_before_after'][1]} after (other jobs shared the machine when it was above ~2).",
        "",
        f"Made with `{report['command']}`. GGUF export, once per student: "
        + ", ".join(
            f"{t} {g['bytes'] / 1e6:.0f} MB in {g['export_seconds']} s" for t, g in report["gguf"].items()
        )
        + ".",
        "",
        "| engine | setting | seconds | samples/s | completion tokens | tokens/s | speedup vs first | accuracy % | outputs equal to first |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['engine']} | {r['setting']} | {r['seconds']:.1f} | {r['samples_per_s']:.3f} | {r['completion_tokens']} | "
            f"{r['tokens_per_s']:.1f} | {r['speedup']:.2f}× | {r['accuracy']:.1f} | "
            f"{r['outputs_equal_to_first']}/{report['questions']} |"
        )
    lines += [
        "",
        "transformers: timed from the first generated sample to the last (model load excluded); prompts sorted by "
        "length, a batch decodes until its longest row stops. llama.cpp: timed from the server's start to the last "
        "reply, each arm with an empty generation cache; a slot takes the next question as soon as its sequence ends.",
        "Tokens/s counts completion tokens. An output that differs from the first setting's took another greedy path "
        "(bf16 weights, or floating-point near-ties), which can change its score either way.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
