"""One writer per run folder: a second `ftcot teach` on the same --out fails at once naming the first."""

import subprocess
import sys
import time
from collections import Counter

from ftcot.records import RecordWriter, RunFolderBusy, read_records
from ftcot.testing.fault_server import FaultPlan
from tests.teach.conftest import wait_for_records

QUESTIONS = 100


def teach_command(server, out, cache):
    return [
        sys.executable, "-m", "ftcot.cli", "teach", "--teacher", "openai:fault-model", "--base-url", server.url,
        "--task", "multiarith", "--split", "train", "--limit", str(QUESTIONS), "--concurrency", "2",
        "--out", str(out), "--cache", str(cache), "--no-progress",
    ]  # fmt: skip


def test_a_second_teacher_on_the_same_folder_fails_at_once_naming_the_first(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.05))  # the first run takes ~5 s
    out = tmp_path / "run"
    first = subprocess.Popen(
        teach_command(server, out, tmp_path / "a.sqlite"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_for_records(out, 2, first)
    second = subprocess.run(
        teach_command(server, out, tmp_path / "b.sqlite"), capture_output=True, timeout=60
    )
    assert first.poll() is None  # the second one gave up while the first was still working
    assert second.returncode == 2
    message = " ".join(second.stderr.decode().split())
    assert f"pid {first.pid}" in message and "started" in message and "being written" in message
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr.decode()
    keys = Counter(r.key for r in read_records(out))
    assert len(keys) == QUESTIONS and set(keys.values()) == {1}  # nothing written twice
    assert (out / "completions.jsonl").read_bytes().count(b"\n") == QUESTIONS


HOLD = """
import sys, time
from ftcot.records import RecordWriter
writer = RecordWriter(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
writer.close()
"""


def test_a_writer_asked_to_wait_gets_the_folder_when_the_holder_leaves(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "1.0"], stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"holding\n"
    started = time.monotonic()
    try:
        RecordWriter(tmp_path)
        raise AssertionError("a second writer got the folder")
    except RunFolderBusy as e:
        assert f"pid {holder.pid}" in str(e)
    with RecordWriter(tmp_path, wait=True):
        assert time.monotonic() - started > 0.5  # it waited for the holder
    assert holder.wait(5) == 0
    assert (tmp_path / ".lock").read_bytes() == b""  # a free folder names no holder


def test_a_killed_holder_does_not_block_the_folder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "60"], stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"holding\n"
    holder.kill()
    holder.wait(10)
    with RecordWriter(tmp_path) as writer:  # the OS dropped the lock with the process
        assert writer.done == set()
