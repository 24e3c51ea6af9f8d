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
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, Field, model_validator

from ftcot import prompts
from ftcot.answers import PREFIXES
from ftcot.errors import ConfigError, DataError, Incomplete
from ftcot.generation import Generation, generate
from ftcot.manifests import EvalManifest, TeachManifest, TrainManifest, load_manifest
from ftcot.metrics import (  # noqa: F401 - re-exported: the metrics lived here before ftcot.metrics
    ERROR_CATEGORIES,
    METRICS_FILE,
    compute_metrics,
    error_category,
    majority_vote,
    score,
    wilson_interval,
)
from ftcot.records import Completion, RecordWriter, read_manifest, read_records, write_manifest
from ftcot.redact import redact
from ftcot.tasks import Sample, Task, get_task
from ftcot.train.openai_student import is_fine_tuned, served_student, trained_on_chat

log = logging.getLogger(__name__)

Method = Literal["zero_shot", "zs_cot", "fs_cot", "ft_cot", "vanilla"]

# Generation budgets per method. Kojima's teacher: 128 rationale tokens, 32 answer tokens; the
# paper let students write up to 1024 tokens in all, which is slow on a CPU: raise it with --max-new-tokens.
DEFAULT_MAX_NEW_TOKENS = {"zero_shot": 32, "zs_cot": 128, "fs_cot": 256, "ft_cot": 512, "vanilla": 32}
# Stop strings of a model evaluated with transformers, per method (`prompts.default_stop`); a served
# model gets the teacher engine's, where Kojima's zs_cot steps stop at nothing.
DEFAULT_STOP = {method: list(prompts.default_stop(method, local=True)) for method in prompts.METHODS}
SERVED_KINDS = ("openai", "vllm", "llamacpp", "recorded")  # recorded:NAME replays a shipped recording
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
    "answer_max_new_tokens",
    "top_p",
    "stop",
    "calculator",
    "engine",
    "gguf_outtype",
)


class EvalConfig(BaseModel):
    """One evaluation run. The CLI flags of `ftcot eval` are these fields."""

    model: str = Field(
        description="model spec: bundled name (smollm2), a student's output folder, .gguf or HF id, or a "
        "served model (openai:MODEL with --base-url, vllm:MODEL, llamacpp:FILE.gguf) through the teacher engine"
    )
    task: str = Field(description="task name, or a task card .toml for your own data")
    out: Path = Field(description="run folder (an existing one is resumed)")
    split: str = Field("test", description="the task's split to evaluate on")
    method: Method = Field(
        "zero_shot",
        description="prompting method (default: a fine-tuned student's own, from its train manifest; else zero_shot)",
    )
    max_new_tokens: int | None = Field(
        None, gt=0, description="default per method (DEFAULT_MAX_NEW_TOKENS; docs/evaluate.md)"
    )
    answer_max_new_tokens: int = Field(32, gt=0, description="zs_cot step 2 (the answer after the trigger)")
    batch_size: int = Field(8, gt=0, description="sequences per forward pass")
    limit: int | None = Field(None, gt=0, description="evaluate only the first N questions of the split")
    stop: list[str] | None = Field(
        None, description="stop string (repeatable); default per method (DEFAULT_STOP; docs/evaluate.md)"
    )
    self_consistency: int = Field(1, ge=1, description="k samples per question; maj@k is reported")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    style: Literal["default", "gpt3"] = Field(
        "default", description="student prompt format (ftcot.prompts.ft_cot_example)"
    )
    # Text before each question: a step-by-step student's task prefix ('[label] '), from its manifest.
    question_prefix: str = ""
    calculator: bool = Field(
        False,
        description="calculator-assisted decoding: after an arithmetic expression and '=', force the "
        "calculator's result (ftcot.calculator); records list each intervention in meta['calculator']",
    )
    device: str | None = Field(
        None, description="cpu, cuda, ... (default: cuda when torch sees a GPU, else cpu)"
    )
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32",
        description="a local model's weights under transformers: fp32 (the reference outputs), bf16, or "
        "auto: bf16 where it is faster (a GPU that supports it; a CPU by the trainer's cached probe). "
        "bf16 greedy outputs can differ from fp32's",
    )
    # Served models (openai:, vllm:, llamacpp: specs) go through the teacher engine: cache, limits, resume.
    base_url: str | None = Field(None, description="OpenAI-compatible server for openai: models")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    chat: bool | None = Field(
        None,
        description="served models and local prompt baselines: chat (template) or raw completions "
        "(default: as an API student was trained, else chat)",
    )
    concurrency: int = Field(
        32, ge=1, description="requests in flight for served models (--engine llamacpp: slots, at most 16)"
    )
    engine: Literal["transformers", "llamacpp"] = Field(
        "transformers",
        description="what runs a local model: transformers, or llama.cpp's llama-server (the student "
        "exported to GGUF, continuous batching; ftcot.llamacpp_student)",
    )
    gguf_outtype: Literal["bf16", "f16", "f32"] | None = Field(
        None,
        description="--engine llamacpp: the student's GGUF weights (default f32: outputs as transformers'; bf16 faster, differs)",
    )

    @model_validator(mode="after")
    def _check_sampling(self) -> EvalConfig:
        if self.self_consistency > 1 and self.temperature <= 0:
            raise ValueError(
                "--self-consistency k > 1 needs --temperature > 0 (e.g. 0.7, as the paper samples)"
            )
        return self

    @model_validator(mode="after")
    def _check_calculator(self) -> EvalConfig:
        if self.calculator and self.served:
            raise ValueError(
                "--calculator decodes a local model (transformers, or llama.cpp in process): give a local "
                "model (a student's folder), not a served one"
            )
        return self

    @model_validator(mode="after")
    def _check_engine(self) -> EvalConfig:
        if self.engine == "llamacpp":
            from ftcot.llamacpp_student import check_config

            check_config(self)
        elif self.gguf_outtype is not None:
            raise ValueError("--gguf-outtype is for --engine llamacpp")
        return self

    @property
    def served(self) -> bool:
        """An API or engine model (`openai:gpt-4o-mini`, `vllm:...`, `llamacpp:...`), or a shipped
        recording of one (`recorded:NAME`; `recorded`: text-davinci-002's logs), not transformers weights."""
        return self.model == "recorded" or (
            self.model.partition(":")[0] in SERVED_KINDS and ":" in self.model
        )

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.method]

    @property
    def stop_strings(self) -> list[str]:
        """The stop strings sent: the given ones, else the method's default where the model runs."""
        if self.stop is not None:
            return self.stop
        return list(prompts.default_stop(self.method, local=not self.served))


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


def as_trained(config: EvalConfig, student: TrainManifest | None) -> EvalConfig:
    """A fine-tuned student is prompted and scored in the format it was trained in, as its train
    manifest's `student_format` states: a Distilling step-by-step student answers its label task
    (`[label] {question} ###` -> ` {answer}`), not the Fine-tune-CoT prompt it never saw. Without a
    method asked for, a student is prompted as it was trained; a prompt method asked for is kept."""
    trained = student.student_format if student is not None else None
    asked = "method" in config.model_fields_set
    if trained is None or (asked and config.method not in ("ft_cot", "vanilla")):
        return config
    update = {"method": trained.method, "question_prefix": trained.question_prefix}
    if update["method"] != config.method or update["question_prefix"]:
        log.info(
            "%s was trained as %s: prompting it with method %s and question prefix %r",
            config.model, trained.trained_as, update["method"], update["question_prefix"],
        )  # fmt: skip
    return config.model_copy(update=update)


def split_student_output(text: str) -> str | None:
    """The rationale of a Fine-tune-CoT output `rationale --> answer` (None when the model wrote no '-->')."""
    rationale, separator, _ = text.partition(PREFIXES["ft_cot"])
    return rationale.strip() if separator else None


def _record(
    config: EvalConfig, sample: Sample, index: int, prompt: str, *steps: Generation, **fields
) -> Completion:
    answer = steps[-1]
    params = {"temperature": config.temperature, "top_p": config.top_p, "max_new_tokens": config.new_tokens}
    return Completion.scored(
        sample, index, split=config.split, method=config.method, steps=steps, prompt=prompt,
        answer_text=answer.text, finish_reason=answer.finish_reason, model=config.model, params=params,
        **fields,
    )  # fmt: skip


def run_chunk(
    config: EvalConfig, task: Task, samples: Sequence[Sample], model, tokenizer, generate_fn=generate
) -> list[Completion]:
    """Generate and record every sample (k of them under self-consistency) of a few questions.

    `generate_fn`: `ftcot.generation.generate`, or the same contract on another decoder
    (`ftcot.llamacpp_calculator.generate`)."""
    k = config.self_consistency
    encoder_decoder = bool(model.config.is_encoder_decoder)
    first_prompts = [build_prompt(config, task, s.question, encoder_decoder) for s in samples]
    sampling = {"temperature": config.temperature, "top_p": config.top_p}
    common = {"batch_size": config.batch_size, "stop": config.stop_strings}
    # The calculator helps the reasoning step only: zs_cot's answer step reads the answer off it.
    first = generate_fn(
        model, tokenizer, first_prompts, max_new_tokens=config.new_tokens, n=k,
        calculator=config.calculator, **sampling, **common,
    )  # fmt: skip

    records = []
    if config.method == "zs_cot":
        # Step 2 (always greedy): the prompt and the rationale as generated, then the task's trigger.
        answer_prompts = [
            prompts.zs_cot_step2(samples[i // k].question, g.text, task.spec.trigger)
            for i, g in enumerate(first)
        ]
        answers = generate_fn(
            model, tokenizer, answer_prompts, max_new_tokens=config.answer_max_new_tokens, **common
        )
        for i, (rationale, answer) in enumerate(zip(first, answers, strict=True)):
            sample, prompt = samples[i // k], first_prompts[i // k]
            extra = {"rationale_finish_reason": rationale.finish_reason, "answer_prompt": answer_prompts[i]}
            extra |= _calculator_meta(config, rationale)
            records.append(
                _record(config, sample, i % k, prompt, rationale, answer, rationale=rationale.text, **extra)
            )
        return records
    for i, g in enumerate(first):
        rationale = split_student_output(g.text) if config.method == "ft_cot" else None
        records.append(
            _record(
                config, samples[i // k], i % k, first_prompts[i // k], g,
                rationale=rationale, **_calculator_meta(config, g),
            )
        )  # fmt: skip
    return records


def _calculator_meta(config: EvalConfig, generation: Generation) -> dict:
    """With the calculator on, every record says so: meta['calculator'] lists its interventions
    ({expression, forced, student_would_have, token}; see ftcot.generation.CalculatorProcessor),
    an empty list when it wrote no equation."""
    return {"meta": {"calculator": list(generation.calculator)}} if config.calculator else {}


# --- the run ---------------------------------------------------------------------------------------


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _student_manifest(spec: str) -> TrainManifest | None:
    """A trained student's train manifest (a local folder's), which says what made it; its per-epoch
    metrics stay in its folder. None for any other model."""
    folder = Path(spec).expanduser()
    try:
        manifest = load_manifest(folder) if folder.is_dir() else None
    except DataError as e:  # another tool's manifest.json: the model is still worth evaluating
        log.warning("%s; evaluating %s as a model with no training record", e, folder)
        return None
    if not isinstance(manifest, TrainManifest):
        return None
    return TrainManifest.model_validate(manifest.model_dump(exclude_unset=True, exclude={"metrics"}))


def _check_resumable(run_dir: Path, settings: dict, served: bool = False) -> None:
    old = load_manifest(run_dir)
    if old is None:
        return
    # A served evaluation is a teacher run until it is scored: a crash leaves stage 'teach'.
    if old.stage != "eval" and not (served and old.stage == "teach"):
        raise ConfigError(f"{run_dir} holds a {old.stage!r} run, not an evaluation: choose another --out")
    stated = {k: getattr(old, k, None) for k in RESUME_KEYS}  # None: not stated (an earlier version's)
    changed = [k for k, v in stated.items() if v is not None and v != settings[k]]
    if changed:
        diffs = ", ".join(f"{k}: {stated[k]!r} there, {settings[k]!r} now" for k in changed)
        raise ConfigError(
            f"{run_dir} holds a different evaluation ({diffs}): choose another --out or delete it"
        )


def evaluate(config: EvalConfig) -> Path:
    """Run (or resume) one evaluation and write records, manifest and metrics.json; returns the run folder."""
    from ftcot.models import load_model

    task = get_task(config.task)
    samples = task.samples(config.split, limit=config.limit)
    run_dir = Path(config.out)
    student = None if config.served else _student_manifest(config.model)
    config = as_trained(config, student)
    config = served_student(config, student)  # an API student's folder: the fine-tuned model it names
    settings = {
        **config.model_dump(mode="json"),
        "stage": "eval",
        "task": task.name,
        "max_new_tokens": config.new_tokens,
        "stop": config.stop_strings,
        "engine": None if config.served else config.engine,  # a served model runs where it is served
    }
    llamacpp, as_teacher = config.engine == "llamacpp", asked_as_teacher(config, student)
    if as_teacher:  # the teacher engine's default stops and chat template, as `ftcot teach` asks the model
        stop = config.stop if config.stop is not None else list(prompts.default_stop(config.method))
        config = config.model_copy(
            update={"chat": True if config.chat is None else config.chat, "stop": stop}
        )
        settings |= {"stop": stop, "chat": config.chat}
    # A served run crashed before scoring leaves stage 'teach'; llama.cpp with the calculator runs here.
    _check_resumable(run_dir, settings, config.served or (llamacpp and not config.calculator) or as_teacher)
    # The student exported to GGUF: through the teacher engine, or in process with the calculator.
    if llamacpp:
        from ftcot.llamacpp_student import evaluate_llamacpp

        return evaluate_llamacpp(config, task, samples, {**settings, "model_manifest": student})
    if config.served:
        return _evaluate_served(config, task, samples, {**settings, "model_manifest": student})
    if as_teacher:
        return _evaluate_as_teacher(config, task, samples, settings)

    bf16, chosen_by = weights_precision(config.precision)
    model, tokenizer = load_model(config.model, device=config.device, dtype=torch.bfloat16 if bf16 else None)
    torch.manual_seed(config.seed)  # sampled runs (self-consistency) repeat
    manifest = EvalManifest(
        **settings,
        weights_dtype="bf16" if bf16 else "fp32",
        precision_chosen_by=chosen_by,
        model_params=sum(p.numel() for p in model.parameters()),
        encoder_decoder=bool(model.config.is_encoder_decoder),
        model_manifest=student,
        status="running",
    )
    return _evaluate_local(config, task, samples, manifest, model, tokenizer)


def weights_precision(setting: str) -> tuple[bool, str]:
    """(bf16?, what chose it: flag | gpu | cpu_probe) for `precision`; auto decides as training does."""
    if setting != "auto":
        return setting == "bf16", "flag"
    from ftcot.train.precision import choose_precision

    bf16, chosen_by, _ = choose_precision(None)
    return bf16, chosen_by


def _evaluate_local(
    config: EvalConfig,
    task: Task,
    samples: Sequence[Sample],
    manifest: EvalManifest,
    model,
    tokenizer,
    generate_fn=generate,
) -> Path:
    """The records of a model decoded here (`run_chunk` with `generate_fn`), a chunk at a time; a
    killed run resumes from its records. Returns the run folder."""
    run_dir, k = Path(config.out), config.self_consistency
    started, generated = time.perf_counter(), 0
    try:
        with RecordWriter(run_dir, manifest) as writer:
            pending = [s for s in samples if any((s.task, s.id, i) not in writer for i in range(k))]
            log.info("%s: %d of %d questions to evaluate", run_dir, len(pending), len(samples))
            for chunk in _chunks(pending, max(1, config.batch_size * 4 // k)):
                for record in run_chunk(config, task, chunk, model, tokenizer, generate_fn):
                    writer.write(record)
                generated += len(chunk) * k
                log.info(
                    "%s: %d/%d questions", run_dir, len(samples) - len(pending) + generated // k, len(samples)
                )
    except BaseException as e:  # noqa: BLE001 - recorded in the manifest, then raised again
        _record_stop(run_dir, e)
        raise
    return _finish(config, samples, generated, time.perf_counter() - started)


def asked_as_teacher(config: EvalConfig, student: TrainManifest | None) -> bool:
    """Whether a local model's prompt baseline goes through the teacher engine (`hf:MODEL`), so that
    it is asked exactly as `ftcot teach --teacher hf:MODEL` asks it: one request plan, the same chat
    template and stops, the same cache. What only transformers' own loop does stays there: a
    trained student, the calculator, the gpt3 prompt style and encoder-decoder models."""
    if config.served or student is not None or config.method not in ("zero_shot", "zs_cot", "fs_cot"):
        return False
    if config.calculator or config.style != "default" or config.engine != "transformers":
        return False
    from ftcot.models import is_encoder_decoder, local_checkpoint

    return not is_encoder_decoder(local_checkpoint(config.model))


def _evaluate_as_teacher(config: EvalConfig, task: Task, samples: Sequence[Sample], settings: dict) -> Path:
    from ftcot.models import parameter_count
    from ftcot.teach.backends.hf import HFBackend

    backend = HFBackend(config.model, batch_size=config.batch_size, chat=config.chat, device=config.device)
    local = {"teacher": f"hf:{config.model}", "chat": config.chat, "backend": lambda: backend}
    # The size the report sorts models by, from the weight files (also when every reply comes from the
    # cache), stated with the other settings so that the manifest is whole when the run is.
    settings = {**settings, "model_params": parameter_count(config.model), "encoder_decoder": False}
    return _evaluate_served(config, task, samples, settings, local=local)


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
    result = {"status": "done", "metrics": metrics, "timing": timing}
    stored = load_manifest(run_dir)
    if isinstance(stored, TeachManifest):  # a served model: its teacher-engine run becomes part of the eval's
        write_manifest(run_dir, EvalManifest(**extra, **result, served=stored))
    else:
        write_manifest(run_dir, {**result, **extra})
    return run_dir


def _evaluate_served(
    config: EvalConfig,
    task: Task,
    samples: Sequence[Sample],
    settings: dict,
    *,
    local: dict | None = None,
) -> Path:
    """A served model's prompt baseline, sent through the teacher engine (cached: a rerun pays nothing).

    `local`: a local model served by an engine ftcot starts (`ftcot.llamacpp_student`): the teacher
    spec, chat flag, concurrency and backend factory the teacher engine uses for it."""
    from ftcot.redact import redact_url
    from ftcot.teach.driver import TeachConfig, teach

    student = settings.get("model_manifest")  # an API student's train manifest, when it came from one
    local = local or {}
    if (
        config.method in ("ft_cot", "vanilla")
        and not local
        and student is None
        and not is_fine_tuned(config.model)
    ):
        raise ConfigError(
            f"{config.model}: ft_cot and vanilla prompt a fine-tuned student (openai:ft:..., or an API "
            "student's train folder); evaluate other served models with zero_shot, zs_cot or fs_cot"
        )
    started = time.perf_counter()
    teach(
        TeachConfig(
            teacher=local.get("teacher", config.model),
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
            chat=local.get("chat", config.chat if config.chat is not None else trained_on_chat(config.model)),
            stop=config.stop_strings,  # what the manifest states (a student's trained END by default)
            concurrency=local.get("concurrency", config.concurrency),
            batch_size=config.batch_size,
        ),
        backend=local.get("backend"),
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
