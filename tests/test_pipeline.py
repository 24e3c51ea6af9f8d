"""Recipes: validation, the stage plan (sharing, sweeps, hashing), and `ftcot run` after a kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftcot.errors import ConfigError
from ftcot.pipeline import builtin_recipe, load_recipe, plan, quick

RECIPE = """
name = "t"
tasks = ["coin_flip", "multiarith"]
[teacher]
teacher = "recorded"
diverse = [1, 2]
[curate]
train_questions = [8, 32]
[[students]]
student = "smollm2"
methods = ["ft_cot", "vanilla"]
epochs = 1
[eval]
limit = 4
"""


def test_shipped_recipes_validate(mirror):
    for name in ("demo", "demo_coin_flip", "reproduce", "diverse_live"):
        recipe = load_recipe(text=builtin_recipe(name))
        assert recipe.tasks and recipe.students
    demo = load_recipe(text=builtin_recipe("demo"))
    assert demo.curate["train_questions"] == 40 and demo.students[0]["val_limit"] == 0
    assert quick(demo).curate["train_questions"] == 16 and quick(demo).students[0]["epochs"] == 1


BENCHMARK_RECIPES = sorted((Path(__file__).parents[1] / "benchmarks" / "reproduce").glob("*.toml"))


@pytest.mark.parametrize("path", BENCHMARK_RECIPES, ids=lambda p: p.stem)
def test_benchmark_recipes_validate_and_plan(mirror, path, tmp_path):
    """The committed reproduction recipes (most of them meant for a GPU session, where a bad key
    would cost device time) validate and plan their stages."""
    stages = plan(load_recipe(path), tmp_path)
    assert {s.kind for s in stages} >= {"teach", "train", "eval"}


@pytest.mark.parametrize(
    "text, match",
    [
        ('tasks = ["coin_flip"]\nteachr = {}', r"unknown key 'teachr'; allowed: name, description, tasks"),
        (
            'tasks = ["coin_flip"]\n[teacher]\ntemprature = 0.7',
            r"\[teacher\] has unknown key 'temprature'; allowed: .*temperature",
        ),
        (
            'tasks = ["coin_flip"]\n[[students]]\nstudent = "s"\nlearning_rate = 1',
            r"\[\[students\]\]\[0\] has unknown key 'learning_rate'; allowed: .*lr",
        ),
        ('tasks = ["nope"]', r"unknown task 'nope'"),
        ("tasks = 3", r"tasks: Input should be a valid list"),
        ("tasks = [", r"not valid TOML"),
    ],
)
def test_bad_recipes_name_the_key_and_the_allowed_values(mirror, text, match):
    with pytest.raises(ConfigError, match=match):
        load_recipe(text=text)


def test_plan_expands_the_sweep_and_shares_teacher_output(mirror, tmp_path):
    stages = plan(load_recipe(text=RECIPE), tmp_path)
    kinds = [s.kind for s in stages]
    # 2 tasks x 2 D: teach; x 2 N: curate; ft_cot for each, vanilla (question -> answer, the same
    # rows for every D) for the first D only: train + eval; one report
    assert kinds.count("teach") == 4 and kinds.count("curate") == 8
    assert kinds.count("train") == 8 + 4 and kinds.count("eval") == 12 and kinds.count("report") == 1
    vanilla = [s.label for s in stages if s.kind == "train" and s.settings["method"] == "vanilla"]
    assert sorted(vanilla) == sorted(
        f"{t}-smollm2-vanilla-D1-N{n}" for t in ("coin_flip", "multiarith") for n in (8, 32)
    )
    teach = next(s for s in stages if s.kind == "teach")
    users = [s for s in stages if s.kind == "curate" and s.inputs[0] is teach]
    assert len(users) == 2  # both N share one teacher run
    assert len({s.dir for s in stages}) == len(stages)


def test_a_list_of_teachers_sweeps_the_teacher(mirror, tmp_path):
    text = RECIPE.replace('teacher = "recorded"', 'teacher = ["recorded", "openai:gpt-4o-mini"]')
    stages = plan(load_recipe(text=text), tmp_path)
    teach = [s for s in stages if s.kind == "teach"]
    assert sorted({s.settings["teacher"] for s in teach}) == ["openai:gpt-4o-mini", "recorded"]
    assert len(teach) == 2 * 2 * 2  # tasks x teachers x D
    trained = {s.inputs[0].inputs[0].settings["teacher"] for s in stages if s.kind == "train"}
    assert trained == {"recorded", "openai:gpt-4o-mini"}  # every teacher has its students
    # A key held by the single-teacher recipe is unchanged: its finished runs are still found.
    single = {s.dir for s in plan(load_recipe(text=RECIPE), tmp_path)}
    assert {s.dir for s in teach if s.settings["teacher"] == "recorded"} <= single


def test_changing_a_student_setting_redoes_only_its_descendants(mirror, tmp_path):
    before = {s.dir for s in plan(load_recipe(text=RECIPE), tmp_path)}
    after_stages = plan(load_recipe(text=RECIPE.replace("epochs = 1", "epochs = 2")), tmp_path)
    changed = {s.kind for s in after_stages if s.dir not in before}
    assert changed == {"train", "eval", "report"}


def test_run_resumes_after_kill(mirror, tmp_path, tiny_student_folder):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""
name = "resume"
tasks = ["coin_flip"]
[teacher]
teacher = "recorded"
[curate]
train_questions = 12
[[students]]
student = "{tiny_student_folder}"
methods = ["ft_cot"]
epochs = 2
max_length = 96
eval_every_epoch = false
[eval]
limit = 4
max_new_tokens = 8
""")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ftcot.cli", "run", str(recipe), "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(out.glob("curate/*/DONE")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(out.glob("curate/*/DONE")), "the run should have finished curating before the kill"
    teach_records = next(out.glob("teach/*/completions.jsonl"))
    teach_bytes = teach_records.read_bytes()

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "teach coin_flip-recorded-D1: skip" in " ".join(result.stdout.split())
    assert teach_records.read_bytes() == teach_bytes  # nothing redone, nothing duplicated
    assert len(list(out.glob("*/*/DONE"))) == 5
    assert next(out.glob("report/*/report.html")).stat().st_size > 1000


@pytest.fixture
def tiny_student_folder(tmp_path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from ftcot.models import local_checkpoint
    from tests.tiny_models import tiny_llama_config

    tokenizer = AutoTokenizer.from_pretrained(local_checkpoint("smollm2"))
    torch.manual_seed(0)
    folder = tmp_path / "tiny-student"
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_dry_run_estimates_the_teacher_cost(mirror, tmp_path):
    from ftcot.pipeline import estimate_cost

    text = 'tasks = ["multiarith"]\n[teacher]\nteacher = "openai:gpt-4o-mini"\ndiverse = [1, 4]\n'
    stages = plan(load_recipe(text=text), tmp_path)
    cost = estimate_cost(stages)
    assert cost is not None and 0 < cost < 5
    assert estimate_cost(plan(load_recipe(text=RECIPE), tmp_path)) is None  # the recorded teacher is free
