"""An API key reaches the server and nothing else: not the cache, the run folder, logs or errors."""

import logging
import secrets
import subprocess
import sys

import pytest

from ftcot.redact import redact, redact_url, redact_value
from ftcot.teach.backends import RequestRefused
from ftcot.teach.driver import TeachConfig, teach
from ftcot.testing.fault_server import FaultPlan


def all_bytes(*folders) -> bytes:
    return b"".join(p.read_bytes() for folder in folders for p in folder.rglob("*") if p.is_file())


def test_key_never_leaves_the_request(fault_server, tmp_path, monkeypatch, caplog, capsys):
    key = "sk-test-" + secrets.token_hex(16)
    monkeypatch.setenv("MY_TEACHER_KEY", key)
    caplog.set_level(logging.DEBUG)
    server = fault_server(FaultPlan(p_429=0.2, p_500=0.2, retry_after=0.01))
    cache = tmp_path / "cache"
    settings = dict(
        teacher="openai:fault-model", task="multiarith", out=tmp_path / "run", limit=5, diverse=2,
        base_url=server.url, api_key_env="MY_TEACHER_KEY", cache=cache / "c.sqlite", progress=False,
    )  # fmt: skip
    teach(TeachConfig(**settings))
    assert f"Bearer {key}" in server.stats.auth_headers  # the key was really used

    refusing = fault_server(FaultPlan(status=401))
    with pytest.raises(RequestRefused) as refused:
        teach(TeachConfig(**{**settings, "out": tmp_path / "refused", "base_url": refusing.url, "limit": 6}))
    assert "MY_TEACHER_KEY" in str(refused.value)

    written = all_bytes(tmp_path / "run", tmp_path / "refused", cache)
    assert key.encode() not in written
    assert key not in caplog.text and key not in str(refused.value)
    captured = capsys.readouterr()
    assert key not in captured.out + captured.err


def test_cli_error_output_has_no_key(fault_server, tmp_path):
    key = "sk-test-" + secrets.token_hex(16)
    server = fault_server(FaultPlan(status=401))
    result = subprocess.run(
        [sys.executable, "-m", "ftcot.cli", "teach", "--teacher", "openai:m", "--task", "multiarith",
         "--base-url", server.url, "--out", str(tmp_path / "run"), "--limit", "3", "--no-progress"],
        capture_output=True, text=True, timeout=60, env={**_env(), "OPENAI_API_KEY": key},
    )  # fmt: skip
    assert result.returncode == 2
    assert "401" in result.stderr and "OPENAI_API_KEY" in result.stderr
    assert key not in result.stdout + result.stderr
    assert key.encode() not in all_bytes(tmp_path)


def test_redaction_helpers():
    assert redact("Incorrect API key provided: sk-abc123456789xyz.") == "Incorrect API key provided: ***."
    assert redact("token hunter2 here", ("hunter2",)) == "token *** here"
    assert redact_url("https://user:pw@host/v1?key=abc") == "https://host/v1"


def test_redact_value_masks_every_kind_of_secret_in_nested_settings(monkeypatch):
    monkeypatch.setenv("TEAM_CREDENTIAL", "hunter2-xyz")  # named by api_key_env below, so a secret
    settings = {
        "teacher": {
            "base_url": "http://me:pw1234@host/v1?api_key=abc123&x=1",
            "api_key_env": "TEAM_CREDENTIAL",
        },
        "errors": ["401: key hunter2-xyz refused", "auth Bearer abcdefghijkl", ("sk-abcdef123456",)],
        "steps": 3,
    }
    assert redact_value(settings) == {
        "teacher": {"base_url": "http://***@host/v1?api_key=***&x=1", "api_key_env": "TEAM_CREDENTIAL"},
        "errors": ["401: key *** refused", "auth ***", ("***",)],
        "steps": 3,
    }
    assert redact_value("Basic arithmetic: 2 + 2 = 4, monkey=5") == "Basic arithmetic: 2 + 2 = 4, monkey=5"


def test_cli_logging_masks_secrets(capsys):
    from ftcot.cli import _setup_logging

    _setup_logging()
    logging.getLogger("ftcot.test").warning("connecting to %s", "http://me:pw1234@host/v1")
    assert "pw1234" not in capsys.readouterr().err


def test_missing_key_for_a_remote_server_names_the_variable(tmp_path):
    from ftcot.errors import ConfigError

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        teach(TeachConfig(teacher="openai:gpt-4o-mini", task="multiarith", out=tmp_path / "r", limit=1))


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
