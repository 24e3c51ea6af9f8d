"""Kill the `ftcot teach` CLI mid-run (SIGKILL, and Ctrl-C), rerun it, and count records and requests."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from ftcot.records import read_manifest, read_records
from ftcot.testing.fault_server import FaultPlan
from tests.teach.conftest import wait_for_records

QUESTIONS, DIVERSE = 60, 2
CHOICES_NEEDED = QUESTIONS * DIVERSE * 2  # a rationale and an answer per sample


def teach_command(server, out, cache):
    return [
        sys.executable, "-m", "ftcot.cli", "teach", "--teacher", "openai:fault-model", "--base-url", server.url,
        "--task", "multiarith", "--split", "train", "--limit", str(QUESTIONS), "--diverse", str(DIVERSE),
        "--concurrency", "4", "--out", str(out), "--cache", str(cache), "--no-progress",
    ]  # fmt: skip


def cached_rows(cache) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]


def test_kill_9_then_resume_loses_nothing_and_pays_nothing_twice(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.03))
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    proc = subprocess.Popen(teach_command(server, out, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_records(out, 40, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.3)  # let the server finish the replies that the dead client will never read
    first_run_bytes = (out / "completions.jsonl").read_bytes()
    first_run_records = len(read_records(out))
    assert 40 <= first_run_records < QUESTIONS * DIVERSE
    paid_before_kill = cached_rows(cache)
    first_run_choices = server.stats.choices
    assert first_run_choices - paid_before_kill <= 4 * DIVERSE  # only replies still in flight were lost

    server.reset_stats()
    done = subprocess.run(teach_command(server, out, cache), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()

    keys = Counter(r.key for r in read_records(out))
    assert len(keys) == QUESTIONS * DIVERSE and set(keys.values()) == {1}
    final_bytes = (out / "completions.jsonl").read_bytes()
    whole_lines = first_run_bytes[: first_run_bytes.rfind(b"\n") + 1]
    assert final_bytes.startswith(whole_lines)  # nothing finished was rewritten
    # Every reply of the rerun was new and was kept: nothing was asked twice.
    assert server.stats.choices == cached_rows(cache) - paid_before_kill
    # MultiArith repeats some questions; identical prompts share cache entries.
    assert cached_rows(cache) <= CHOICES_NEEDED
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and manifest["samples"] == QUESTIONS * DIVERSE


def test_ctrl_c_finishes_the_questions_in_flight(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.03))
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    proc = subprocess.Popen(teach_command(server, out, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_records(out, 20, proc)
    os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    assert b"interrupted" in stderr
    text = (out / "completions.jsonl").read_text()
    assert text.endswith("\n")  # no torn line: every record finished
    records = read_records(out)
    per_question = Counter(r.sample_id for r in records)
    assert set(per_question.values()) == {DIVERSE}  # questions in flight were finished, not cut
    assert read_manifest(out)["status"] == "interrupted"
    assert len(records) < QUESTIONS * DIVERSE
