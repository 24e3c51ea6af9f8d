"""Under CI (CI=true) a test that needs a browser or a server runs or fails: it never skips."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_browser_tests(ci: str | None) -> subprocess.CompletedProcess:
    """The report's browser tests on a PATH without chromium or chromedriver."""
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": "/nonexistent"}
    if ci is not None:
        env["CI"] = ci
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/report/test_report_browser.py",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_missing_browser_skips_locally_and_fails_under_ci():
    local = run_browser_tests(ci=None)
    assert local.returncode == 0 and " skipped" in local.stdout and " failed" not in local.stdout, (
        local.stdout
    )
    ci = run_browser_tests(ci="true")
    assert ci.returncode == 1 and " skipped" not in ci.stdout and "5 errors" in ci.stdout, ci.stdout
    assert "CI=true: a browser test must run, not skip (needs headless Chromium" in ci.stdout


def test_ci_setup_installs_the_driver_when_only_chromium_is_there(tmp_path):
    """.ci/run's browser step, run on a PATH holding chromium but no chromedriver, with apt-get stubbed."""
    script = (ROOT / ".ci" / "run").read_text()
    start = script.index("if ! command -v chromium")
    step = script[start : script.index("\nfi\n", start) + 4]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").write_text("#!/bin/sh\n")
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "apt.log"}\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    subprocess.run(["/bin/bash", "-c", step], env={"PATH": str(bin_dir)}, check=True, timeout=60)
    assert "chromium-driver" in (tmp_path / "apt.log").read_text()
