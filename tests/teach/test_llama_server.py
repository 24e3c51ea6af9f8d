"""`--teacher llamacpp:FILE` through llama.cpp's own server, which ftcot starts and stops.

Real llama-server (built by `ftcot setup llama-server`, found through $FTCOT_LLAMA_SERVER or
PATH), real bundled SmolLM2 weights, real processes and signals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftcot.records import read_manifest, read_records

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    from ftcot.errors import SourceError
    from ftcot.models import gguf_file
    from ftcot.teach.backends.llama_server import server_binary

    if server_binary() is None:
        pytest.skip("no llama-server: run `ftcot setup llama-server` and set FTCOT_LLAMA_SERVER")
    try:
        return gguf_file("smollm2")
    except SourceError as e:
        pytest.skip(f"bundled SmolLM2 weights not installed: {e}")


def servers_of(model: Path) -> list[int]:
    """Pids of llama-server processes serving `model`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"llama-server") and str(model).encode() in argv:
            pids.append(int(entry.name))
    return pids


def wait_gone(model: Path, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while servers_of(model) and time.monotonic() < deadline:
        time.sleep(0.2)
    return servers_of(model)


def teach_command(tmp_path: Path, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ftcot.cli", "teach", "--teacher", "llamacpp:smollm2", "--task",
            "multiarith", "--split", "train", "--temperature", "0.7", "--max-tokens", "24",
            "--answer-max-tokens", "8", "--cache", str(tmp_path / "cache.sqlite"), "--no-progress",
            "--out", str(tmp_path / out), *extra]  # fmt: skip


def test_teach_starts_the_server_batches_d_samples_and_stops_it(smollm2_gguf, tmp_path):
    first = subprocess.run(teach_command(tmp_path, "first", "--diverse", "4", "--limit", "3"),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr
    records = read_records(tmp_path / "first")
    assert sorted(r.key[1:] for r in records) == sorted(
        (s, d) for s in {r.sample_id for r in records} for d in range(4)
    )
    assert len(records) == 12 and all(r.rationale is not None for r in records)
    manifest = read_manifest(tmp_path / "first")
    assert manifest["status"] == "complete"
    assert manifest["backend"]["engine"] == "llama-server" and manifest["backend"]["slots"] >= 4
    assert manifest["last_run"]["requests"] == 12 + 12  # one request per rationale, one per answer
    assert wait_gone(smollm2_gguf) == []  # the server went with the run

    again = subprocess.run(teach_command(tmp_path, "again", "--diverse", "4", "--limit", "3"),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert read_manifest(tmp_path / "again")["last_run"]["requests"] == 0  # all from the cache
    assert {r.key: r.rationale for r in read_records(tmp_path / "again")} == {
        r.key: r.rationale for r in records
    }


@pytest.fixture
def running_teacher(smollm2_gguf, tmp_path):
    """Starts `ftcot teach` with a llama-server and returns once requests are in flight; killed at teardown."""
    procs = []

    def start() -> subprocess.Popen:
        command = teach_command(tmp_path, "run", "--diverse", "8", "--limit", "40", "--max-tokens", "128")
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + 120
        while not servers_of(smollm2_gguf) or not (tmp_path / "cache.sqlite").exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the server never started"
            time.sleep(0.2)
        time.sleep(3)  # some requests in flight
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_sigterm_finishes_in_flight_work_and_stops_the_server(smollm2_gguf, running_teacher, tmp_path):
    proc = running_teacher()
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert read_manifest(tmp_path / "run")["status"] == "interrupted"
    assert wait_gone(smollm2_gguf) == []


def test_kill_9_of_ftcot_takes_the_server_down_too(smollm2_gguf, running_teacher):
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux-only")
    proc = running_teacher()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert wait_gone(smollm2_gguf) == []  # no orphan holding the cores


def test_a_server_that_cannot_load_the_model_says_why(smollm2_gguf, tmp_path):
    from ftcot.errors import SourceError
    from ftcot.teach.backends.llama_server import LlamaServer

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(SourceError, match="exited with"):
        LlamaServer(bad, slots=1, startup_timeout=60).start()
