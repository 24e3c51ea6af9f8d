"""The package as a user installs it: a wheel built from this tree holds the built-in recipes and data
files, and they load through importlib.resources from an installed (non-editable) copy."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["ftcot/recipes/demo.toml", "ftcot/recipes/demo_coin_flip.toml", "ftcot/recipes/reproduce.toml", "ftcot/recipes/diverse_live.toml",
           "ftcot/data/names.txt", "ftcot/report/templates/report.html"]  # fmt: skip

# Run from the installed copy only: the editable install puts this tree's src/ on sys.path too.
LOAD_FROM_INSTALLED = """
import sys
sys.path.insert(0, sys.argv[1])
import ftcot
assert ftcot.__file__.startswith(sys.argv[1]), ftcot.__file__
from ftcot.pipeline import builtin_recipe, load_recipe
from ftcot.tasks.generators import GENERATORS
for name in ("demo", "demo_coin_flip", "reproduce", "diverse_live"):
    load_recipe(text=builtin_recipe(name))
make, _ = GENERATORS["coin_flip"]
make(3, 2, 0, None)  # reads data/names.txt
print("ok")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """(the wheel, the build log), built from a copy of the tree so that no build output lands in it."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--wheel-dir", dist, tree],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    [built] = dist.glob("ftcot-*.whl")
    return built, build.stdout + build.stderr


def test_wheel_holds_the_recipes_and_data_files(wheel):
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    assert not [f for f in SHIPPED if f not in names]


def test_build_has_no_license_deprecation(wheel):
    assert "project.license" not in wheel[1]  # setuptools: a TOML table stops working in 2027


def test_installed_wheel_loads_the_builtin_recipes(wheel, tmp_path, mirror):
    target = tmp_path / "site"
    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "--target",
        target,
        wheel[0],
    ]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    run = subprocess.run([sys.executable, "-c", LOAD_FROM_INSTALLED, str(target)], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
