"""One request plan: what a teacher is asked for a sample, and the record its replies make.

Zero-shot-CoT (Kojima et al.) asks twice. Step 1: `Q: {question}\\nA: Let's think step by step.`
at temperature T, at most `max_tokens`. Step 2: the step-1 prompt, the rationale as generated,
a space and the task's answer trigger, greedy, at most `answer_max_tokens`. The one-step prompt
baselines (zero_shot, fs_cot) ask once and stop at the next `\\nQ:`. A fine-tuned API student
(ft_cot, vanilla) is asked once in its training format, `{question} ###`, and answers
`{rationale} --> {answer}` (vanilla: the answer), stopping at its trained ` END`.

The live run, the dry-run estimate, the Batch API and served evaluation all build their
requests here, so they ask for (and look up in the cache) exactly the same prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftcot.answers import PREFIXES
from ftcot.prompts import GENERIC_ANSWER_TRIGGER, first_prompt, zs_cot_step2
from ftcot.records import Completion
from ftcot.tasks import Sample, Task
from ftcot.teach.backends.base import Backend, Generation, SamplingParams
from ftcot.teach.cache import cache_key
from ftcot.teach.config import TeachConfig


def answer_trigger(task: Task, generic: bool) -> str:
    return GENERIC_ANSWER_TRIGGER if generic else task.spec.trigger


@dataclass(frozen=True)
class Request:
    """One prompt with its sampling parameters; sample index d of it is one generation."""

    prompt: str
    params: SamplingParams

    def cache_key(self, backend: str, cache_model: str, index: int) -> str:
        return cache_key(backend, cache_model, self.prompt, self.params, index)


def as_completion(text: str, chat: bool) -> str:
    """A rationale as a completions endpoint would have written it: step 2 continues the step-1
    prompt, and a completion after "step by step." starts with a space; a chat reply starts bare."""
    if chat and text[:1] not in ("", " ", "\n"):
        return " " + text
    return text


@dataclass(frozen=True)
class RequestPlan:
    task: Task
    method: str  # zs_cot | zero_shot | fs_cot | ft_cot | vanilla
    split: str
    chat: bool  # replies come from a chat endpoint (or chat template): they start bare
    trigger: str  # step 2's answer trigger
    step1: SamplingParams  # the rationale (or a one-step method's only request)
    step2: SamplingParams  # the answer, greedy

    @classmethod
    def for_teach(cls, config: TeachConfig, task: Task) -> RequestPlan:
        stop = config.stop_strings
        return cls(
            task=task,
            method=config.method,
            split=config.split,
            chat=config.chat,
            trigger=answer_trigger(task, config.generic_trigger),
            step1=SamplingParams(config.sampling_temperature, config.top_p, config.max_tokens, stop),
            step2=SamplingParams(0.0, 1.0, config.answer_max_tokens, stop),
        )

    @property
    def one_step(self) -> bool:
        return self.method != "zs_cot"

    def first(self, sample: Sample) -> Request:
        """Step 1; for a one-step method, the only request."""
        prompt = first_prompt(self.method, sample.question, fs_cot_key=self.task.spec.fs_cot)
        return Request(prompt, self.step1)

    def second(self, sample: Sample, rationale: Generation) -> Request | None:
        """Step 2 for one rationale; None when there is nothing to ask: a one-step reply is the
        answer already, and a rationale the content filter refused has nothing to answer from."""
        if self.one_step or rationale.finish_reason == "content_filter":
            return None
        prompt = zs_cot_step2(sample.question, as_completion(rationale.text, self.chat), self.trigger)
        return Request(prompt, self.step2)

    def record(
        self,
        sample: Sample,
        index: int,
        first: Request,
        rationale: Generation | None,
        second: Request | None,
        answer: Generation,
        backend: Backend,
    ) -> Completion:
        """One sample's scored record. `rationale` is None for one-step methods (their reply is
        `answer`); `second` is None when no answer was asked (the answer is then empty)."""
        steps = [g for g in (rationale, answer) if g is not None]
        return Completion.scored(
            sample, index, split=self.split, method=self.method, steps=steps,
            prompt=first.prompt,
            rationale=rationale.text if rationale is not None else self.few_shot_rationale(answer),
            answer_prompt=second.prompt if second is not None else None,
            answer_text=answer.text,
            finish_reason=answer.finish_reason,
            rationale_finish_reason=rationale.finish_reason if rationale is not None else None,
            model=backend.model,
            params=self.record_params(),
            meta={"backend": backend.name, "chat": backend.chat, "cached": all(g.cached for g in steps)},
        )  # fmt: skip

    def record_params(self) -> dict:
        params = {"temperature": self.step1.temperature, "top_p": self.step1.top_p}
        if self.one_step:
            return {**params, "max_tokens": self.step1.max_tokens, "stop": list(self.step1.stop)}
        params.update(
            max_tokens_rationale=self.step1.max_tokens,
            max_tokens_answer=self.step2.max_tokens,
            trigger=self.trigger,
        )
        if self.step1.stop:  # Kojima's steps stop at nothing; say so only when these did
            params["stop"] = list(self.step1.stop)
        return params

    def few_shot_rationale(self, reply: Generation) -> str | None:
        """A one-step reply's reasoning: the text before its answer prefix ('The answer is' of Few-shot-CoT,
        which curate can train on; '-->' of a Fine-tune-CoT student). None for the other methods."""
        if self.method not in ("fs_cot", "ft_cot"):
            return None
        reasoning, found, _ = reply.text.partition(PREFIXES[self.method])
        return reasoning.strip() if found else None
