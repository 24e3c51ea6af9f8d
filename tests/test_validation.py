"""Typos and wrong types in task cards, recipes and flags: one readable line naming the key, exit code 2,
and in a recipe before any stage has run."""

import subprocess
import sys

import pytest

from ftcot.tasks.generators import write_jsonl


def ftcot(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ftcot.cli", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def assert_clear_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "validation error" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.fixture
def card(tmp_path):
    """Write a task card over a small data file; returns a function of the card's extra lines."""
    write_jsonl([{"q": f"{i} + 1?", "a": str(i + 1)} for i in range(10)], tmp_path / "sums.jsonl")

    def write(lines: str):
        path = tmp_path / "sums.toml"
        path.write_text(f'source = "sums.jsonl"\n{lines}\n')
        return path

    return write


@pytest.mark.parametrize(
    "lines, expected",
    [
        (  # was accepted, and graded the answers as free text
            'answer_typ = "number"\nquestion_field = "q"\nanswer_field = "a"',
            ["unknown key 'answer_typ'", "Did you mean 'answer_type'?"],
        ),
        (  # was refused as a missing 'question' field
            'answer_type = "number"\nquestion_feild = "q"\nanswer_field = "a"',
            ["unknown key 'question_feild'", "Did you mean 'question_field'?"],
        ),
        (  # was a pydantic traceback
            'answer_type = "number"\nquestion_field = "q"\nanswer_field = "a"\ntrain_fraction = "lots"',
            ["train_fraction", "'lots'", "valid number"],
        ),
    ],
)
def test_task_card_typos_name_the_key(card, lines, expected):
    path = card(lines)
    assert_clear_error(ftcot("show", path, "--json"), str(path), *expected)


def test_a_correct_task_card_still_loads(card):
    result = ftcot("show", card('answer_type = "number"\nquestion_field = "q"\nanswer_field = "a"'), "--json")
    assert result.returncode == 0, result.stderr
    assert '"answer_type": "number"' in result.stdout


RECIPE = """
tasks = ["multiarith"]
[teacher]
teacher = "recorded"
{teacher}
[curate]
{curate}
[[students]]
student = "smollm2"
{student}
"""


@pytest.mark.parametrize(
    "section, line, expected",
    [
        ("student", 'epochs = "lots"', ["[[students]][0].epochs", "'lots'", "valid number"]),
        ("teacher", 'diverse = "two"', ["[teacher].diverse", "'two'", "valid integer"]),
        ("teacher", "diverse = [1, 0]", ["[teacher].diverse", "greater than or equal to 1"]),
        ("curate", "val_fraction = 2", ["[curate].val_fraction", "less than 1"]),
        (
            "teacher",
            "temprature = 0.7",
            ["[teacher] has unknown key 'temprature'", "Did you mean 'temperature'?"],
        ),
        ("student", "epoch = 2", ["[[students]][0] has unknown key 'epoch'", "Did you mean 'epochs'?"]),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_recipe_settings_are_checked_before_any_stage_runs(
    mirror, tmp_path, section, line, expected, dry_run
):
    recipe = tmp_path / "typo.toml"
    recipe.write_text(RECIPE.format(**{"teacher": "", "curate": "", "student": "", section: line}))
    out = tmp_path / "run"
    result = ftcot("run", recipe, "--out", out, *(["--dry-run"] if dry_run else []))
    # `[teacher]` and `[[students]]` print as written: rich markup does not swallow them
    assert_clear_error(result, str(recipe), *expected)
    assert not out.exists()  # not one stage ran


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["teach", "--teacher", "recorded", "--task", "multiarith", "--out", "{tmp}/t", "--diverse", "0"],
            "--diverse",
        ),
        (["curate", "{tmp}", "--out", "{tmp}/c", "--val-fraction", "2"], "--val-fraction"),
    ],
)
def test_bad_flag_values_are_one_line_not_a_traceback(tmp_path, args, expected):
    result = ftcot(*[a.format(tmp=tmp_path) for a in args])
    assert_clear_error(result, expected)
    assert len(result.stderr.strip().splitlines()) == 1
