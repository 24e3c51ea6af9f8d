"""Distilling step-by-step (Hsieh et al. 2023): train the answer and the rationale as two tasks.

Each row becomes two sequences that share a question: `[label] question` -> answer and
`[rationale] question` -> rationale. The loss is answer loss + alpha * rationale loss,
each the mean over its own completion tokens. At inference the student is asked for the
label only, so it answers without spending tokens on a rationale; the rationale task
shapes its representations during training. Both sequences of a row are in the same
batch, as in the authors' code (two forward passes per step).
"""

from __future__ import annotations

import torch

from ftcot.prompts import clean_rationale, vanilla_example
from ftcot.train.data import TokenizedDataset, encode

# Task prefixes of Hsieh et al.'s code (`[label]`, `[rationale]`): the answer task is the vanilla
# format with a prefix, so the student is scored like a vanilla student (no answer prefix).
LABEL_PREFIX = "[label] "
RATIONALE_PREFIX = "[rationale] "
RATIONALE_KEY = "rationale_"  # feature/batch keys of the rationale sequence: rationale_input_ids, ...


def label_prompt_question(question: str) -> str:
    return LABEL_PREFIX + question


def build_dataset(tokenizer, rows: list[dict], encoder_decoder: bool, max_length: int):
    """(dataset of paired features, rows whose answer or rationale was truncated)."""
    features, truncated = [], 0
    for row in rows:
        answer = encode(tokenizer, answer_example(row, encoder_decoder), max_length, encoder_decoder)
        rationale = encode(tokenizer, rationale_example(row, encoder_decoder), max_length, encoder_decoder)
        truncated += answer.truncated or rationale.truncated
        features.append(
            {
                "input_ids": answer.input_ids,
                "labels": answer.labels,
                RATIONALE_KEY + "input_ids": rationale.input_ids,
                RATIONALE_KEY + "labels": rationale.labels,
            }
        )
    return TokenizedDataset(features), truncated


def answer_example(row: dict, encoder_decoder: bool):
    return vanilla_example(
        label_prompt_question(row["question"]), row["answer"], encoder_decoder=encoder_decoder
    )


def rationale_example(row: dict, encoder_decoder: bool):
    question = RATIONALE_PREFIX + row["question"]
    return vanilla_example(question, clean_rationale(row["rationale"]), encoder_decoder=encoder_decoder)


def step_by_step_loss(model, inputs: dict[str, torch.Tensor], alpha: float) -> tuple[torch.Tensor, object]:
    """answer loss + alpha * rationale loss; the model's own loss (mean over completion tokens) for each."""
    answer_inputs = {k: v for k, v in inputs.items() if not k.startswith(RATIONALE_KEY)}
    rationale_inputs = {k[len(RATIONALE_KEY) :]: v for k, v in inputs.items() if k.startswith(RATIONALE_KEY)}
    answer_out = model(**answer_inputs)
    rationale_out = model(**rationale_inputs)
    return answer_out.loss + alpha * rationale_out.loss, answer_out
