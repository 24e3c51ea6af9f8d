"""Local backends: the hf backend on a tiny random model, micro-batching, and the teacher specs."""

import asyncio

import pytest

from ftcot.errors import ConfigError
from ftcot.records import read_manifest, read_records
from ftcot.teach.backends import get_backend, parse_teacher
from ftcot.teach.backends.base import SamplingParams
from ftcot.teach.driver import TeachConfig, teach


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A randomly initialised 2-layer Llama with a word-level tokenizer: loads in well under a second."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = [
        "<pad>",
        "<eos>",
        "<unk>",
        "Q:",
        "A:",
        "Let's",
        "think",
        "step",
        "by",
        "step.",
        "the",
        "answer",
        "is",
    ]
    words += [str(i) for i in range(100)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    config = LlamaConfig(
        vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, pad_token_id=0, eos_token_id=1, bos_token_id=1,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


def test_hf_backend_generates_n_samples_per_prompt_with_usage(tiny_model):
    backend = get_backend(f"hf:{tiny_model}", batch_size=4)
    prompts = ["Q: 1 2 A:", "Q: 3 4 5 6 7 A: Let's think"]  # different lengths: left padding matters
    out = asyncio.run(backend.generate(prompts, SamplingParams(temperature=0.7, max_tokens=6, n=3)))
    assert [len(g) for g in out] == [3, 3]
    for generations in out:
        assert generations[0].prompt_tokens > 0 and all(g.prompt_tokens == 0 for g in generations[1:])
        assert all(g.finish_reason in ("stop", "length") and g.completion_tokens <= 6 for g in generations)
    greedy = SamplingParams(temperature=0.0, max_tokens=5)
    alone = asyncio.run(backend.generate([prompts[1]], greedy))[0][0].text
    batched = asyncio.run(backend.generate(prompts, greedy))[1][0].text
    assert alone == batched  # padding on the left leaves a prompt's continuation unchanged


def test_teach_with_hf_batches_concurrent_questions(tiny_model, tmp_path):
    out = tmp_path / "run"
    cfg = TeachConfig(teacher=f"hf:{tiny_model}", task="multiarith", out=out, limit=6, diverse=2,
                      max_tokens=8, answer_max_tokens=4, batch_size=4, progress=False)  # fmt: skip
    teach(cfg)
    assert len(read_records(out)) == 12
    manifest = read_manifest(out)
    assert manifest["backend"]["backend"] == "hf" and manifest["last_run"]["cache"]["writes"] == 24
    assert manifest["last_run"]["requests"] == 6 + 12  # n=2 per question, then one answer per sample
    assert manifest["last_run"]["backend_calls"] < 18  # concurrent questions shared generate() calls
    assert manifest["yield"]["job_cost"] == 0.0  # local teachers are free
    teach(cfg.model_copy(update={"out": tmp_path / "again"}))
    assert read_manifest(tmp_path / "again")["last_run"]["requests"] == 0


def test_teacher_specs():
    assert parse_teacher("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert parse_teacher("hf:org/model:rev") == ("hf", "org/model:rev")
    assert parse_teacher("recorded") == ("recorded", "text-davinci-002")
    for bad in ("gpt-4o", "foo:bar", "openai:"):
        with pytest.raises(ConfigError, match="BACKEND:MODEL"):
            parse_teacher(bad)


def test_vllm_is_optional():
    import importlib.util
    import sys

    assert "vllm" not in sys.modules  # importing ftcot never imports vllm
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ConfigError, match="pip install"):
            get_backend("vllm:some/model", tensor_parallel_size=2)


@pytest.mark.slow
def test_llamacpp_backend_in_process(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (pip install 'ftcot[llamacpp]')")
    import ftcot.teach.backends.llama_server as llama_server

    monkeypatch.setattr(llama_server, "server_binary", lambda: None)  # no llama-server: the fallback
    out = tmp_path / "run"
    cfg = TeachConfig(teacher="llamacpp:smollm2", task="multiarith", out=out, limit=1, diverse=2,
                      max_tokens=24, answer_max_tokens=8, progress=False)  # fmt: skip
    teach(cfg)
    records = read_records(out)
    assert len(records) == 2 and all(r.rationale for r in records)
    assert all(r.usage["completion_tokens"] > 0 for r in records)
    assert read_manifest(out)["last_run"]["requests"] == 2 + 2  # no n: one call per rationale, one per answer
