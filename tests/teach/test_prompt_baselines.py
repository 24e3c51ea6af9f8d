"""The teacher's prompt baselines (zero-shot, Few-shot-CoT) through the teacher engine, and
`ftcot eval` of a served model, against the fault server: records, scores, cache, refusals."""

import json

import pytest

from ftcot.errors import ConfigError
from ftcot.evaluate import EvalConfig, evaluate
from ftcot.records import read_manifest, read_records
from ftcot.teach.driver import TeachConfig, teach
from ftcot.testing.fault_server import FaultPlan


def test_zero_shot_teacher_answers_in_one_request_per_question(fault_server, tmp_path):
    server = fault_server()
    config = TeachConfig(
        teacher="openai:fault-model", task="multiarith", split="train", out=tmp_path / "zs",
        method="zero_shot", limit=5, base_url=server.url, progress=False,
    )  # fmt: skip
    teach(config)
    records = read_records(tmp_path / "zs")
    assert server.stats.completions == 5  # one step, no answer request
    assert {r.method for r in records} == {"zero_shot"} and len(records) == 5
    for r in records:
        assert r.prompt.startswith("Q: ") and r.prompt.endswith("\n\nA:")
        assert r.rationale is None and r.answer_prompt is None
        assert r.prediction == r.answer_text.strip()  # the bare number the server sent
    assert read_manifest(tmp_path / "zs")["method"] == "zero_shot"


def test_eval_of_a_served_model_with_few_shot_cot(fault_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-written")
    server = fault_server()
    out = tmp_path / "fs"
    config = EvalConfig(
        model="openai:fault-model", task="multiarith", split="test", method="fs_cot", limit=6,
        out=out, base_url=server.url,
    )  # fmt: skip
    evaluate(config)
    records = read_records(out)
    assert len(records) == 6 and {r.method for r in records} == {"fs_cot"}
    for r in records:
        assert r.prompt.startswith("Q: There are 15 trees")  # the paper's exemplars come first
        assert r.prompt.endswith(f"Q: {r.question}\nA:")
        reply_answer = r.answer_text.rsplit("The answer is", 1)[1].strip(" .")
        assert r.prediction == reply_answer and r.rationale.startswith("The numbers are")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["correct"] == sum(r.correct for r in records)
    assert metrics["correct_format"] == 100.0  # every reply carried 'The answer is'
    manifest = read_manifest(out)
    assert manifest["stage"] == "eval" and manifest["model"] == "openai:fault-model"
    requests = server.stats.completions
    assert requests == 6
    evaluate(config)  # a rerun is served by the cache and the records
    assert server.stats.completions == requests
    assert "sk-secret" not in "".join(p.read_text() for p in out.iterdir() if p.is_file())


@pytest.mark.parametrize("method", ["zs_cot", "zero_shot"])
def test_served_eval_states_the_stop_it_sent(fault_server, tmp_path, method):
    """The eval manifest and records state the stop strings the server received: none for Kojima's
    zs_cot steps (the teacher engine's default, not a local model's '\\nQ:'), '\\nQ:' for one step."""
    server = fault_server(FaultPlan(record_requests=True))
    out = tmp_path / method
    config = EvalConfig(
        model="openai:fault-model", task="multiarith", split="test", method=method, limit=3, out=out,
        base_url=server.url,
    )  # fmt: skip
    evaluate(config)
    stated = read_manifest(out)["stop"]
    assert len(server.received) == (6 if method == "zs_cot" else 3)  # zs_cot: rationale, then answer
    assert {tuple(body.get("stop", ())) for body in server.received} == {tuple(stated)}
    assert stated == ([] if method == "zs_cot" else ["\nQ:"])
    assert all(r.params.get("stop", []) == stated for r in read_records(out))


def test_served_eval_and_recorded_teacher_refuse_what_they_cannot_do(tmp_path):
    with pytest.raises(ConfigError, match="zero_shot, zs_cot or fs_cot"):
        evaluate(EvalConfig(model="openai:m", task="multiarith", method="ft_cot", out=tmp_path / "a"))
    with pytest.raises(ConfigError, match="Zero-shot-CoT outputs only"):
        teach(TeachConfig(teacher="recorded", task="multiarith", method="fs_cot", out=tmp_path / "b"))
    with pytest.raises(ConfigError, match="no Few-shot-CoT exemplars"):
        teach(
            TeachConfig(
                teacher="openai:m", task="tracking_shuffled_objects", method="fs_cot", out=tmp_path / "c"
            )
        )
