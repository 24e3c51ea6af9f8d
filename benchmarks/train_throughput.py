"""Training throughput of the student fine-tune: our collation against the public code's, same data, same run.

Data: MultiArith Fine-tune-CoT rows from the recorded teacher (curated with `ftcot.curate`),
tokenized for SmolLM2 with `ftcot.train.data` (max length 512). A seeded subset of ROWS rows
is trained for one epoch in each arm, adding one of the trainer's choices at a time:
  public        shuffled batches of 8, each padded to its longest sample, torch AdamW's
                per-tensor loop, fp32 (the reasoning-teacher code);
  grouped       + the trainer's length-grouped batches of 8;
  fused         + fused AdamW (one kernel over all tensors; the trainer's `adamw_torch_fused`);
  ftcot         + bf16 autocast where the trainer turns it on by default (a GPU that supports it,
                or a CPU whose measured bf16 matrix products are clearly faster than fp32:
                `ftcot.train.precision`; elsewhere this arm equals `fused`);
  completion_logits
                + the LM head and loss on completion positions only (`ftcot.train.loss`, which the
                trainer uses for decoders): all the trainer's defaults.
Every arm sees exactly the same rows, model, AdamW 3e-4 and step code (forward, backward,
optimizer step; the loss is the model's own, or `completion_loss`'s in the last arm). Each arm runs in its own process (so its peak RSS is its own), after one
untimed warm-up step, and the arm order reverses every round so that background load falls
on all of them.

Metric: non-padding tokens trained per second (prompt + completion tokens; padding excluded).

    python benchmarks/train_throughput.py [--rows 48] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftcot.train.precision import cpu_model

RESULTS = Path(__file__).parent / "results"
ARMS = {  # arm: (length-grouped batches, fused AdamW, bf16 autocast (None = the trainer's default),
    #        logits on completion positions only)
    "public": (False, False, False, False),
    "grouped": (True, False, False, False),
    "fused": (True, True, False, False),
    "ftcot": (True, True, None, False),
    "completion_logits": (True, True, None, True),
}


def build_rows(workdir: Path) -> list[dict]:
    from ftcot.curate import CurateConfig, curate
    from ftcot.records import RecordWriter
    from ftcot.tasks import get_task
    from ftcot.teach.recorded import recorded_teacher
    from ftcot.train.data import load_rows, select_rows

    records, _ = recorded_teacher(get_task("multiarith"), "train")
    with RecordWriter(workdir / "teach") as writer:
        for record in records:
            writer.write(record)
    data = curate(CurateConfig(run_dir=workdir / "teach", out=workdir / "data", val_fraction=0.0))
    return select_rows(load_rows(data / "train.jsonl"), "ft_cot")


def run_arm(arm: str, rows_file: str, n_rows: int, seed: int) -> dict:
    """One arm in this process: one epoch over the subset; returns tokens, time and peak RSS."""
    import random

    import torch

    from ftcot.train.config import TrainConfig
    from ftcot.train.data import Collator, build_dataset
    from ftcot.train.loss import completion_loss
    from ftcot.train.precision import choose_precision
    from ftcot.train.trainer import load_student, train_sampler

    grouped, fused, bf16, completion_only = ARMS[arm]
    bf16 = choose_precision(None)[0] if bf16 is None else bf16
    torch.manual_seed(seed)
    rows = json.loads(Path(rows_file).read_text())
    rows = random.Random(seed).sample(rows, n_rows)
    config = TrainConfig(data_dir=".", student="smollm2", out=".")
    model, tokenizer, _, _ = load_student(config)
    model.train()
    dataset, _ = build_dataset(tokenizer, rows, "ft_cot", False, config.max_length)
    collate = Collator(tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, fused=fused or None)
    sampler = train_sampler(dataset, config.batch_size, group_by_length=grouped)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collate
    )

    def step(batch) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = completion_loss(model, batch)[0] if completion_only else model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # Warm-up on a fixed short batch (the same for every arm): allocator, kernels, optimizer state.
    shortest = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))[: config.batch_size]
    step(collate([dataset[i] for i in shortest]))

    tokens = padded = steps = 0
    start = time.perf_counter()
    for batch in loader:
        step(batch)
        tokens += int(batch["attention_mask"].sum())
        padded += batch["attention_mask"].numel()
        steps += 1
    seconds = time.perf_counter() - start
    return {
        "arm": arm,
        "bf16": bf16,
        "steps": steps,
        "tokens": tokens,
        "padded_tokens": padded,
        "padding_fraction": 1 - tokens / padded,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=48, help="rows trained per arm (batch 8)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--rows-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:  # child process
        print(json.dumps(run_arm(args.arm, args.rows_file, args.rows, args.seed)))
        return
    print(f"CPU: {cpu_model()}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.json"
        rows_file.write_text(json.dumps(build_rows(Path(tmp))))
        runs = []
        for round_ in range(args.rounds):
            for arm in list(ARMS) if round_ % 2 == 0 else list(ARMS)[::-1]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--arm",
                    arm,
                    "--rows-file",
                    str(rows_file),
                    "--rows",
                    str(args.rows),
                    "--seed",
                    str(args.seed),
                ]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ})
                result = json.loads(out.stdout.strip().splitlines()[-1])
                result["round"] = round_
                runs.append(result)
                print(json.dumps(result), file=sys.stderr)

    def total(arm: str, key: str) -> float:
        return sum(r[key] for r in runs if r["arm"] == arm)

    public_rate = total("public", "tokens") / total("public", "seconds")
    summary = {
        arm: {
            "tokens_per_s": total(arm, "tokens") / total(arm, "seconds"),
            "padding_fraction": 1 - total(arm, "tokens") / total(arm, "padded_tokens"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs if r["arm"] == arm),
            "steps": int(total(arm, "steps")),
            "speedup_vs_public": total(arm, "tokens") / total(arm, "seconds") / public_rate,
        }
        for arm in ARMS
    }
    summary["speedup"] = summary[list(ARMS)[-1]]["speedup_vs_public"]  # all the trainer's defaults
    report = {
        "benchmark": "train_throughput",
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": cpu_model(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        "settings": {
            "student": "smollm2 (SmolLM2-135M-Instruct, fp32 weights)",
            "ftcot_bf16": next(r["bf16"] for r in runs if r["arm"] == "ftcot"),  # the trainer's default here
            "task": "multiarith",
            "method": "ft_cot",
            "rows": args.rows,
            "batch_size": 8,
            "max_length": 512,
            "rounds": args.rounds,
            "seed": args.seed,
        },
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
