"""Rows, rendering, the completion-only loss mask and collation."""

import json

import pytest

from ftcot.errors import DataError
from ftcot.prompts import ft_cot_example, vanilla_example
from ftcot.train.data import (
    IGNORE_INDEX,
    Collator,
    encode_decoder,
    encode_encoder_decoder,
    load_rows,
    select_rows,
)
from ftcot.train.format_check import check_format, problems, split_tokens

from .conftest import make_row, write_jsonl


def test_decoder_mask_covers_exactly_the_prompt(tokenizer):
    example = ft_cot_example("Tom has 2 apples and gets 3 more. How many?", "2 + 3 = 5.", "5")
    enc = encode_decoder(tokenizer, example, max_length=512)
    prompt_ids = tokenizer(example.prompt)["input_ids"]
    assert enc.labels[: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    trained = enc.labels[len(prompt_ids) :]
    assert IGNORE_INDEX not in trained
    assert trained == enc.input_ids[len(prompt_ids) :]
    assert trained[-1] == tokenizer.eos_token_id  # the student learns to stop
    assert tokenizer.decode(trained[:-1]) == example.completion  # " 2 + 3 = 5. --> 5"
    assert not enc.truncated


def test_decoder_truncation_keeps_the_prompt_and_cuts_the_completion(tokenizer):
    example = ft_cot_example("A question?", "word " * 100, "7")
    enc = encode_decoder(tokenizer, example, max_length=20)
    assert len(enc.input_ids) == len(enc.labels) == 20
    assert enc.truncated
    n_prompt = len(tokenizer(example.prompt)["input_ids"])
    assert enc.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt


def test_encoder_decoder_labels_are_the_target_plus_eos(tokenizer):
    example = ft_cot_example("How many?", "2 + 3 = 5.", "5", encoder_decoder=True)
    enc = encode_encoder_decoder(tokenizer, example, max_length=512)
    assert tokenizer.decode(enc.input_ids) == "How many?"
    assert enc.labels[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(enc.labels[:-1]) == "2 + 3 = 5. --> 5"


def test_collator_pads_to_the_batch_longest_and_masks_padding():
    collate = Collator(pad_token_id=0)
    batch = collate(
        [
            {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
            {"input_ids": [5, 6], "labels": [-100, 6]},
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 6, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [-100, 6, -100]]


def test_collator_pads_step_by_step_pairs_separately():
    batch = Collator(pad_token_id=0)(
        [
            {
                "input_ids": [1],
                "labels": [1],
                "rationale_input_ids": [2, 3, 4],
                "rationale_labels": [-100, 3, 4],
            },
            {"input_ids": [1, 2], "labels": [1, 2], "rationale_input_ids": [2], "rationale_labels": [2]},
        ]
    )
    assert batch["input_ids"].shape == (2, 2)
    assert batch["rationale_input_ids"].shape == (2, 3)
    assert batch["rationale_labels"].tolist() == [[-100, 3, 4], [2, -100, -100]]


def test_select_rows_vanilla_takes_every_question_once(data_dir):
    rows = load_rows(data_dir / "train.jsonl")
    rows.append({**rows[0], "sample_index": 1, "rationale": "another rationale"})
    ft_cot = select_rows(rows, "ft_cot")
    vanilla = select_rows(rows, "vanilla")
    assert len(ft_cot) == 7  # 6 rationales + the duplicate question's second one; the null row is skipped
    assert len(vanilla) == 7  # 7 distinct questions, the null-rationale one included
    assert len({(r["task"], r["sample_id"]) for r in vanilla}) == 7


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"task": "t", "sample_id": 0, "answer": "5", "answer_type": "number"}, "question", "missing"),
        (
            {"task": "t", "sample_id": 0, "question": "q", "answer": "five", "answer_type": "number"},
            "answer",
            "not a number",
        ),
        (
            {"task": "t", "sample_id": 0, "question": "q", "answer": "F", "answer_type": "choice:ABCDE"},
            "answer",
            "letters",
        ),
        (
            {"task": "t", "sample_id": 0, "question": "q", "answer": "maybe", "answer_type": "yesno"},
            "answer",
            "yes/no",
        ),
        (
            {"task": "t", "sample_id": 0, "question": "q", "answer": "5", "answer_type": "decimal"},
            "answer_type",
            "unknown",
        ),
        (
            {"task": "t", "sample_id": "0", "question": "q", "answer": "5", "answer_type": "number"},
            "sample_id",
            "int",
        ),
        (
            {"task": "t", "sample_id": 0, "question": "q", "answer": 5, "answer_type": "number"},
            "answer",
            "str",
        ),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, field, message):
    good = make_row(0, "What is 2 + 2?", "2 + 2 = 4.", "4")
    path = write_jsonl(tmp_path / "train.jsonl", [good, row])
    with pytest.raises(DataError) as err:
        load_rows(path)
    assert (err.value.path, err.value.line, err.value.field) == (path, 2, field)
    assert message in str(err.value) and str(path) in str(err.value) and "line 2" in str(err.value)


def test_empty_and_malformed_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="empty"):
        load_rows(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(make_row(0, "q", None, "1")) + "\n{not json\n")
    with pytest.raises(DataError, match="line 2"):
        load_rows(bad)
    with pytest.raises(DataError, match="not found"):
        load_rows(tmp_path / "missing.jsonl")


def test_format_check_passes_real_rendering_and_prints_it(tokenizer, data_dir, capsys):
    from rich.console import Console

    rows = select_rows(load_rows(data_dir / "train.jsonl"), "ft_cot")
    console = Console(file=None, force_terminal=False, width=100)
    for encoder_decoder in (False, True):
        check_format(
            tokenizer, rows, method="ft_cot", encoder_decoder=encoder_decoder, max_length=512, console=console
        )
    printed = capsys.readouterr().out
    assert "Tom has 2 + 3 = 5 apples. --> 5" in printed


def test_format_check_catches_a_leaking_or_missing_completion(tokenizer):
    row = make_row(0, "How many apples?", "2 + 3 = 5 apples.", "5")
    good = ft_cot_example(row["question"], row["rationale"], row["answer"])
    enc = encode_decoder(tokenizer, good, 512)
    masked, trained = split_tokens(tokenizer, enc, encoder_decoder=False)
    assert problems(row, masked, trained, "ft_cot", truncated=False) == []
    # A renderer that put the completion into the masked prompt would train on nothing useful.
    leaked = vanilla_example(row["question"] + " " + row["rationale"], "5")
    enc = encode_decoder(tokenizer, leaked, 512)
    masked, trained = split_tokens(tokenizer, enc, encoder_decoder=False)
    found = problems(row, masked, trained, "ft_cot", truncated=False)
    assert "the rationale is not in the trained tokens" in found
    assert "the rationale leaks into the prompt tokens" in found
    with pytest.raises(DataError, match="misaligned"):
        enc.labels[-1] = 12345
        split_tokens(tokenizer, enc, encoder_decoder=False)


def test_length_grouped_batches_pad_less_and_cover_every_row_once():
    import random

    import torch

    from ftcot.train.trainer import LengthGroupedSampler

    lengths = [random.Random(i).randint(20, 200) for i in range(100)]
    torch.manual_seed(0)
    order = list(LengthGroupedSampler(lengths, batch_size=8))
    assert sorted(order) == list(range(100))
    batches = [order[i : i + 8] for i in range(0, 100, 8)]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    torch.manual_seed(0)
    shuffled = torch.randperm(100).tolist()
    padded_shuffled = sum(
        max(lengths[i] for i in shuffled[i : i + 8]) * len(shuffled[i : i + 8]) for i in range(0, 100, 8)
    )
    assert sum(lengths) / padded > 0.95 > sum(lengths) / padded_shuffled
    torch.manual_seed(1)
    assert list(LengthGroupedSampler(lengths, batch_size=8)) != order  # a new order each epoch
