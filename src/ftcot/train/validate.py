"""Validation: the loss of the val completions, and the accuracy of greedy answers to the val questions.

Val loss is teacher-forced: the mean cross-entropy over the completion tokens (the tokens the
student is trained on) of every val row, with no generation, so the whole split costs about
one training epoch's forward passes over it. Val accuracy generates greedy answers and scores
them with the shared answer checker, the metric the paper reports, but on a few questions it
is noisy (16 questions: one answer is 6 points). `TrainConfig.select_by` says which one picks
the epoch. Under several processes each one takes a strided shard and the sums are added.
"""

from __future__ import annotations

import torch

from ftcot.answers import PREFIXES, AnswerFormat, check
from ftcot.generation import generate
from ftcot.train.data import IGNORE_INDEX, prompt_text
from ftcot.train.step_by_step import RATIONALE_KEY, label_prompt_question


@torch.no_grad()
def loss_sums(model, batch: dict[str, torch.Tensor], keep: torch.Tensor) -> dict[str, torch.Tensor]:
    """{sequence prefix: [summed token cross-entropy, tokens]} over the completion tokens of the rows
    `keep` marks ('' and, for step-by-step batches, 'rationale_')."""
    encoder_decoder = model.config.is_encoder_decoder
    sums = {}
    for prefix in ("", RATIONALE_KEY):
        if prefix + "input_ids" not in batch:
            continue
        labels = batch[prefix + "labels"].masked_fill(~keep[:, None], IGNORE_INDEX)
        inputs = {
            "input_ids": batch[prefix + "input_ids"],
            "attention_mask": batch[prefix + "attention_mask"],
        }
        if encoder_decoder:  # T5 builds its decoder inputs from the labels
            logits = model(**inputs, labels=batch[prefix + "labels"]).logits
        else:  # position t predicts token t + 1
            logits, labels = model(**inputs).logits[:, :-1], labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        tokens = (labels != IGNORE_INDEX).sum()
        sums[prefix] = torch.stack([loss, tokens.to(loss.dtype)])
    return sums


def mean_loss(sums: dict[str, torch.Tensor], sbs_alpha: float | None) -> float | None:
    """The mean token loss; for step-by-step the training objective, answer + alpha * rationale loss."""
    if any(tokens == 0 for _, tokens in sums.values()):
        return None
    means = {prefix: (total / tokens).item() for prefix, (total, tokens) in sums.items()}
    if sbs_alpha is None:
        return means[""]
    return means[""] + sbs_alpha * means[RATIONALE_KEY]


def val_prompts(rows: list[dict], encoder_decoder: bool, step_by_step: bool) -> list[str]:
    if step_by_step:  # the student is asked for the label task only
        rows = [{**r, "question": label_prompt_question(r["question"])} for r in rows]
    return [prompt_text(r, encoder_decoder) for r in rows]


def answer_prefix(method: str, step_by_step: bool) -> str | None:
    return PREFIXES["vanilla" if step_by_step else method]


def score_rows(
    model,
    tokenizer,
    rows: list[dict],
    *,
    method: str,
    step_by_step: bool,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[int, list[dict]]:
    """(number correct, one dict per row with the generation and verdict) for `rows` on this process."""
    if not rows:
        return 0, []
    encoder_decoder = model.config.is_encoder_decoder
    side = tokenizer.padding_side
    tokenizer.padding_side = "right" if encoder_decoder else "left"
    was_training = model.training
    model.eval()
    try:
        outputs = generate(
            model,
            tokenizer,
            val_prompts(rows, encoder_decoder, step_by_step),
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    prefix = answer_prefix(method, step_by_step)
    results, correct = [], 0
    for row, out in zip(rows, outputs, strict=True):
        verdict = check(
            out.text, row["answer"], AnswerFormat.parse(row["answer_type"]), prefix, out.finish_reason
        )
        correct += verdict.correct
        results.append(
            {
                "sample_id": row["sample_id"],
                "text": out.text,
                "prediction": verdict.prediction,
                "correct": verdict.correct,
            }
        )
    return correct, results
