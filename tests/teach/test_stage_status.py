"""`ftcot run` against a teacher that dies or is stopped mid-stage: the stage is not done, the run
stops with a non-zero exit, and a rerun fetches only what is missing."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from ftcot.records import read_manifest, read_records
from ftcot.testing.fault_server import FaultPlan, FaultServer

QUESTIONS, DIVERSE = 30, 2


def write_recipe(path, server, cache) -> None:
    path.write_text(f"""
name = "dies"
tasks = ["multiarith"]
[teacher]
teacher = "openai:fault-model"
base_url = "{server.url}"
limit = {QUESTIONS}
diverse = {DIVERSE}
concurrency = 2
max_attempts = 2
timeout = 2.0
progress = false
cache = "{cache}"
[curate]
keep_all = true
""")


def run_command(recipe, out) -> list[str]:
    return [sys.executable, "-m", "ftcot.cli", "run", str(recipe), "--out", str(out)]


def wait_for_records(out, at_least: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list(out.glob("teach/*/completions.jsonl"))
        if files and files[0].read_bytes().count(b"\n") >= at_least:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the teach stage never wrote enough records")


def cached_rows(cache) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]


def test_run_stops_when_the_teacher_dies_and_a_rerun_fetches_only_the_missing(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.05))
    port = server.port
    recipe, out, cache = tmp_path / "r.toml", tmp_path / "run", tmp_path / "cache.sqlite"
    write_recipe(recipe, server, cache)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(run_command(recipe, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_records(out, 10, proc)
    server.stop()  # the teacher's server dies mid-stage
    stdout, stderr = proc.communicate(timeout=120)
    said = " ".join((stdout + stderr).decode().split())

    teach_dir = next(out.glob("teach/*"))
    manifest = read_manifest(teach_dir)
    assert proc.returncode != 0, said
    assert manifest["status"] != "complete"
    assert not (teach_dir / "DONE").exists()
    assert not (out / "curate").exists(), "no later stage may start on partial teacher output"
    if manifest["status"] == "incomplete":
        assert "samples missing (status incomplete)" in said and "rerun" in said
    first_bytes = (teach_dir / "completions.jsonl").read_bytes()
    first_keys = {r.key for r in read_records(teach_dir)}
    assert 10 <= len(first_keys) < QUESTIONS * DIVERSE

    with FaultServer(FaultPlan(latency=0.01), port=port) as back:  # the server is back, same address
        before = cached_rows(cache)
        rerun = subprocess.run(run_command(recipe, out), env=env, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
        keys = Counter(r.key for r in read_records(teach_dir))
        assert len(keys) == QUESTIONS * DIVERSE and set(keys.values()) == {1}  # each exactly once
        assert (teach_dir / "completions.jsonl").read_bytes().startswith(first_bytes)
        # Only what was missing was asked for: every reply of the rerun is a new cache entry.
        assert back.stats.choices == cached_rows(cache) - before
        assert back.stats.choices <= 2 * (QUESTIONS * DIVERSE - len(first_keys))
    assert read_manifest(teach_dir)["status"] == "complete"
    assert len(list(out.glob("*/*/DONE"))) == 3  # teach, curate, report

    again = subprocess.run(run_command(recipe, out), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "teach multiarith-openai_fault-model-D2: skip" in " ".join(again.stdout.split())


def test_sigterm_stops_the_whole_run(fault_server, tmp_path):
    server = fault_server(FaultPlan(latency=0.1))  # slow enough that the stage is mid-way at the signal
    recipe, out, cache = tmp_path / "r.toml", tmp_path / "run", tmp_path / "cache.sqlite"
    write_recipe(recipe, server, cache)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(run_command(recipe, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_records(out, 6, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    said = (stdout + stderr).decode()
    assert proc.returncode == 143, said
    assert "interrupted" in said
    teach_dir = next(out.glob("teach/*"))
    assert read_manifest(teach_dir)["status"] == "interrupted"
    assert not (teach_dir / "DONE").exists()
    assert not (out / "curate").exists(), "no later stage may start after SIGTERM"


def test_an_incomplete_teach_stage_stops_the_run_and_says_what_is_missing(fault_server, tmp_path):
    # Every request body fails once with a 500 at 20% odds; one try each, so some samples give up.
    server = fault_server(FaultPlan(p_500=0.2, max_faults_per_request=1, seed=3))
    recipe, out, cache = tmp_path / "r.toml", tmp_path / "run", tmp_path / "cache.sqlite"
    write_recipe(recipe, server, cache)
    recipe.write_text(recipe.read_text().replace("max_attempts = 2", "max_attempts = 1"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.run(run_command(recipe, out), env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stderr[-2000:]
    teach_dir = next(out.glob("teach/*"))
    manifest = read_manifest(teach_dir)
    missing = manifest["samples_missing"]
    assert manifest["status"] == "incomplete" and 0 < missing < QUESTIONS * DIVERSE
    said = " ".join(first.stderr.split())
    expected = f"{missing} of {QUESTIONS * DIVERSE} samples missing (status incomplete); rerun to fetch only"
    assert expected in said
    assert not (teach_dir / "DONE").exists() and not (out / "curate").exists()

    for _ in range(5):  # a rerun asks only for what is missing; new prompts may fail once too
        again = subprocess.run(run_command(recipe, out), env=env, capture_output=True, text=True, timeout=300)
        if again.returncode == 0:
            break
        assert again.returncode == 1 and read_manifest(teach_dir)["samples_missing"] < missing
        missing = read_manifest(teach_dir)["samples_missing"]
    assert again.returncode == 0, again.stderr[-2000:]
    keys = Counter(r.key for r in read_records(teach_dir))
    assert len(keys) == QUESTIONS * DIVERSE and set(keys.values()) == {1}
    assert len(list(out.glob("*/*/DONE"))) == 3


def test_a_done_marker_over_unfinished_teacher_output_is_not_trusted(fault_server, tmp_path):
    from ftcot.pipeline import load_recipe, plan
    from ftcot.records import write_manifest
    from ftcot.teach.driver import TeachConfig, teach

    server = fault_server()
    recipe = tmp_path / "r.toml"
    write_recipe(recipe, server, tmp_path / "cache.sqlite")
    stage = plan(load_recipe(recipe), tmp_path / "run")[0]
    teach(TeachConfig(**stage.settings, out=stage.dir))
    (stage.dir / "DONE").write_text(stage.key + "\n")
    assert stage.done

    records = stage.dir / "completions.jsonl"
    lines = records.read_bytes().splitlines(keepends=True)
    records.write_bytes(b"".join(lines[:-1]))  # one sample lost, yet "complete" and marked done
    assert not stage.done
    assert stage.unfinished() == f"1 of {QUESTIONS * DIVERSE} samples missing (status complete)"

    records.write_bytes(b"".join(lines))
    write_manifest(stage.dir, {"status": "interrupted"})  # as older versions left a stopped run
    assert not stage.done
