"""Tiny randomly initialised models for fast tests: real architectures and SmolLM2's real tokenizer."""

import pytest
from transformers import AutoTokenizer, LlamaConfig, T5Config


def left_padded_smollm2_tokenizer():
    """SmolLM2's real tokenizer, padding on the left as decoders generate; skips when it is not installed."""
    from ftcot.models import local_checkpoint

    try:
        checkpoint = local_checkpoint("smollm2")
    except Exception as e:  # the bundled model's package is missing
        pytest.skip(f"needs the bundled SmolLM2 tokenizer: {e}")
    tok = AutoTokenizer.from_pretrained(checkpoint)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tiny_llama_config(
    tokenizer, hidden_size: int = 32, layers: int = 2, max_positions: int = 512
) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def tiny_t5_config(tokenizer, d_model: int = 32, layers: int = 2, heads: int = 4) -> T5Config:
    return T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=8,
        d_ff=2 * d_model,
        num_layers=layers,
        num_heads=heads,
        dropout_rate=0.0,
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
