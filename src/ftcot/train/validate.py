"""Validation accuracy: greedy answers to the val questions, scored with the shared answer checker.

Model selection uses accuracy, the metric the paper reports, rather than loss. Under
several processes each one answers a strided shard and the counts are summed.
"""

from __future__ import annotations

from ftcot.answers import PREFIXES, AnswerFormat, check
from ftcot.generation import generate
from ftcot.train.data import prompt_text
from ftcot.train.step_by_step import label_prompt_question


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
