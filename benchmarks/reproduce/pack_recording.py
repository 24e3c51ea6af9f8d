"""Ship a live teacher's run as a recording that `--teacher recorded:NAME` replays.

    python benchmarks/reproduce/pack_recording.py RUN_DIR NAME --licence "..." --command "..."

RUN_DIR is a `ftcot teach` folder (complete, or stopped part-way: then the longest prefix of
the split whose questions have all D samples is packed, so that a later run can extend it).
The prefix is re-taught from the teacher cache into RUN_DIR-prefixK with zero requests, and
that complete folder is packed into src/ftcot/data/recordings/NAME/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ftcot.manifests import load_manifest
from ftcot.records import read_records
from ftcot.tasks import get_task
from ftcot.teach.recordings import pack


def complete_prefix(run_dir: Path) -> int:
    """How many questions, from the start of the split, have all D samples in the folder."""
    manifest = load_manifest(run_dir)
    task = get_task(manifest.task)
    have = {(r.sample_id, r.sample_index) for r in read_records(run_dir)}
    count = 0
    for sample in task.samples(manifest.split):
        if not all((sample.id, d) in have for d in range(manifest.diverse)):
            break
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--licence", required=True)
    parser.add_argument("--command", default="", help="the command that made RUN_DIR, recorded as is")
    parser.add_argument("--cache", type=Path, required=True, help="the teacher cache RUN_DIR was made with")
    parser.add_argument("--elapsed-s", type=float, help="the generation's wall time, recorded as is")
    parser.add_argument("--machine", default="")
    args = parser.parse_args()

    manifest = load_manifest(args.run_dir)
    folder = args.run_dir
    if manifest.status != "complete":
        k = complete_prefix(args.run_dir)
        folder = args.run_dir.with_name(f"{args.run_dir.name}-prefix{k}")
        job = manifest.job
        subprocess.run(
            [sys.executable, "-m", "ftcot.cli", "teach", "--teacher", job["teacher"], "--task", job["task"],
             "--split", job["split"], "--diverse", str(manifest.diverse), "--temperature", str(job["temperature"]),
             "--max-tokens", str(job["max_tokens"]), "--answer-max-tokens", str(job["answer_max_tokens"]),
             "--limit", str(k), "--cache", str(args.cache), "--no-progress", "--out", str(folder)],
            check=True,
        )  # fmt: skip
        replayed = load_manifest(folder)
        assert replayed.last_run.requests == 0, "the prefix must come from the cache alone"
    print(pack(folder, args.name, licence=args.licence, command=args.command, machine=args.machine,
               elapsed_s=args.elapsed_s))  # fmt: skip


if __name__ == "__main__":
    main()
