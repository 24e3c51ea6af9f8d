"""End to end against a real OpenAI-compatible server: llama.cpp serving the bundled SmolLM2."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from ftcot.records import read_manifest, read_records
from ftcot.teach.backends.llama_server import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip(
        "llama_cpp.server", reason="needs llama-cpp-python[server] (pip install 'ftcot[llamacpp]')"
    )
    from ftcot.errors import SourceError
    from ftcot.models import gguf_file

    try:
        model = gguf_file("smollm2")
    except SourceError as e:
        pytest.skip(f"bundled SmolLM2 weights not installed: {e}")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("llama_cpp.server did not start")
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(10)


def ftcot(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftcot.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_teach_with_llama_cpp_then_replay_from_cache_then_score(llama_server, tmp_path):
    cache = tmp_path / "cache.sqlite"
    common = ["teach", "--teacher", "openai:smollm2", "--base-url", llama_server, "--task", "multiarith",
              "--split", "train", "--diverse", "2", "--temperature", "0.7", "--limit", "4",
              "--cache", str(cache), "--no-progress", "--json"]  # fmt: skip
    first = ftcot(*common, "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr
    records = read_records(tmp_path / "first")
    assert len(records) == 8 and {r.sample_index for r in records} == {0, 1}
    assert all(r.rationale and r.usage["completion_tokens"] > 0 for r in records)
    assert read_manifest(tmp_path / "first")["last_run"]["requests"] > 0

    again = ftcot(*common, "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    replay = read_manifest(tmp_path / "again")["last_run"]
    assert replay["requests"] == 0 and replay["throttle"]["requests"] == 0
    assert replay["cache"]["misses"] == 0 and replay["cache"]["hits"] == 16
    replayed = {r.key: r.rationale for r in read_records(tmp_path / "again")}
    assert replayed == {r.key: r.rationale for r in records}

    scored = ftcot("score", str(tmp_path / "first"), "--json")
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads(scored.stdout)
    assert metrics["n"] == 8 and metrics["questions"] == 4
