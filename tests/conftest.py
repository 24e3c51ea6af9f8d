import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Tests read the public files from the offline mirror beside the repository unless told otherwise.
if "FTCOT_MIRROR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FTCOT_MIRROR"] = str(SHARED_DATA)


@pytest.fixture
def mirror() -> Path:
    path = os.environ.get("FTCOT_MIRROR")
    if not path or not Path(path).is_dir():
        pytest.skip("needs the offline mirror: set FTCOT_MIRROR to the shared data folder")
    return Path(path)
