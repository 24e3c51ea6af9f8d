import os
from pathlib import Path

import pytest

from ftcot.testing.fault_server import FaultPlan, FaultServer

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Idle OpenMP threads spin by default and starve the other core on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Tests read the public files from the offline mirror beside the repository unless told otherwise.
if "FTCOT_MIRROR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FTCOT_MIRROR"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def _own_teacher_cache(tmp_path_factory, monkeypatch):
    """In-process runs that use the default teacher cache (a local model's prompt baseline, a
    teacher without --cache) use the test's own, never the user's nor another test's: a reply
    cached earlier must not decide what a test sees."""
    path = tmp_path_factory.mktemp("teacher-cache") / "teacher-cache.sqlite"
    monkeypatch.setattr("ftcot.teach.cache.default_cache_path", lambda: path)
    return path


@pytest.fixture
def mirror() -> Path:
    path = os.environ.get("FTCOT_MIRROR")
    if not path or not Path(path).is_dir():
        pytest.skip("needs the offline mirror: set FTCOT_MIRROR to the shared data folder")
    return Path(path)


# Under CI a test that needs a browser or a server runs or fails, never skips: a skip turned a
# machine without chromium-driver into a green build that had run none of the browser tests.
MUST_RUN_UNDER_CI = ("browser", "server")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    needs = [m for m in MUST_RUN_UNDER_CI if item.get_closest_marker(m)]
    if (
        report.skipped
        and needs
        and os.environ.get("CI", "").lower() == "true"
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"CI=true: a {needs[0]} test must run, not skip ({reason})"


@pytest.fixture
def fault_server():
    """A factory: fault_server(FaultPlan(...)) starts a server that the test tears down."""
    servers = []

    def start(plan: FaultPlan | None = None) -> FaultServer:
        server = FaultServer(plan or FaultPlan()).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
