"""Evaluate a model on a task split: prompt, generate in batches, record, score with the shared checker.

    ftcot eval MODEL --task multiarith --split test --method zs_cot --out runs/eval-smollm2-zscot

Methods (see `ftcot.prompts`): zero_shot, zs_cot (rationale, then the task's answer trigger),
fs_cot (the paper's exemplars), ft_cot and vanilla (fine-tuned students). The run folder
gets one `Completion` record per (question, sample) in `completions.jsonl` (a killed run
resumes where it stopped), `manifest.json` (stage 'eval', settings, model size, metrics) and
`metrics.json`: accuracy with a 95% Wilson interval, contains_answer, correct_format,
complete, error categories of wrong answers, and maj@k under self-consistency.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, Field, model_validator

from ftcot import prompts
from ftcot.answers import PREFIXES, AnswerFormat, check, normalize_gold, same_answer
from ftcot.errors import ConfigError, Incomplete
from ftcot.generation import Generation, generate
from ftcot.records import (
    Completion,
    RecordWriter,
    read_manifest,
    read_records,
    score,
    wilson_interval,
    write_manifest,
)
from ftcot.redact import redact
from ftcot.tasks import Sample, Task, get_task

log = logging.getLogger(__name__)

Method = Literal["zero_shot", "zs_cot", "fs_cot", "ft_cot", "vanilla"]
METRICS_FILE = "metrics.json"

# Generation budgets per method. Kojima's teacher: 128 rationale tokens, 32 answer tokens; the
# paper let students write up to 1024 tokens in all, which is slow on a CPU: raise it with --max-new-tokens.
DEFAULT_MAX_NEW_TOKENS = {"zero_shot": 32, "zs_cot": 128, "fs_cot": 256, "ft_cot": 512, "vanilla": 32}
# Prompted models run on into a new "Q:"; students end with EOS, or " END" in the GPT-3 API format.
DEFAULT_STOP = {
    "zero_shot": ["\nQ:"],
    "zs_cot": ["\nQ:"],
    "fs_cot": ["\nQ:"],
    "ft_cot": ["END"],
    "vanilla": ["END"],
}
SERVED_KINDS = ("openai", "vllm", "llamacpp")
# What must match for an existing run folder to be resumed rather than refused.
RESUME_KEYS = (
    "model",
    "task",
    "split",
    "method",
    "question_prefix",
    "self_consistency",
    "temperature",
    "style",
    "max_new_tokens",
    "stop",
)


class EvalConfig(BaseModel):
    """One evaluation run. The CLI flags of `ftcot eval` are these fields."""

    model: str = Field(description="model spec: bundled name (smollm2), local folder, .gguf or HF id")
    task: str
    out: Path
    split: str = "test"
    method: Method = "zero_shot"
    max_new_tokens: int | None = Field(None, gt=0, description="default per method: DEFAULT_MAX_NEW_TOKENS")
    answer_max_new_tokens: int = Field(32, gt=0, description="zs_cot step 2 (the answer after the trigger)")
    batch_size: int = Field(8, gt=0, description="sequences per forward pass")
    limit: int | None = Field(None, gt=0, description="evaluate only the first N questions of the split")
    stop: list[str] | None = Field(None, description="stop strings; default per method: DEFAULT_STOP")
    self_consistency: int = Field(1, ge=1, description="k samples per question; maj@k is reported")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    style: Literal["default", "gpt3"] = "default"  # student prompt format (ftcot.prompts.ft_cot_example)
    # Text before each question: a step-by-step student's task prefix ('[label] '), from its manifest.
    question_prefix: str = ""
    device: str | None = None
    # Served models (openai:, vllm:, llamacpp: specs) go through the teacher engine: cache, limits, resume.
    base_url: str | None = Field(None, description="OpenAI-compatible server for openai: models")
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(32, ge=1, description="requests in flight for served models")

    @model_validator(mode="after")
    def _check_sampling(self) -> EvalConfig:
        if self.self_consistency > 1 and self.temperature <= 0:
            raise ValueError(
                "--self-consistency k > 1 needs --temperature > 0 (e.g. 0.7, as the paper samples)"
            )
        return self

    @property
    def served(self) -> bool:
        """An API or engine model (`openai:gpt-4o-mini`, `vllm:...`, `llamacpp:...`), not transformers weights."""
        return self.model.partition(":")[0] in SERVED_KINDS and ":" in self.model

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.method]

    @property
    def stop_strings(self) -> list[str]:
        return DEFAULT_STOP[self.method] if self.stop is None else self.stop


# --- prompts and records ----------------------------------------------------------------------------


def build_prompt(config: EvalConfig, task: Task, question: str, encoder_decoder: bool) -> str:
    """The (first-step) prompt a method gives the model."""
    if config.method == "fs_cot" and not task.spec.fs_cot:
        raise ConfigError(f"task {task.name!r} has no Few-shot-CoT exemplars; use zero_shot or zs_cot")
    return prompts.first_prompt(
        config.method,
        config.question_prefix + question,
        fs_cot_key=task.spec.fs_cot,
        encoder_decoder=encoder_decoder,
        style=config.style,
    )


def as_trained(config: EvalConfig, model_manifest: dict) -> EvalConfig:
    """A fine-tuned student is prompted and scored in the format it was trained in, as its train
    manifest's `student_format` states: a Distilling step-by-step student answers its label task
    (`[label] {question} ###` -> ` {answer}`), not the Fine-tune-CoT prompt it never saw."""
    trained = model_manifest.get("student_format")
    if config.method not in ("ft_cot", "vanilla") or not isinstance(trained, dict):
        return config
    update = {"method": trained["method"], "question_prefix": trained.get("question_prefix", "")}
    if update["method"] != config.method or update["question_prefix"]:
        log.info(
            "%s was trained as %s: prompting it with method %s and question prefix %r",
            config.model, trained.get("trained_as"), update["method"], update["question_prefix"],
        )  # fmt: skip
    return config.model_copy(update=update)


def split_student_output(text: str) -> str | None:
    """The rationale of a Fine-tune-CoT output `rationale --> answer` (None when the model wrote no '-->')."""
    rationale, separator, _ = text.partition(PREFIXES["ft_cot"])
    return rationale.strip() if separator else None


def _usage(*steps: Generation) -> dict:
    return {
        "prompt_tokens": sum(g.prompt_tokens for g in steps),
        "completion_tokens": sum(g.completion_tokens for g in steps),
    }


def _record(
    config: EvalConfig, sample: Sample, index: int, prompt: str, *steps: Generation, **fields
) -> Completion:
    answer = steps[-1]
    record = Completion(
        task=sample.task,
        sample_id=sample.id,
        sample_index=index,
        split=config.split,
        method=config.method,
        question=sample.question,
        gold=sample.answer,
        answer_type=sample.answer_type,
        prompt=prompt,
        answer_text=answer.text,
        finish_reason=answer.finish_reason,
        usage=_usage(*steps),
        model=config.model,
        params={
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_new_tokens": config.new_tokens,
        },
        **fields,
    )
    return record.rescore()


def run_chunk(
    config: EvalConfig, task: Task, samples: Sequence[Sample], model, tokenizer
) -> list[Completion]:
    """Generate and record every sample (k of them under self-consistency) of a few questions."""
    k = config.self_consistency
    encoder_decoder = bool(model.config.is_encoder_decoder)
    first_prompts = [build_prompt(config, task, s.question, encoder_decoder) for s in samples]
    sampling = {"temperature": config.temperature, "top_p": config.top_p}
    common = {"batch_size": config.batch_size, "stop": config.stop_strings}
    first = generate(
        model, tokenizer, first_prompts, max_new_tokens=config.new_tokens, n=k, **sampling, **common
    )

    records = []
    if config.method == "zs_cot":
        # Step 2 (always greedy): the prompt and the rationale as generated, then the task's trigger.
        answer_prompts = [
            prompts.zs_cot_step2(samples[i // k].question, g.text, task.spec.trigger)
            for i, g in enumerate(first)
        ]
        answers = generate(
            model, tokenizer, answer_prompts, max_new_tokens=config.answer_max_new_tokens, **common
        )
        for i, (rationale, answer) in enumerate(zip(first, answers, strict=True)):
            sample, prompt = samples[i // k], first_prompts[i // k]
            extra = {"rationale_finish_reason": rationale.finish_reason, "answer_prompt": answer_prompts[i]}
            records.append(
                _record(config, sample, i % k, prompt, rationale, answer, rationale=rationale.text, **extra)
            )
        return records
    for i, g in enumerate(first):
        rationale = split_student_output(g.text) if config.method == "ft_cot" else None
        records.append(_record(config, samples[i // k], i % k, first_prompts[i // k], g, rationale=rationale))
    return records


# --- metrics ---------------------------------------------------------------------------------------

ERROR_CATEGORIES = (
    "truncated",  # max_new_tokens ran out before the answer (or, for zs_cot, in the rationale)
    "no_answer_prefix",  # the method's answer prefix ('-->', 'The answer is') is missing
    "answer_not_in_choices",  # multiple choice: no allowed option letter, or only options that do not exist
    "no_answer",  # nothing shaped like an answer
    "wrong_number",
    "wrong_choice",
    "wrong_answer",  # yes/no, letters, text
)
_OPTION_MENTION = re.compile(r"\(([A-Z])\)")


def error_category(record: Completion) -> str | None:
    """Why a wrong answer is wrong, when that can be told from the text alone; None for correct ones."""
    fmt = AnswerFormat.parse(record.answer_type)
    prefix = PREFIXES.get(record.method)
    verdict = check(record.answer_text, record.gold, fmt, prefix, record.finish_reason)
    if verdict.correct:
        return None
    prefix_missing = prefix is not None and prefix not in record.answer_text
    # Cut off before the answer (a first-number answer that came in time was not cut off), or mid-rationale.
    answer_cut = record.finish_reason == "length" and (verdict.prediction is None or prefix_missing)
    if answer_cut or record.rationale_finish_reason == "length":
        return "truncated"
    if prefix_missing:
        return "no_answer_prefix"
    if fmt.kind == "choice":
        named = set(_OPTION_MENTION.findall(record.answer_text))
        if verdict.prediction is None or (named and not named & set(fmt.letters)):
            return "answer_not_in_choices"
        return "wrong_choice"
    if verdict.prediction is None:
        return "no_answer"
    return "wrong_number" if fmt.kind == "number" else "wrong_answer"


def majority_vote(records: Sequence[Completion]) -> dict:
    """maj@k: per question, the most frequent parsed answer of its k samples (ties: the earliest)."""
    by_question: dict[tuple[str, int], list[Completion]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.key):
        by_question[(r.task, r.sample_id)].append(r)
    correct = 0
    for group in by_question.values():
        votes = Counter(r.prediction for r in group if r.prediction is not None)
        if not votes:
            continue
        top = max(votes.values())
        winner = next(r.prediction for r in group if votes.get(r.prediction) == top)
        fmt = AnswerFormat.parse(group[0].answer_type)
        correct += same_answer(winner, normalize_gold(group[0].gold, fmt), fmt)
    n = len(by_question)
    k = max((len(g) for g in by_question.values()), default=0)
    low, high = wilson_interval(correct, n)
    return {
        "k": k,
        "n": n,
        "correct": correct,
        "accuracy": 100.0 * correct / n if n else 0.0,
        "ci95": [low, high],
    }


def compute_metrics(records: Sequence[Completion]) -> dict:
    """The shared checker's metrics, plus error categories of wrong answers and maj@k when k > 1."""
    records = [r.rescore() for r in records]
    metrics = score(records)
    errors = Counter(c for r in records if (c := error_category(r)) is not None)
    metrics["errors"] = {c: errors[c] for c in ERROR_CATEGORIES if errors[c]}
    if any(r.sample_index > 0 for r in records):
        metrics["maj_at_k"] = majority_vote(records)
    return metrics


# --- the run ---------------------------------------------------------------------------------------


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _model_provenance(spec: str) -> dict:
    """The small fields of a local model folder's manifest (a trained student says what made it)."""
    folder = Path(spec).expanduser()
    manifest = read_manifest(folder) if folder.is_dir() else {}
    return {k: v for k, v in manifest.items() if len(json.dumps(v, default=str)) <= 2000}


def _check_resumable(run_dir: Path, settings: dict, served: bool = False) -> None:
    old = read_manifest(run_dir)
    # A served evaluation is a teacher run until it is scored: a crash leaves stage 'teach'.
    if old.get("stage") not in (None, "eval") and not (served and old.get("stage") == "teach"):
        raise ConfigError(f"{run_dir} holds a {old['stage']!r} run, not an evaluation: choose another --out")
    changed = [k for k in RESUME_KEYS if k in old and old[k] != settings[k]]
    if changed:
        diffs = ", ".join(f"{k}: {old[k]!r} there, {settings[k]!r} now" for k in changed)
        raise ConfigError(
            f"{run_dir} holds a different evaluation ({diffs}): choose another --out or delete it"
        )


def evaluate(config: EvalConfig) -> Path:
    """Run (or resume) one evaluation and write records, manifest and metrics.json; returns the run folder."""
    from ftcot.models import load_model

    task = get_task(config.task)
    samples = task.samples(config.split, limit=config.limit)
    run_dir = Path(config.out)
    model_manifest = {} if config.served else _model_provenance(config.model)
    config = as_trained(config, model_manifest)
    settings = {
        **config.model_dump(mode="json"),
        "stage": "eval",
        "task": task.name,
        "max_new_tokens": config.new_tokens,
        "stop": config.stop_strings,
    }
    _check_resumable(run_dir, settings, config.served)
    if config.served:
        return _evaluate_served(config, task, samples, settings)

    model, tokenizer = load_model(config.model, device=config.device)
    torch.manual_seed(config.seed)  # sampled runs (self-consistency) repeat
    k = config.self_consistency
    manifest = {
        **settings,
        "model_params": sum(p.numel() for p in model.parameters()),
        "encoder_decoder": bool(model.config.is_encoder_decoder),
        "model_manifest": model_manifest,
        "status": "running",
    }
    started, generated = time.perf_counter(), 0
    try:
        with RecordWriter(run_dir, manifest) as writer:
            pending = [s for s in samples if any((s.task, s.id, i) not in writer for i in range(k))]
            log.info("%s: %d of %d questions to evaluate", run_dir, len(pending), len(samples))
            for chunk in _chunks(pending, max(1, config.batch_size * 4 // k)):
                for record in run_chunk(config, task, chunk, model, tokenizer):
                    writer.write(record)
                generated += len(chunk) * k
                log.info(
                    "%s: %d/%d questions", run_dir, len(samples) - len(pending) + generated // k, len(samples)
                )
    except BaseException as e:  # noqa: BLE001 - recorded in the manifest, then raised again
        _record_stop(run_dir, e)
        raise
    return _finish(config, samples, generated, time.perf_counter() - started)


def _record_stop(run_dir: Path, error: BaseException) -> None:
    """A run that raised says so; only `_finish` writes "done"."""
    if isinstance(error, KeyboardInterrupt):
        write_manifest(run_dir, {"status": "interrupted", "error": None})
    else:
        write_manifest(run_dir, {"status": "failed", "error": redact(f"{type(error).__name__}: {error}")})


def _finish(config: EvalConfig, samples: Sequence[Sample], generated: int, elapsed: float, **extra) -> Path:
    """Score the run folder's records of these samples; write metrics.json and the manifest's result."""
    run_dir, k = Path(config.out), config.self_consistency
    wanted = {(s.task, s.id) for s in samples}
    records = [r for r in read_records(run_dir) if (r.task, r.sample_id) in wanted and r.sample_index < k]
    metrics = compute_metrics(records)
    timing = {
        "samples": generated,
        "seconds": round(elapsed, 2),
        "samples_per_s": generated / elapsed if generated else None,
    }
    (run_dir / METRICS_FILE).write_text(json.dumps({**metrics, "timing": timing}, indent=2))
    write_manifest(run_dir, {"status": "done", "metrics": metrics, "timing": timing, **extra})
    return run_dir


def _evaluate_served(config: EvalConfig, task: Task, samples: Sequence[Sample], settings: dict) -> Path:
    """A served model's prompt baseline, sent through the teacher engine (cached: a rerun pays nothing)."""
    from ftcot.redact import redact_url
    from ftcot.teach.driver import TeachConfig, teach

    if config.method not in ("zero_shot", "zs_cot", "fs_cot"):
        raise ConfigError(
            f"{config.model}: served models are evaluated with zero_shot, zs_cot or fs_cot, not {config.method}"
        )
    started = time.perf_counter()
    teach(
        TeachConfig(
            teacher=config.model,
            task=config.task,  # as given: a task card's name is not a task spec (get_task resolves the card)
            split=config.split,
            out=config.out,
            method=config.method,
            diverse=config.self_consistency,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.new_tokens,
            answer_max_tokens=config.answer_max_new_tokens,
            limit=config.limit,
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
            batch_size=config.batch_size,
        )
    )
    teacher_run = read_manifest(config.out)
    if teacher_run.get("status") != "complete":
        raise Incomplete(
            f"{config.out}: the model did not answer every question (status {teacher_run.get('status')!r}, "
            f"error {teacher_run.get('error')!r}); rerun the same command to resume",
            status=teacher_run.get("status"),
        )
    generated = teacher_run.get("last_run", {}).get("written", 0)
    settings = {**settings, "base_url": redact_url(config.base_url)}  # the key stays in the environment
    return _finish(config, samples, generated, time.perf_counter() - started, **settings)
