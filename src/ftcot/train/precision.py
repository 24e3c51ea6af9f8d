"""bf16 or fp32: chosen by what this machine does, not by one CPU flag.

On a GPU, bf16 autocast is used where the GPU supports it. On a CPU the answer depends on the
chip: AMX tiles (Xeon Sapphire Rapids and later) and avx512_bf16 (AMD EPYC Zen 4) both run bf16
matrix products faster than fp32 (2.2x measured on an EPYC without AMX: 424 vs 194 GFLOP/s,
2 threads), while older CPUs emulate bf16 and train slower. So the trainer times a few matrix
products of a SmolLM2-sized layer in fp32 and in bf16 autocast and takes bf16 when it is clearly
faster. The verdict is cached per (CPU model, torch version, threads) in
$FTCOT_CACHE/precision-probe.json: delete the file to measure again (a probe taken while other
jobs loaded the CPU may be off), or pass --bf16/--fp32.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from pathlib import Path

from pydantic import ValidationError

from ftcot.manifests import PrecisionProbe
from ftcot.sources import cache_dir

CACHE_FILE = "precision-probe.json"
# 1024 tokens through a SmolLM2-135M MLP projection (hidden 576 -> 1536): the products training runs.
SHAPE = (1024, 576, 1536)
# bf16 must beat fp32 by this much: autocast also casts weights and keeps some ops in fp32, so a
# marginal matmul gain does not make the whole step faster.
THRESHOLD = 1.3
REPEATS = 8


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_key(cpu: str, torch_version: str, threads: int) -> str:
    return f"{cpu} | torch {torch_version} | {threads} threads"


def measure_matmuls(shape: tuple[int, int, int] = SHAPE, repeats: int = REPEATS) -> tuple[float, float]:
    """(fp32, bf16 autocast) GFLOP/s of (m x k) @ (k x n) on the CPU; the best of `repeats` each.

    The two kinds alternate, so that load from other jobs falls on both; the best time is the one
    least disturbed by it."""
    import torch

    m, k, n = shape
    a, b = torch.randn(m, k), torch.randn(k, n)
    kinds = {"fp32": contextlib.nullcontext, "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}
    best = dict.fromkeys(kinds, float("inf"))
    for i in range(repeats + 1):
        for name, context in kinds.items():
            with context():
                start = time.perf_counter()
                a @ b
                seconds = time.perf_counter() - start
            if i > 0:  # the first round warms up kernels and allocators
                best[name] = min(best[name], seconds)
    flops = 2 * m * k * n
    return flops / best["fp32"] / 1e9, flops / best["bf16"] / 1e9


def cpu_probe(cache: Path | None = None) -> PrecisionProbe:
    """This CPU's verdict: from the cache when this (CPU, torch, threads) was measured, else measured now."""
    import torch

    cpu, threads = cpu_model(), torch.get_num_threads()
    key = probe_key(cpu, torch.__version__, threads)
    path = (cache or cache_dir()) / CACHE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):  # processes of one distributed run measure once, agree
        verdicts = _read(path)
        stored = _verdict(verdicts.get(key))
        if stored is not None:
            return stored.model_copy(update={"cached": True})
        fp32, bf16 = measure_matmuls()
        probe = PrecisionProbe(
            cpu=cpu,
            torch=torch.__version__,
            threads=threads,
            shape=list(SHAPE),
            fp32_gflops=round(fp32, 1),
            bf16_gflops=round(bf16, 1),
            speedup=round(bf16 / fp32, 2),
            threshold=THRESHOLD,
            bf16=bf16 / fp32 >= THRESHOLD,
            measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        verdicts[key] = probe.model_dump(mode="json", exclude={"cached"})
        _write(path, verdicts)
    return probe


def choose_precision(forced: bool | None) -> tuple[bool, str, PrecisionProbe | None]:
    """(bf16?, what chose it: flag | gpu | cpu_probe, the probe when one decided)."""
    import torch

    if forced is not None:  # --bf16 / --fp32: no probe
        return forced, "flag", None
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(), "gpu", None
    probe = cpu_probe()
    return probe.bf16, "cpu_probe", probe


def _read(path: Path) -> dict[str, dict]:
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # missing or damaged: measure again
    return verdicts if isinstance(verdicts, dict) else {}


def _verdict(entry: object) -> PrecisionProbe | None:
    try:
        return PrecisionProbe.model_validate_json(json.dumps(entry)) if entry is not None else None
    except ValidationError:
        return None  # written by another version: measure again


def _write(path: Path, verdicts: dict[str, dict]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(verdicts, indent=1) + "\n")
    tmp.replace(path)


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # Windows: no lock; at worst two processes both measure
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
