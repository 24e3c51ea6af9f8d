"""One request plan for every path that asks a teacher: the live run and the dry-run estimate agree
request for request, against a chat server that answers bare (as real ones do)."""

from ftcot.records import read_manifest, read_records
from ftcot.tasks import get_task
from ftcot.teach.backends.base import Generation
from ftcot.teach.driver import TeachConfig, estimate, teach
from ftcot.teach.plan import RequestPlan
from ftcot.testing.fault_server import FaultPlan


def config(server, out, **overrides) -> TeachConfig:
    settings = dict(
        teacher="openai:fault-model", task="multiarith", split="train", out=out, diverse=2, limit=8,
        base_url=server.url, concurrency=4, progress=False, timeout=5.0,
    )  # fmt: skip
    return TeachConfig(**{**settings, **overrides})


def test_dry_run_estimate_equals_the_real_run_against_a_bare_reply_chat_server(fault_server, tmp_path):
    server = fault_server()  # chat replies start bare: "The numbers are ...", no leading space
    teach(config(server, tmp_path / "half", limit=4))  # half the questions are cached now
    assert not read_records(tmp_path / "half")[0].rationale.startswith(" ")

    planned = estimate(config(server, tmp_path / "run"))
    server.reset_stats()
    teach(config(server, tmp_path / "run"))
    last_run = read_manifest(tmp_path / "run")["last_run"]
    assert planned["requests_at_most"] == last_run["requests"] == server.stats.completions == 4 + 4 * 2
    assert planned["rationales_cached"] == 4 * 2 and planned["answers_cached"] == 4 * 2
    assert last_run["cache"]["hits"] == planned["rationales_cached"] + planned["answers_cached"]

    again = estimate(config(server, tmp_path / "elsewhere"))  # everything is cached now
    assert again["requests_at_most"] == 0 and again["answers_cached"] == 8 * 2


def test_the_plan_owns_the_leading_space_rule_stops_and_steps():
    task = get_task("multiarith")
    sample = task.samples("train", limit=1)[0]
    chat = RequestPlan.for_teach(TeachConfig(teacher="openai:m", task="multiarith", out="x"), task)
    bare, spaced = Generation("It is 3.", "stop"), Generation(" It is 3.", "stop")
    # Step 2 continues the step-1 prompt as a completion would: after exactly one space.
    assert chat.second(sample, bare).prompt == chat.second(sample, spaced).prompt
    assert chat.second(sample, bare).prompt.endswith(
        "step by step. It is 3. \nTherefore, the answer (arabic numerals) is"
    )
    completions = RequestPlan.for_teach(
        TeachConfig(teacher="openai:m", task="multiarith", out="x", chat=False), task
    )
    assert "step.It is 3." in completions.second(sample, bare).prompt  # raw text is sent as generated
    assert chat.second(sample, Generation("", "content_filter")) is None  # nothing to answer from
    assert chat.step1.stop == () and chat.step2.temperature == 0.0  # Kojima's: no stop, greedy answer

    baseline = RequestPlan.for_teach(
        TeachConfig(teacher="openai:m", task="multiarith", out="x", method="zero_shot"), task
    )
    assert baseline.one_step and baseline.step1.stop == ("\nQ:",)
    assert baseline.first(sample).prompt.endswith("\n\nA:") and baseline.second(sample, bare) is None


def test_a_server_that_adds_the_space_itself_gets_the_same_requests(fault_server, tmp_path):
    """The old fault server's replies (leading space) and real ones (bare) make the same step-2 prompts."""
    rude, polite = fault_server(), fault_server(FaultPlan(chat_leading_space=True))
    teach(config(rude, tmp_path / "rude", limit=3, diverse=1, cache=tmp_path / "rude.sqlite"))
    teach(config(polite, tmp_path / "polite", limit=3, diverse=1, cache=tmp_path / "polite.sqlite"))
    rude_records = sorted(read_records(tmp_path / "rude"), key=lambda r: r.key)
    polite_records = sorted(read_records(tmp_path / "polite"), key=lambda r: r.key)
    assert [r.rationale for r in polite_records] == [" " + r.rationale for r in rude_records]
    assert [r.answer_prompt for r in rude_records] == [r.answer_prompt for r in polite_records]
