"""Batched generation on a tiny randomly initialised Llama (SmolLM2's tokenizer): fast, no real weights."""

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM, T5ForConditionalGeneration

from ftcot.generation import Generation, cut_at_stop, generate
from tests.tiny_models import left_padded_smollm2_tokenizer, tiny_llama_config, tiny_t5_config

PROMPTS = [
    "Q: A farmer has 3 cows and buys 4 more. How many cows?\nA:",
    "Q: 2 + 2 =",
    "Q: Tom had 12 apples. He gave away 5 and then found 9 more under the old tree. How many now?\nA:",
    "Hello",
    "Q: What is 7 times 6?\nA: Let's think step by step.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return left_padded_smollm2_tokenizer()


@pytest.fixture(scope="module")
def tiny_llama(tokenizer):
    torch.manual_seed(0)
    config = tiny_llama_config(tokenizer, hidden_size=64, max_positions=256)
    # A random model's logits are nearly flat; scaling the output layer makes argmax ties (which
    # padding-sized float differences could flip) practically impossible.
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(50)
    return model.eval()


def test_batched_greedy_equals_one_at_a_time(tiny_llama, tokenizer):
    batched = generate(tiny_llama, tokenizer, PROMPTS, max_new_tokens=12, batch_size=5)
    single = generate(tiny_llama, tokenizer, PROMPTS, max_new_tokens=12, batch_size=1)
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.completion_tokens for g in batched] == [g.completion_tokens for g in single]
    assert all(g.text for g in batched)  # a random model still says something


def test_results_come_back_in_prompt_order(tiny_llama, tokenizer):
    alone = [generate(tiny_llama, tokenizer, [p], max_new_tokens=6)[0].text for p in PROMPTS]
    together = [g.text for g in generate(tiny_llama, tokenizer, PROMPTS, max_new_tokens=6, batch_size=2)]
    assert together == alone


def test_length_finish_and_usage(tiny_llama, tokenizer):
    [g] = generate(tiny_llama, tokenizer, [PROMPTS[0]], max_new_tokens=7)
    assert g.finish_reason == "length"
    assert g.completion_tokens == 7
    assert g.prompt_tokens == len(tokenizer(PROMPTS[0])["input_ids"])


def test_stop_string_cuts_text_and_finishes(tiny_llama, tokenizer):
    # Stop at a piece of what the model says anyway: the text must end just before it.
    [free] = generate(tiny_llama, tokenizer, [PROMPTS[2]], max_new_tokens=16)
    stop = free.text[5:8]
    assert len(stop) == 3
    [g] = generate(tiny_llama, tokenizer, [PROMPTS[2]], max_new_tokens=16, stop=[stop])
    assert g.finish_reason == "stop"
    assert g.text == free.text[: free.text.find(stop)]
    assert g.completion_tokens < 16


def test_stop_string_in_one_row_does_not_stop_the_others(tiny_llama, tokenizer):
    free = generate(tiny_llama, tokenizer, PROMPTS, max_new_tokens=10, batch_size=5)
    stop = free[2].text[3:7]
    stopped = generate(tiny_llama, tokenizer, PROMPTS, max_new_tokens=10, batch_size=5, stop=[stop])
    for before, after in zip(free, stopped, strict=True):
        expected, found = cut_at_stop(before.text, [stop])
        assert after.text == expected
        assert after.finish_reason == ("stop" if found else "length")


def test_eos_finishes_with_stop(tiny_llama, tokenizer):
    # Declare the model's own third greedy token an EOS token: generation must end right there.
    free = generate(tiny_llama, tokenizer, [PROMPTS[0]], max_new_tokens=8)[0]
    ids = tokenizer(PROMPTS[0], return_tensors="pt")
    third = tiny_llama.generate(**ids, max_new_tokens=3, do_sample=False)[0, -1].item()
    saved = tiny_llama.generation_config.eos_token_id
    tiny_llama.generation_config.eos_token_id = [tokenizer.eos_token_id, third]
    try:
        [g] = generate(tiny_llama, tokenizer, [PROMPTS[0]], max_new_tokens=8)
    finally:
        tiny_llama.generation_config.eos_token_id = saved
    assert g.finish_reason == "stop"
    assert g.completion_tokens <= 3  # the EOS counts as a generated token
    assert free.text.startswith(g.text) and len(g.text) < len(free.text)


def test_checkpoint_decoding_defaults_do_not_leak(tiny_llama, tokenizer):
    # A checkpoint may ship sampling and a repetition penalty; greedy evaluation must ignore them.
    plain = generate(tiny_llama, tokenizer, PROMPTS[:2], max_new_tokens=10)
    config = tiny_llama.generation_config
    saved = (config.repetition_penalty, config.do_sample, config.no_repeat_ngram_size)
    config.repetition_penalty, config.do_sample, config.no_repeat_ngram_size = 50.0, True, 1
    try:
        again = generate(tiny_llama, tokenizer, PROMPTS[:2], max_new_tokens=10)
    finally:
        config.repetition_penalty, config.do_sample, config.no_repeat_ngram_size = saved
    assert [g.text for g in again] == [g.text for g in plain]


def test_sampling_gives_n_outputs_and_is_seeded(tiny_llama, tokenizer):
    a = generate(tiny_llama, tokenizer, PROMPTS[:2], max_new_tokens=8, temperature=1.0, n=3, seed=1)
    b = generate(tiny_llama, tokenizer, PROMPTS[:2], max_new_tokens=8, temperature=1.0, n=3, seed=1)
    assert len(a) == 6 and all(isinstance(g, Generation) for g in a)
    assert [g.text for g in a] == [g.text for g in b]
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_llama, tokenizer, PROMPTS[:1], max_new_tokens=4, n=2)


def test_encoder_decoder(tokenizer):
    torch.manual_seed(0)
    config = tiny_t5_config(tokenizer, layers=1, heads=2)
    model = T5ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(50)
    tokenizer_right = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer_right.pad_token = tokenizer.pad_token
    batched = generate(model, tokenizer_right, PROMPTS, max_new_tokens=6, batch_size=5)
    single = generate(model, tokenizer_right, PROMPTS, max_new_tokens=6, batch_size=1)
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.completion_tokens <= 6 for g in batched)


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("a b END c\nQ: d", ["\nQ:", "END"]) == ("a b ", True)
    assert cut_at_stop("no stop here", ["END"]) == ("no stop here", False)
