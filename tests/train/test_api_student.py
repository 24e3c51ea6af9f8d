"""API students (`openai:BASE_MODEL`) against the fault server's files and fine-tuning endpoints: a job
that succeeds, fails, is killed mid-poll and resumed, transient 429/5xx while polling, cost safety,
evaluation of the fine-tuned model in its training format, and `ftcot run` from teacher to report."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftcot.curate import write_openai_exports
from ftcot.errors import ConfigError, Incomplete
from ftcot.evaluate import EvalConfig, evaluate
from ftcot.records import read_manifest, read_records
from ftcot.testing.fault_server import FaultPlan, FaultServer
from ftcot.train import train, train_config
from ftcot.train.openai_student import EVENTS_FILE, estimate

pytestmark = pytest.mark.server
BASE = "openai:gpt-4o-mini-2024-07-18"
KEY_ENV = "FTCOT_TEST_FINE_TUNING_CREDENTIAL"  # a name that does not look like a key's


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "ftcot-cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A curated data folder: train/val rows and curate's OpenAI chat export."""
    rows = [
        {"task": "toy", "sample_id": i, "sample_index": 0, "question": f"Tom has {i} apples and gets 3 more. How many?",
         "answer": str(i + 3), "answer_type": "number", "rationale": f"Tom has {i} + 3 = {i + 3} apples."}
        for i in range(8)
    ]  # fmt: skip
    rows[6]["rationale"] = None  # a question no rationale survived for: vanilla still trains on it
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:7]))
    (folder / "val.jsonl").write_text(json.dumps(rows[7]) + "\n")
    write_openai_exports(folder, rows[:7], rows[7:])
    return folder


def settings(data_dir, out, server, **extra) -> dict:
    return {"data_dir": data_dir, "student": BASE, "out": out, "base_url": server.url, "poll_s": 0.01,
            "progress": False, **extra}  # fmt: skip


def ftcot(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftcot.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_a_job_that_succeeds_names_its_model_and_a_rerun_pays_nothing(fault_server, data_dir, tmp_path):
    server = fault_server(FaultPlan(ft_polls_before_done=3))
    out = tmp_path / "student"
    config = train_config(settings(data_dir, out, server, epochs=2, lr_multiplier=0.5, seed=7))
    train(config)

    manifest = read_manifest(out)
    api = manifest["api"]
    assert manifest["status"] == "complete" and manifest["error"] is None
    assert api["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:") and api["job_id"] == "ftjob-1"
    assert api["trained_tokens"] > 0 and api["cost"]["usd"] == round(api["trained_tokens"] * 3.0 / 1e6, 4)
    assert manifest["student_format"] == {"method": "ft_cot", "question_prefix": "", "trained_as": "ft_cot",
                                          "endpoint": "chat", "stop": ["END"]}  # fmt: skip
    job = server.jobs["ftjob-1"]
    assert (
        job["hyperparameters"]["n_epochs"] == 2 and job["hyperparameters"]["learning_rate_multiplier"] == 0.5
    )
    assert job["seed"] == 7 and job["metadata"]["ftcot_fingerprint"] == api["fingerprint"]
    assert job["user_provided_suffix"] == f"ftcot-{api['fingerprint'][:12]}"
    uploaded = server.files[job["training_file"]].decode()
    assert uploaded == (data_dir / "openai" / "ft_cot.train.jsonl").read_text()  # curate's export, as is
    assert json.loads(uploaded.splitlines()[0])["messages"][0]["content"].endswith(" ###")
    events = [json.loads(line) for line in (out / EVENTS_FILE).read_text().splitlines()]
    assert [e["message"] for e in events][-1] == "The job has successfully completed"
    assert any(e["type"] == "metrics" and e["data"]["train_loss"] for e in events)

    train(config)  # a rerun follows the finished job: no upload, no job
    assert server.stats.fine_tuning_jobs == 1 and len(server.files) == 2
    assert len((out / EVENTS_FILE).read_text().splitlines()) == len(events)  # each event once


def test_transient_5xx_and_429_while_polling_are_retried(fault_server, data_dir, tmp_path):
    server = fault_server(FaultPlan(ft_poll_faults="503,429,502", retry_after=0.5))
    started = time.monotonic()
    train(train_config(settings(data_dir, tmp_path / "student", server)))
    assert time.monotonic() - started >= 0.5  # the 429's Retry-After was honoured
    assert server.stats.faults == {"503": 1, "429": 1, "502": 1}
    assert read_manifest(tmp_path / "student")["status"] == "complete"
    assert server.stats.fine_tuning_jobs == 1


def test_a_failed_job_reaches_the_user_and_is_not_complete(fault_server, data_dir, tmp_path):
    server = fault_server(FaultPlan(ft_error="Training file has 7 example(s), but must have at least 10"))
    out = tmp_path / "student"
    result = ftcot("train", data_dir, "--student", BASE, "--out", out, "--base-url", server.url,
                   "--poll-s", 0.01, "--no-progress")  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "must have at least 10" in result.stderr and "ftjob-1 failed" in result.stderr
    manifest = read_manifest(out)
    assert manifest["status"] == "failed" and "must have at least 10" in manifest["error"]
    assert manifest["api"]["fine_tuned_model"] is None
    assert manifest["api"]["job"]["error"]["code"] == "invalid_training_file"


def _start_killable(data_dir, out, server, *extra) -> subprocess.Popen:
    # SIGINT at its default, as under a terminal: a test run started in the background of a script
    # inherits SIGINT ignored, and Python then never installs its KeyboardInterrupt handler.
    return subprocess.Popen(
        [sys.executable, "-m", "ftcot.cli", "train", data_dir, "--student", BASE, "--out", out,
         "--base-url", server.url, "--poll-s", "0.05", "--max-poll-s", "0.05", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _wait_for_polls(server: FaultServer, proc: subprocess.Popen, polls: int = 3) -> None:
    deadline = time.monotonic() + 120
    while server.stats.job_polls < polls:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the job was never polled"
        time.sleep(0.05)


def test_a_run_killed_mid_poll_resumes_the_same_job_even_without_its_manifest(
    fault_server, data_dir, tmp_path
):
    server = fault_server(FaultPlan(ft_polls_before_done=10**6))  # runs until the test says otherwise
    out = tmp_path / "student"
    proc = _start_killable(data_dir, out, server)
    _wait_for_polls(server, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate()
    assert read_manifest(out)["status"] == "running" and read_manifest(out)["api"]["job_id"] == "ftjob-1"
    assert server.jobs["ftjob-1"]["status"] == "running"

    (out / "manifest.json").unlink()  # even a lost manifest: the job is found by its fingerprint
    server.plan.ft_polls_before_done = 0  # the job ends at its next status check
    train(train_config(settings(data_dir, out, server)))
    assert server.stats.fine_tuning_jobs == 1 and len(server.files) == 2  # nothing uploaded or paid twice
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and manifest["api"]["job_id"] == "ftjob-1"


def test_ctrl_c_leaves_the_job_running_and_says_how_to_resume_or_cancel(fault_server, data_dir, tmp_path):
    server = fault_server(FaultPlan(ft_polls_before_done=10**6))
    out = tmp_path / "student"
    proc = _start_killable(data_dir, out, server)
    _wait_for_polls(server, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "keeps running" in stderr and "Rerun the same command" in stderr and "--cancel" in stderr
    assert read_manifest(out)["status"] == "interrupted"
    assert server.jobs["ftjob-1"]["status"] == "running"

    result = ftcot("train", data_dir, "--student", BASE, "--out", out, "--base-url", server.url, "--cancel")
    assert result.returncode == 0, result.stderr[-2000:]
    assert server.jobs["ftjob-1"]["status"] == "cancelled" and read_manifest(out)["status"] == "cancelled"
    assert server.stats.fine_tuning_jobs == 1


def test_dry_run_and_max_cost_start_nothing(fault_server, data_dir, tmp_path, monkeypatch):
    server = fault_server()
    out = tmp_path / "student"
    result = ftcot("train", data_dir, "--student", BASE, "--out", out, "--epochs", 4, "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    assert shown["train_examples"] == 6 and shown["trained_tokens"] == 4 * shown["train_file_tokens"]
    assert shown["cost"] == round(shown["trained_tokens"] * 3.0 / 1e6, 4)  # the example price of gpt-4o-mini
    assert "no API key" not in result.stderr  # a dry run needs no key

    config = train_config(settings(data_dir, out, server, epochs=4, max_cost=shown["cost"] / 2))
    with pytest.raises(Incomplete, match="over --max-cost"):
        train(config)
    assert server.stats.fine_tuning_jobs == 0 and not server.files
    assert read_manifest(out)["status"] == "budget"
    with pytest.raises(ConfigError, match="--max-cost needs --epochs"):
        train_config(settings(data_dir, out, server, max_cost=1.0))
    assert estimate(train_config(settings(data_dir, out, server)))["epochs"] == "auto (assumed 3)"


def test_settings_of_the_other_kind_of_student_are_refused(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="lora: not a setting of API students"):
        train_config({"data_dir": data_dir, "student": BASE, "out": tmp_path, "lora": True})
    with pytest.raises(ConfigError, match="suffix: only API students"):
        train_config({"data_dir": data_dir, "student": "smollm2", "out": tmp_path, "suffix": "x"})


def test_the_fine_tuned_model_is_evaluated_in_its_training_format(fault_server, data_dir, tmp_path):
    server = fault_server()
    out = tmp_path / "student"
    train(train_config(settings(data_dir, out, server)))
    evaluation = tmp_path / "eval"
    evaluate(
        EvalConfig(model=str(out), task="multiarith", split="test", method="ft_cot", limit=5, out=evaluation)
    )
    records = read_records(evaluation)
    model = read_manifest(out)["api"]["fine_tuned_model"]
    assert (
        len(records) == 5
        and {r.model for r in records} == {model}
        and {r.method for r in records} == {"ft_cot"}
    )
    for r in records:
        assert r.prompt == f"{r.question} ###" and " --> " in r.answer_text
        assert r.rationale.startswith("The numbers are") and r.prediction == r.answer_text.rsplit("--> ")[1]
    manifest = read_manifest(evaluation)
    assert manifest["metrics"]["correct_format"] == 100.0 and manifest["model"] == f"openai:{model}"
    assert manifest["model_manifest"]["api"]["job_id"] == "ftjob-1"  # reports see a trained student
    assert manifest["chat"] is True and server.stats.paths["/v1/chat/completions"] == 5

    # the same model named directly, as `ftcot eval openai:ft:... --base-url URL` does
    direct = EvalConfig(model=f"openai:{model}", task="multiarith", split="test", method="ft_cot", limit=5,
                        out=tmp_path / "eval-direct", base_url=server.url)  # fmt: skip
    evaluate(direct)
    assert [r.answer_text for r in read_records(tmp_path / "eval-direct")] == [r.answer_text for r in records]


def test_a_completions_student_trains_on_prompt_completion_pairs_and_stops_at_end(
    fault_server, data_dir, tmp_path
):
    server = fault_server()
    out = tmp_path / "student"
    train(
        train_config(
            {**settings(data_dir, out, server), "student": "openai:babbage-002", "method": "vanilla"}
        )
    )
    uploaded = [json.loads(line) for line in server.files["file-1"].decode().splitlines()]
    assert len(uploaded) == 7  # vanilla: every training question, with or without a rationale
    assert uploaded[0] == {
        "prompt": "Tom has 0 apples and gets 3 more. How many? ###",
        "completion": " 3 END",
    }
    assert read_manifest(out)["api"]["endpoint"] == "completions"

    evaluate(EvalConfig(model=str(out), task="multiarith", method="vanilla", limit=3, out=tmp_path / "eval"))
    records = read_records(tmp_path / "eval")
    assert (
        server.stats.paths["/v1/completions"] == 3 and server.stats.paths.get("/v1/chat/completions") is None
    )
    assert all("END" not in r.answer_text and r.prediction == r.answer_text.strip() for r in records)


def _recipe(server: FaultServer, cache: Path) -> str:
    return f"""
name = "api-student"
tasks = ["multiarith"]
[teacher]
teacher = "openai:fault-model"
base_url = "{server.url}"
api_key_env = "{KEY_ENV}"
limit = 12
progress = false
cache = "{cache}"
[curate]
keep_all = true
[[students]]
student = "{BASE}"
methods = ["ft_cot", "vanilla"]
base_url = "{server.url}"
api_key_env = "{KEY_ENV}"
epochs = 2
poll_s = 0.01
progress = false
[eval]
limit = 4
"""


def test_a_recipe_with_an_api_student_runs_from_teacher_to_report_and_a_rerun_starts_no_job(
    fault_server, tmp_path
):
    server = fault_server(FaultPlan(ft_poll_faults="503,429", retry_after=0.01))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(_recipe(server, tmp_path / "cache.sqlite"))
    key = "tok" + secrets.token_hex(16)  # not key-shaped: only knowing the variable masks it
    run = tmp_path / "run"
    first = ftcot("run", recipe, "--out", run, env={KEY_ENV: key})
    assert first.returncode == 0, first.stderr[-3000:]
    assert (run / "report" / next((run / "report").iterdir()).name / "report.html").is_file()
    assert server.stats.fine_tuning_jobs == 2  # ft_cot and vanilla
    evals = [read_manifest(d) for d in (run / "eval").iterdir()]
    assert {m["method"] for m in evals} == {"ft_cot", "vanilla"} and all(m["status"] == "done" for m in evals)
    assert all(m["model"].startswith("openai:ft:gpt-4o-mini") for m in evals)
    assert key in server.stats.auth_headers.pop()  # the key was sent ...

    again = ftcot("run", recipe, "--out", run, env={KEY_ENV: key})
    assert again.returncode == 0, again.stderr[-3000:]
    assert server.stats.fine_tuning_jobs == 2  # ... and a rerun started no job
    recipe.unlink()  # written by the test, not by ftcot
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    leaks += ["output" for out in (first, again) if key in out.stdout + out.stderr]
    assert not leaks, f"the key is in: {leaks}"
