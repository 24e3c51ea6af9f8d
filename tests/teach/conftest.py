"""Shared fixtures of the teacher tests: a private cache (the fault server is in tests/conftest.py)."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    """Every test writes its own cache (the mirror comes from tests/conftest.py); no real key is visible."""
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "ftcot-cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def wait_for_records(out, at_least: int, proc, timeout: float = 120) -> None:
    """Wait until the run writing `out` (process `proc`) has written `at_least` records."""
    path = out / "completions.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= at_least:
            return
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    raise AssertionError(f"the run wrote fewer than {at_least} records in {timeout:.0f} s")
