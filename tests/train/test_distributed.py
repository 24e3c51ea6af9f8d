"""The distributed path is not dead code: two CPU processes (gloo) through `accelerate launch` and our DDP config.

FSDP and DeepSpeed cannot be checked here: accelerate turns them on only with accelerators, and a
CPU run of configs/accelerate/fsdp.yaml silently trains as plain multi-CPU DDP (seen: the
manifest's `distributed` said MULTI_CPU). FSDP on a GPU: tests/train/test_fsdp_gpu.py (skipped here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ftcot.teach.backends.llama_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_ddp_training_on_cpu(tiny_decoder, data_dir, tmp_path):
    out = tmp_path / "out"
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    command = [
        *launcher,
        "--config_file",
        str(ROOT / "configs/accelerate/ddp.yaml"),
        "--num_processes",
        "2",
        "--mixed_precision",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "ftcot.cli",
        "train",
        str(data_dir),
        "--student",
        tiny_decoder,
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "64",
        "--val-max-new-tokens",
        "4",
        "--lr",
        "3e-3",
        "--fp32",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    assert manifest["distributed"] == "MULTI_CPU"
    # 6 rows over 2 processes at batch 2: 2 steps per epoch (3 rows per process, the last batch short).
    assert manifest["metrics"]["global_steps"] == 4
    epochs = manifest["metrics"]["epochs"]
    assert [e["val_n"] for e in epochs] == [2, 2]  # val questions split over the processes, counts summed
    assert (out / "model.safetensors").is_file()
