"""Prompt and training templates as data. Every stage renders text through these functions.

Methods (the `method` field of completion records):
  zero_shot    `Q: {question}\\n\\nA:` (T5: `question: {question}`)
  zs_cot       step 1 `Q: {question}\\nA: Let's think step by step.`, step 2 adds the rationale and a trigger
  fs_cot       the paper's exemplars, then `\\nQ: {question}\\nA:`
  ft_cot       Fine-tune-CoT student: `{question} ###` -> ` {rationale} --> {answer}`
  vanilla      vanilla fine-tuned student: `{question} ###` -> ` {answer}`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

COT_TRIGGER = "Let's think step by step."
GENERIC_ANSWER_TRIGGER = "\nTherefore, the answer is"
FT_PROMPT_SUFFIX = " ###"
FT_ANSWER_SEPARATOR = " --> "
END_PHRASE = " END"  # stop phrase appended for API fine-tuning, where no EOS token is trained

METHODS = ("zero_shot", "zs_cot", "fs_cot", "ft_cot", "vanilla")


# --- teacher and prompt baselines -------------------------------------------------------------


def zero_shot(question: str, encoder_decoder: bool = False) -> str:
    return f"question: {question}" if encoder_decoder else f"Q: {question}\n\nA:"


def zs_cot_step1(question: str) -> str:
    return f"Q: {question}\nA: {COT_TRIGGER}"


def zs_cot_step2(question: str, rationale: str, trigger: str) -> str:
    """Kojima's step 2: step-1 prompt + the raw rationale as generated + ' ' + answer trigger."""
    return f"{zs_cot_step1(question)}{rationale} {trigger}"


@cache
def few_shot_exemplars(task_key: str) -> str:
    """The paper's Few-shot-CoT exemplar block for a task (data/few_shot_cot_prompts.json)."""
    from ftcot.sources import fetch

    prompts = json.loads(fetch("itsnamgyu/reasoning-teacher/data/few_shot_cot_prompts.json").read_text())
    if task_key not in prompts:
        raise KeyError(f"no Few-shot-CoT exemplars for {task_key!r}; available: {', '.join(prompts)}")
    return prompts[task_key]["prompt"]


def fs_cot(question: str, exemplars: str) -> str:
    return f"{exemplars}\nQ: {question}\nA:"


def first_prompt(
    method: str,
    question: str,
    *,
    fs_cot_key: str | None = None,
    encoder_decoder: bool = False,
    style: str = "default",
) -> str:
    """The prompt a method opens with (for zs_cot, step 1): what teachers and students are asked."""
    if method == "zero_shot":
        return zero_shot(question, encoder_decoder)
    if method == "zs_cot":
        return zs_cot_step1(question)
    if method == "fs_cot":
        if not fs_cot_key:
            raise ValueError("this task has no Few-shot-CoT exemplars; use zero_shot or zs_cot")
        return fs_cot(question, few_shot_exemplars(fs_cot_key))
    return student_prompt(question, encoder_decoder=encoder_decoder, style=style)


def default_stop(method: str, *, local: bool = False) -> tuple[str, ...]:
    """Where a method's replies stop unless told otherwise. A one-step prompt ends in "A:", and the
    model would go on to invent the next "Q:". A fine-tuned student ends its turn, or its trained
    ` END` on a completions endpoint. Kojima's Zero-shot-CoT steps stop at nothing, as the paper
    asked its teacher (the teacher engine: `ftcot teach`, and `ftcot eval` of a served model);
    `local`: a model evaluated with transformers stops them at "Q:" too, or it runs on."""
    if method in ("ft_cot", "vanilla"):
        return (END_PHRASE.strip(),)
    if method == "zs_cot" and not local:
        return ()
    return ("\nQ:",)


# --- student training formats ---------------------------------------------------------------


@dataclass(frozen=True)
class TrainingExample:
    prompt: str  # model input (decoder: the prefix whose tokens are masked from the loss)
    completion: str  # trained tokens (decoder: appended after the prompt; enc-dec: the target)


def clean_rationale(rationale: str) -> str:
    """Rationales are trained stripped and on one paragraph-preserving line set (the paper strips them)."""
    return rationale.strip()


def ft_cot_example(
    question: str, rationale: str, answer: str, *, encoder_decoder: bool = False, style: str = "default"
) -> TrainingExample:
    """Fine-tune-CoT sample. style='gpt3' is the paper's GPT-3 API variant (blank-line separators)."""
    rationale = clean_rationale(rationale)
    if encoder_decoder:
        return TrainingExample(question, f"{rationale}{FT_ANSWER_SEPARATOR}{answer}")
    if style == "gpt3":
        return TrainingExample(f"{question}\n\n###\n\n", f" {rationale}\n\n-->\n\n{answer}{END_PHRASE}")
    return TrainingExample(f"{question}{FT_PROMPT_SUFFIX}", f" {rationale}{FT_ANSWER_SEPARATOR}{answer}")


def vanilla_example(
    question: str, answer: str, *, encoder_decoder: bool = False, style: str = "default"
) -> TrainingExample:
    if encoder_decoder:
        return TrainingExample(question, answer)
    if style == "gpt3":
        return TrainingExample(f"{question}\n\n###\n\n", f" {answer}{END_PHRASE}")
    return TrainingExample(f"{question}{FT_PROMPT_SUFFIX}", f" {answer}")


def student_prompt(question: str, *, encoder_decoder: bool = False, style: str = "default") -> str:
    """What a fine-tuned student (ft_cot or vanilla) is given at evaluation time."""
    return ft_cot_example(question, "", "", encoder_decoder=encoder_decoder, style=style).prompt
