"""Calculator-assisted decoding on a tiny Llama whose every next token is known in advance.

The model is a bigram table built into real Llama weights (SmolLM2's real tokenizer): attention
and MLP outputs are zeroed, so the hidden state is the last token's embedding; embeddings are
one-hot slots, and the output layer maps each slot to its successor (any other token is followed
by EOS). So each test states exactly what the student writes, where the calculator steps in,
which tokens it forces and what the student would have written instead.
"""

import pytest
import torch
from transformers import LlamaForCausalLM, LogitsProcessorList

from ftcot.generation import CalculatorProcessor, eos_token_ids, generate
from tests.tiny_models import left_padded_smollm2_tokenizer, tiny_llama_config

HIDDEN = 64
OTHER = HIDDEN - 1  # the slot every token outside the table shares: followed by EOS

# Each prompt ends with its row's word; the student then follows the chain (shared tokens have one successor).
CHAINS = [
    [" Alpha", "6", "*", "7", "=", "4", "1", " pens"],  # 6*7=41: a slip
    [" Beta", "9", "-", "3", "="],  # 9-3= then '=' -> '4', '1', ' pens' again
    [" Gamma", " no", " sums"],  # no equation
    [" Delta", "8", "+", "5", "="],
    ["2", "0"],  # after a forced '42' the student would go on to '420': the calculator must not let it
    ["0", " pens"],
    ["6", "*"],
]
PROMPTS = [
    "Q: pens? Alpha",
    "Q: what is left? Beta",
    "Q: words? Gamma",
    "Q: a longer question, with more words? Delta",
]
EOS = "<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer():
    return left_padded_smollm2_tokenizer()


def token_id(tokenizer, text: str) -> int:
    [i] = tokenizer.encode(text, add_special_tokens=False)
    return i


def bigram_llama(tokenizer, chains: list[list[str]]) -> LlamaForCausalLM:
    successors: dict[int, int] = {}
    for chain in chains:
        ids = [token_id(tokenizer, t) for t in chain]
        for a, b in zip(ids, ids[1:], strict=False):
            assert successors.setdefault(a, b) == b, f"{chain}: a token with two successors"
    assert len(successors) < OTHER
    config = tiny_llama_config(tokenizer, hidden_size=HIDDEN, max_positions=256)
    config.tie_word_embeddings = False
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed.zero_()
        embed[:, OTHER] = 1.0
        head.zero_()
        head[tokenizer.eos_token_id, OTHER] = 10.0
        for slot, (a, b) in enumerate(successors.items()):
            embed[a] = 0.0
            embed[a, slot] = 1.0
            head[b, slot] = 10.0
    return model.eval()


@pytest.fixture(scope="module")
def model(tokenizer):
    return bigram_llama(tokenizer, CHAINS)


def texts(generations):
    return [g.text for g in generations]


def test_without_the_calculator_the_student_writes_its_chain(model, tokenizer):
    plain = generate(model, tokenizer, PROMPTS, max_new_tokens=24)
    assert texts(plain) == ["6*7=41 pens", "9-3=41 pens", " no sums", "8+5=41 pens"]
    assert all(g.calculator == () and g.finish_reason == "stop" for g in plain)


def test_the_calculator_forces_results_and_records_each_intervention(model, tokenizer):
    out = generate(model, tokenizer, PROMPTS, max_new_tokens=24, calculator=True)
    assert texts(out) == [
        "6*7= 42",  # the student's '0' after the forced '42' is banned; then it ends
        "9-3= 6*7= 42",  # the forced '6' leads the chain into a second equation
        " no sums",
        "8+5= 13=41 pens",  # '13=' holds no expression: left alone
    ]
    assert [list(g.calculator) for g in out] == [
        [{"expression": "6*7", "forced": " 42", "student_would_have": f"4{EOS}1", "token": 4}],
        [
            {"expression": "9-3", "forced": " 6", "student_would_have": f"4{EOS}", "token": 4},
            {"expression": "6*7", "forced": " 42", "student_would_have": f"4{EOS}1", "token": 9},
        ],
        [],
        [{"expression": "8+5", "forced": " 13", "student_would_have": f"4{EOS} pens", "token": 4}],
    ]


def test_forced_token_ids_are_the_results_tokenization(model, tokenizer):
    batch = tokenizer([PROMPTS[0]], return_tensors="pt")
    prompt_length = batch["input_ids"].shape[1]
    end_ids = set(eos_token_ids(model, tokenizer)) | {tokenizer.pad_token_id}
    calculator = CalculatorProcessor(tokenizer, prompt_length, rows=1, end_ids=end_ids)
    output = model.generate(
        **batch, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=sorted(end_ids), logits_processor=LogitsProcessorList([calculator]),
    )  # fmt: skip
    new = output[0, prompt_length:].tolist()
    forced = tokenizer.encode(" 42", add_special_tokens=False)
    assert [tokenizer.decode([i]) for i in forced] == [" ", "4", "2"]
    assert new[:4] == [token_id(tokenizer, t) for t in ("6", "*", "7", "=")]
    assert new[4:7] == forced
    assert new[7] != token_id(tokenizer, "0")  # the number is not extended
    assert calculator.interventions[0][0].student_ids == [
        token_id(tokenizer, "4"), tokenizer.eos_token_id, token_id(tokenizer, "1"),
    ]  # fmt: skip


def test_batched_equals_one_prompt_at_a_time(model, tokenizer):
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=24, batch_size=4, calculator=True)
    single = generate(model, tokenizer, PROMPTS, max_new_tokens=24, batch_size=1, calculator=True)
    assert texts(batched) == texts(single)
    assert [g.calculator for g in batched] == [g.calculator for g in single]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in single]


def test_sampling_and_several_samples_keep_each_rows_state(model, tokenizer):
    # Rows whose every step has one clear successor (after the guard's ban in rows 0 and 1, the
    # bigram model has no preference left, and sampling would pick any token).
    prompts = PROMPTS[2:]
    greedy = generate(model, tokenizer, prompts, max_new_tokens=24, calculator=True)
    sampled = generate(
        model, tokenizer, prompts, max_new_tokens=24, calculator=True, temperature=1.0, top_p=0.9, n=2, seed=0
    )
    assert texts(sampled) == [t for t in texts(greedy) for _ in range(2)]
    assert [g.calculator for g in sampled] == [g.calculator for g in greedy for _ in range(2)]


def test_an_intervention_cut_off_by_the_token_budget_is_not_recorded(model, tokenizer):
    [g] = generate(model, tokenizer, PROMPTS[:1], max_new_tokens=6, calculator=True)
    assert g.text == "6*7= 4" and g.finish_reason == "length"
    assert g.calculator == ()


# --- the evaluation path --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student(tmp_path_factory, tokenizer):
    """A student folder whose Fine-tune-CoT output is '3*2=5 -->7END' (a slip, then an answer)."""
    chains = [[" ###", "3", "*", "2", "=", "5", " -->", "7", "END"], ["6", " -->"]]
    folder = tmp_path_factory.mktemp("calculator-student")
    bigram_llama(tokenizer, chains).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_eval_records_the_calculators_interventions(mirror, student, tmp_path):
    from ftcot.errors import ConfigError
    from ftcot.evaluate import EvalConfig, evaluate
    from ftcot.records import read_manifest, read_records

    def config(**kw):
        return EvalConfig(model=str(student), task="multiarith", out=tmp_path / "run", method="ft_cot",
                          limit=2, max_new_tokens=16, **kw)  # fmt: skip

    records = read_records(evaluate(config(calculator=True)))
    assert [r.answer_text for r in records] == ["3*2= 6 -->7"] * 2
    assert [r.rationale for r in records] == ["3*2= 6"] * 2
    assert records[0].meta["calculator"] == [
        {"expression": "3*2", "forced": " 6", "student_would_have": f"5{EOS}", "token": 4}
    ]
    assert read_manifest(tmp_path / "run")["calculator"] is True
    with pytest.raises(ConfigError, match="calculator"):
        evaluate(config(calculator=False))  # a run folder holds one kind of decoding


def test_calculator_needs_a_local_model():
    from pydantic import ValidationError

    from ftcot.evaluate import EvalConfig

    with pytest.raises(ValidationError, match="local model"):
        EvalConfig(model="openai:gpt-4o-mini", task="multiarith", out="x", calculator=True)
