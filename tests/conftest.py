import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Idle OpenMP threads spin by default and starve the other core on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Tests read the public files from the offline mirror beside the repository unless told otherwise.
if "FTCOT_MIRROR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FTCOT_MIRROR"] = str(SHARED_DATA)


@pytest.fixture
def mirror() -> Path:
    path = os.environ.get("FTCOT_MIRROR")
    if not path or not Path(path).is_dir():
        pytest.skip("needs the offline mirror: set FTCOT_MIRROR to the shared data folder")
    return Path(path)
