"""Each stage's `manifest.json` as a typed model: what made a run folder and how its run ended.

Every stage writes its own model (`TeachManifest`, `CurateManifest`, `TrainManifest`,
`EvalManifest`; the report stage writes no manifest), told apart by `stage`, and every
reader gets the model back from `load_manifest` and reads its fields: no reader searches a
manifest for keys, and no fact has two names.

Writing is strict: a field no model declares, or a value of the wrong type, is a bug and raises.
Reading is strict about types and lenient about versions:
- a field that a folder written by an earlier version lacks reads as None (reports show '?');
- a field this version does not declare (an earlier or later version's) is ignored, with a warning;
- a wrong-typed field, a missing or unknown `stage`, or bad JSON refuses the file, naming it.

`write_manifest` writes the fields a writer sets over the stored manifest of the same stage
(a resumed run keeps what it does not restate), keeps the folder's first `created` time and
masks secrets (`ftcot.redact`) before anything reaches the disk.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ftcot.errors import DataError
from ftcot.redact import redact_value

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"


class Strict(BaseModel):
    """No undeclared fields, no coercion ('4' is not 4): what is written is what was meant."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, protected_namespaces=())


# --- parts shared by several stages ---------------------------------------------------------------


class CodeVersion(Strict):
    ftcot: str | None = None
    python: str | None = None
    git: str | None = None


class DatasetFacts(Strict):
    """What a student trained on this data learnt from, stated by the curate stage and carried by the
    train stage (and from there into an evaluation's `model_manifest`) so that no reader infers it."""

    teacher: str | None = None  # the teacher spec, e.g. openai:gpt-4o-mini
    teacher_model: str | None = None  # the model behind it, as its backend names it
    diverse: int | None = None  # the teacher's D (its setting, not what survived curation)
    train_questions: int | None = None
    train_rows: int | None = None
    train_rows_with_rationale: int | None = None
    val_questions: int | None = None
    val_rows: int | None = None
    trained_rows: int | None = None  # train stage: the rows the method trained on


class Manifest(Strict):
    """Fields every stage's manifest has."""

    stage: str
    status: str | None = None
    error: str | None = None  # why a run stopped (redacted)
    created: str | None = None  # the first write of this folder's manifest
    updated: str | None = None
    code: CodeVersion | None = None
    extra: dict[str, Any] | None = None  # free-form details that no reader relies on

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated (model_copy(update=...) would not check them)."""
        return self.model_validate({**self.model_dump(exclude_unset=True), **changes})


# --- teach ----------------------------------------------------------------------------------------


class BackendInfo(BaseModel):
    """The teacher backend as it describes itself: its kind and model, then details of its own
    (engine, slots, base_url without credentials, ...)."""

    model_config = ConfigDict(extra="allow", strict=True, protected_namespaces=())

    backend: str | None = None
    model: str | None = None
    chat: bool | None = None


class LastRun(Strict):
    """What the latest session of a teach run did (a resumed run has several sessions)."""

    elapsed_s: float | None = None
    written: int | None = None
    failed: int | None = None
    requests: int | None = None
    backend_calls: int | None = None
    throttle: dict[str, Any] | None = None  # ThrottleStats.as_dict(): retries, rate limits, failures
    cache: dict[str, Any] | None = None  # hits, misses, writes, path
    usage: dict[str, int] | None = None
    spent: float | None = None  # US$ paid in this session; None when the price is unknown


class Price(Strict):
    input: float
    output: float


class TeachYield(Strict):
    """The teacher's yield (ftcot.teach.cost.yield_report): kept rationales and their cost."""

    questions: int | None = None
    samples: int | None = None
    kept_rationales: int | None = None
    questions_with_kept: int | None = None
    kept_per_question: float | None = None
    usage: dict[str, int] | None = None
    job_cost: float | None = None  # the whole job's cost in US$, cached answers included
    cost_per_kept_rationale: float | None = None


TeachStatus = Literal["running", "complete", "incomplete", "interrupted", "refused", "failed", "budget"]


class TeachManifest(Manifest):
    stage: Literal["teach"] = "teach"
    status: TeachStatus | None = None
    method: str | None = None  # zs_cot | zero_shot | fs_cot
    teacher: str | None = None
    backend: BackendInfo | None = None
    task: str | None = None
    split: str | None = None
    job: dict[str, Any] | None = None  # the settings a resumed run must match (TeachConfig.job())
    diverse: int | None = None  # D: rationales asked for per question
    limit: int | None = None
    questions: int | None = None
    trigger: str | None = None
    settings: dict[str, Any] | None = None  # every setting of the run, base_url without credentials
    samples: int | None = None  # records in the folder
    samples_missing: int | None = None  # (sample, index) pairs of the job not in the folder
    last_run: LastRun | None = None
    price_per_1m: Price | None = None
    yield_: TeachYield | None = Field(None, alias="yield")
    import_: dict[str, Any] | None = Field(None, alias="import")  # the recorded teacher: how the log matched


# --- curate ---------------------------------------------------------------------------------------


class Distribution(Strict):
    mean: float | None = None
    min: int | None = None
    max: int | None = None
    histogram: dict[str, int] | None = None


class CurateInputs(Strict):
    run_dir: str | None = None
    records_sha256: str | None = None


class ArithmeticYield(Strict):
    """What curate's arithmetic filter did (`--arithmetic drop|repair`, ftcot.calculator)."""

    mode: Literal["keep", "drop", "repair"]
    dropped: int = 0
    repaired: int = 0


class CurateYield(Strict):
    """Every record accounted for once: kept, or dropped for the first reason that applies."""

    records: int | None = None
    tasks: list[str] | None = None
    train_questions: int | None = None
    train_questions_covered: int | None = None
    val_questions: int | None = None
    val_records: int | None = None
    train_rows_with_rationale: int | None = None
    samples_per_question: Distribution | None = None
    dropped: dict[str, int] | None = None
    arithmetic: ArithmeticYield | None = None  # only with the filter on (ftcot.curate.check_arithmetic)


class CurateManifest(Manifest):
    stage: Literal["curate"] = "curate"
    status: Literal["complete"] | None = None  # written last, after every file of the folder
    inputs: CurateInputs | None = None
    dataset: DatasetFacts | None = None
    settings: dict[str, Any] | None = None  # CurateConfig
    yield_: CurateYield | None = Field(None, alias="yield")
    files: dict[str, int] | None = None  # rows of each file written


# --- train ----------------------------------------------------------------------------------------


class TrainData(Strict):
    dir: str | None = None
    train_sha256: str | None = None
    val_sha256: str | None = None
    train_rows: int | None = None
    val_questions: int | None = None
    rows_truncated: int | None = None
    curate: CurateYield | None = None  # the data folder's yield, as its curate manifest states it


class StudentFormat(Strict):
    """How the student must be prompted and scored: the format it was trained in (read by `ftcot eval`)."""

    method: str
    question_prefix: str = ""
    trained_as: str | None = None  # ft_cot | vanilla | step_by_step
    endpoint: Literal["chat", "completions"] | None = None  # an API student: how it is prompted
    stop: list[str] | None = None  # an API student: where its answers end


class StudentModel(Strict):
    student: str | None = None  # as given: a bundled name, a folder or an HF id
    checkpoint: str | None = None
    encoder_decoder: bool | None = None
    parameters: int | None = None
    trainable: int | None = None


class EpochRow(Strict):
    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None  # teacher-forced, over the completion tokens of every val row
    val_accuracy: float | None = None  # greedy answers to the first val_limit val questions
    val_correct: int | None = None
    val_n: int | None = None


class TrainMetrics(Strict):
    epochs: list[EpochRow] = []
    best_checkpoint: str | None = None
    best_val_accuracy: float | None = None  # the selected epoch's, when val accuracy selected it
    selected_by: Literal["val_loss", "val_accuracy", "last"] | None = None  # the criterion that chose
    selected_epoch: int | None = None
    val_loss_rows: int | None = None  # val rows with a completion to score (ft_cot: with a rationale)
    train_runtime_s: float | None = None
    global_steps: int | None = None
    train_tokens: int | None = None
    train_tokens_per_s: float | None = None


class PrecisionProbe(Strict):
    """Matrix products timed on this CPU in fp32 and in bf16 autocast (`ftcot.train.precision`): the
    trainer uses bf16 where it is clearly faster. Cached per (cpu, torch, threads)."""

    cpu: str
    torch: str
    threads: int
    shape: list[int]  # m, k, n of the timed products
    fp32_gflops: float
    bf16_gflops: float
    speedup: float  # bf16 / fp32
    threshold: float  # bf16 is chosen at this speed-up or more
    bf16: bool
    measured: str  # when (UTC)
    cached: bool = False  # this run read the verdict from the cache


class APIStudentJob(Strict):
    """An API student's fine-tuning job, as the service last reported it."""

    id: str
    status: str | None = None  # validating_files, queued, running, succeeded, failed, cancelled
    base_model: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None  # billed: the training file's tokens x epochs
    created_at: int | None = None
    finished_at: int | None = None
    training_file: str | None = None
    validation_file: str | None = None
    hyperparameters: dict[str, Any] | None = None  # n_epochs, batch_size, learning_rate_multiplier
    seed: int | None = None
    error: dict[str, str] | None = None  # code and message of a failed job


class APIStudentCost(Strict):
    usd: float | None = None  # trained tokens x the price table; None when either is unknown
    estimated_usd: float | None = None  # the estimate made before the job started
    price_per_1m_training_tokens: float | None = None
    note: str | None = None


class APIStudent(Strict):
    """The train stage of an API student (`ftcot.train.openai_student`): the fine-tuning job, which a
    rerun finds again by `fingerprint` (a hash of the training files and the job's settings)."""

    base_url: str | None = None  # without credentials
    api_key_env: str | None = None  # the variable's name; its value is never written
    endpoint: Literal["chat", "completions"] | None = None
    fingerprint: str | None = None
    job_id: str | None = None
    fine_tuned_model: str | None = None  # what `ftcot eval` prompts
    trained_tokens: int | None = None
    job: APIStudentJob | None = None
    previous_jobs: list[str] | None = None  # failed or cancelled jobs of this folder
    train_file: str | None = None  # the uploaded files
    val_file: str | None = None
    train_examples: int | None = None
    val_examples: int | None = None
    estimate: dict[str, Any] | None = None  # training tokens and cost before the job started
    cost: APIStudentCost | None = None


TrainStatus = Literal["complete", "running", "interrupted", "failed", "cancelled", "budget"]


class TrainManifest(Manifest):
    stage: Literal["train"] = "train"
    # Local students: written once, after the student is saved. API students: every state of the job.
    status: TrainStatus | None = None
    data: TrainData | None = None
    dataset: DatasetFacts | None = None
    student_format: StudentFormat | None = None
    model: StudentModel | None = None
    hyperparameters: dict[str, Any] | None = None  # TrainConfig
    precision: str | None = None
    precision_chosen_by: Literal["flag", "gpu", "cpu_probe"] | None = None
    precision_probe: PrecisionProbe | None = None  # the CPU's measured fp32 and bf16 speed
    world_size: int | None = None
    distributed: str | None = None  # NO, MULTI_CPU, MULTI_GPU, FSDP, DEEPSPEED
    metrics: TrainMetrics | None = None
    selection: str | None = None
    api: APIStudent | None = None  # an API student (openai:BASE_MODEL): its fine-tuning job


# --- eval -----------------------------------------------------------------------------------------


class Timing(Strict):
    samples: int | None = None
    seconds: float | None = None
    samples_per_s: float | None = None


class GGUFFile(Strict):
    """The GGUF file an evaluation ran through llama.cpp (`--engine llamacpp`; ftcot.train.export)."""

    file: str
    outtype: str  # bf16 | f16 | f32
    bytes: int
    sha256: str


class EvalManifest(Manifest):
    """An evaluation: its settings (EvalConfig's fields, the method's defaults filled in), the model,
    and the result."""

    stage: Literal["eval"] = "eval"
    status: Literal["running", "done", "interrupted", "failed"] | None = None
    model: str | None = None
    task: str | None = None
    out: str | None = None
    split: str | None = None
    method: str | None = None
    max_new_tokens: int | None = None
    answer_max_new_tokens: int | None = None
    batch_size: int | None = None
    limit: int | None = None
    stop: list[str] | None = None
    self_consistency: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    style: str | None = None
    question_prefix: str | None = None
    calculator: bool | None = None
    device: str | None = None
    base_url: str | None = None  # without credentials
    api_key_env: str | None = None
    chat: bool | None = None  # a served model's endpoint: chat, or legacy completions
    concurrency: int | None = None
    engine: str | None = None  # a local model's: transformers | llamacpp (None: served, or earlier versions)
    gguf_outtype: str | None = None  # --engine llamacpp: the GGUF type the student was exported to
    gguf: GGUFFile | None = None  # --engine llamacpp: the file it ran
    precision: str | None = None  # the setting: fp32 | bf16 | auto (local transformers models)
    weights_dtype: Literal["fp32", "bf16"] | None = None  # what the weights ran in, `auto` resolved
    precision_chosen_by: str | None = None  # flag | gpu | cpu_probe (ftcot.train.precision)
    model_params: int | None = None
    encoder_decoder: bool | None = None
    model_manifest: TrainManifest | None = None  # a trained student's own manifest (its small fields)
    served: TeachManifest | None = None  # a served model: its run through the teacher engine
    metrics: dict[str, Any] | None = None  # ftcot.metrics.compute_metrics
    timing: Timing | None = None

    @field_validator("model_manifest", mode="before")
    @classmethod
    def _no_student(cls, value: Any) -> Any:
        return None if value == {} else value  # earlier versions wrote {} for a model with no manifest


StageManifest = TeachManifest | CurateManifest | TrainManifest | EvalManifest
AnyManifest = Annotated[StageManifest, Field(discriminator="stage")]
MODELS: dict[str, type[Manifest]] = {
    "teach": TeachManifest,
    "curate": CurateManifest,
    "train": TrainManifest,
    "eval": EvalManifest,
}


# --- reading --------------------------------------------------------------------------------------


def parse_manifest(data: Any, path: str | Path = MANIFEST_FILE) -> StageManifest:
    """A manifest's JSON object as its stage's model; a DataError naming `path` when it does not fit."""
    if not isinstance(data, dict):
        raise DataError("not a manifest: a JSON object was expected", path=path)
    stage = data.get("stage")
    if stage not in MODELS:
        found = "no 'stage'" if stage is None else f"stage {stage!r}"
        raise DataError(f"{found}: not a run manifest (stages: {', '.join(MODELS)})", path=path)
    model = MODELS[stage]
    try:
        return model.model_validate(data)
    except ValidationError as e:
        unknown = [err["loc"] for err in e.errors() if err["type"] == "extra_forbidden"]
        wrong = [err for err in e.errors() if err["type"] != "extra_forbidden"]
        if wrong:
            raise DataError(f"does not fit the {stage} manifest: {_explain(wrong)}", path=path) from None
    log.warning(
        "%s: ignoring fields this version of ftcot does not read (written by another version): %s",
        path, ", ".join(sorted(".".join(map(str, loc)) for loc in unknown)),
    )  # fmt: skip
    return parse_manifest(_without(data, unknown), path)


def _explain(errors: list[dict]) -> str:
    """`metrics.epochs.0.epoch: Input should be a valid integer (got '1')`, for each error."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']} (got {_short(repr(e['input']))})"
        for e in errors
    )


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _without(data: dict, paths: list[tuple]) -> dict:
    """A deep copy of `data` less the values at `paths` (pydantic error locations)."""
    data = json.loads(json.dumps(data))
    for loc in paths:
        parent = data
        for key in loc[:-1]:
            parent = parent[key]
        del parent[loc[-1]]
    return data


def load_manifest(run_dir: str | Path) -> StageManifest | None:
    """The typed manifest of a run folder; None when it has none."""
    path = Path(run_dir) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg})", path=path, line=e.lineno) from e
    return parse_manifest(data, path)


def read_manifest(run_dir: str | Path) -> dict:
    """The manifest as a dict of the fields it states, checked like `load_manifest`; {} when none.
    New code reads `load_manifest`'s typed fields instead."""
    manifest = load_manifest(run_dir)
    return {} if manifest is None else _stated(manifest)


def _stated(manifest: Manifest) -> dict:
    """The fields a manifest states, under their names on disk ('yield', not 'yield_')."""
    return {"stage": manifest.stage, **manifest.model_dump(mode="json", by_alias=True, exclude_unset=True)}


# --- writing --------------------------------------------------------------------------------------


def code_version() -> dict:
    from ftcot import __version__

    version = {"ftcot": __version__, "python": platform.python_version()}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            version["git"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def write_manifest(run_dir: str | Path, manifest: Manifest | dict) -> Path:
    """Write the fields `manifest` sets over the folder's stored manifest of the same stage.

    `manifest` is a stage's model, or a dict of fields (a partial update such as {"status": "failed",
    "error": ...} needs no stage: it updates the stored one). A different stage replaces the stored
    manifest. Either way the result must fit its stage's model. The folder's first `created` time is
    kept; secrets are masked."""
    path = Path(run_dir) / MANIFEST_FILE
    stored = load_manifest(run_dir)
    given = _stated(manifest) if isinstance(manifest, Manifest) else dict(manifest)
    stage = given.get("stage") or (stored.stage if stored is not None else None)
    if stage not in MODELS:
        raise ValueError(f"{path}: a manifest needs a stage ({', '.join(MODELS)}), not {stage!r}")
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    same_stage = stored is not None and stored.stage == stage
    data = {**(_stated(stored) if same_stage else {}), **given, "stage": stage}
    data["created"] = stored.created if stored is not None and stored.created else now
    data["updated"] = now
    data["code"] = code_version()
    data = redact_value(data)  # never a key on disk
    try:
        checked = MODELS[stage].model_validate(data)
    except ValidationError as e:  # a writer's bug, not the user's: no friendly message
        raise ValueError(f"{path}: this {stage} manifest does not fit its model: {e}") from e
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_stated(checked), indent=2, ensure_ascii=False))
    os.replace(tmp, path)
    return path
