"""Tiny randomly initialised students (a Llama decoder and a T5 encoder-decoder) and a small data folder.

The models share SmolLM2's tokenizer (the bundled student's), so tokenization is real while a
training step takes well under a second.
"""

import json
from pathlib import Path

import pytest

from tests.tiny_models import tiny_llama_config, tiny_t5_config

# Questions with one-token answers: a tiny model can memorise them in a few dozen steps.
QUESTIONS = [
    ("Tom has 2 apples and gets 3 more. How many apples?", "Tom has 2 + 3 = 5 apples.", "5"),
    ("A box holds 4 pens. How many pens in 2 boxes?", "Two boxes hold 2 * 4 = 8 pens.", "8"),
    ("Sam had 9 cards and gave away 3. How many are left?", "He has 9 - 3 = 6 cards left.", "6"),
    ("There are 7 birds and 2 fly away. How many stay?", "7 - 2 = 5 birds stay.", "5"),
    ("Ann reads 3 pages a day for 3 days. How many pages?", "3 * 3 = 9 pages.", "9"),
    ("A cat has 4 legs. How many legs do 2 cats have?", "2 * 4 = 8 legs.", "8"),
]


def make_row(i: int, question: str, rationale: str | None, answer: str, **extra) -> dict:
    return {
        "task": "toy",
        "sample_id": i,
        "sample_index": 0,
        "question": question,
        "answer": answer,
        "answer_type": "number",
        "rationale": rationale,
        **extra,
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from ftcot.models import local_checkpoint

    return AutoTokenizer.from_pretrained(local_checkpoint("smollm2"))


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory, tokenizer) -> str:
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_encoder_decoder(tmp_path_factory, tokenizer) -> str:
    import torch
    from transformers import T5ForConditionalGeneration

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(tiny_t5_config(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A curated folder: 6 train questions (one without a rationale), val = 2 of the same questions."""
    rows = [make_row(i, q, r, a) for i, (q, r, a) in enumerate(QUESTIONS)]
    rows.append(make_row(99, "What is 1 plus 1?", None, "2"))
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "val.jsonl", rows[:2])
    return tmp_path
