"""FSDP on GPUs: a student trained through `accelerate launch` and configs/accelerate/fsdp.yaml.

Skipped without CUDA (CI has none); run on a lent GPU machine by benchmarks/gpu/run.sh, whose log
is in benchmarks/results/gpu.md. On CPUs accelerate would silently train as plain DDP instead
(tests/train/test_distributed.py says so), so this is the only test of the sharded path.

What it shows: the run really was FSDP (the manifest's `distributed`), its per-epoch checkpoints
hold the model as sharded state (torch.distributed.checkpoint shards, not a safetensors file), the
final student is one plain safetensors file that loads without the launcher, and that file equals
the selected epoch's sharded state merged back into full tensors.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ftcot.teach.backends.llama_server import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="FSDP needs CUDA GPUs")


def test_fsdp_student_saves_sharded_checkpoints_and_one_full_student(tiny_decoder, data_dir, tmp_path):
    from accelerate.utils import merge_fsdp_weights
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    processes = torch.cuda.device_count()
    command = [
        *(sys.executable, "-m", "accelerate.commands.launch"),
        *("--config_file", str(ROOT / "configs/accelerate/fsdp.yaml")),
        *("--num_processes", str(processes), "--main_process_port", str(free_port())),
        *("-m", "ftcot.cli", "train", str(data_dir), "--student", tiny_decoder, "--out", str(out)),
        *("--epochs", "2", "--batch-size", "2", "--max-length", "64", "--val-max-new-tokens", "4"),
        *("--lr", "3e-3", "--keep-checkpoints"),
    ]
    result = subprocess.run(
        command, cwd=tmp_path, env=os.environ, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["distributed"] == "FSDP"
    assert manifest["world_size"] == processes

    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 2  # one per epoch
    for checkpoint in checkpoints:
        shards = checkpoint / "pytorch_model_fsdp_0"
        assert any(shards.glob("*.distcp")), sorted(p.name for p in checkpoint.iterdir())
        assert not (checkpoint / "model.safetensors").exists()  # the weights live only as shards

    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    selected = Path(state["best_model_checkpoint"] or checkpoints[-1])
    merged = tmp_path / "merged"
    merge_fsdp_weights(str(selected / "pytorch_model_fsdp_0"), str(merged), safe_serialization=True)
    from_shards = load_file(merged / "model.safetensors")
    saved = load_file(out / "model.safetensors")
    assert saved.keys() <= from_shards.keys(), (sorted(saved)[:3], sorted(from_shards)[:3])
    for name, tensor in saved.items():
        assert torch.equal(tensor, from_shards[name].to(tensor.dtype)), name

    student = AutoModelForCausalLM.from_pretrained(out)  # no launcher, no process group
    assert next(student.parameters()).dtype == torch.float32
    reloaded = student.state_dict()
    assert all(torch.equal(reloaded[name], tensor) for name, tensor in saved.items())
