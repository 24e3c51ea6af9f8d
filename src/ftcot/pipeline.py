"""Recipes: the whole method (teach -> curate -> train -> evaluate -> report) from one TOML file.

A recipe names the tasks and one section per stage; the keys of each section are the
fields of that stage's config (the same names as its CLI flags), so nothing is defined
twice. A few keys take lists and expand into a sweep grid (the paper's scaling figures):
`teacher.teacher` and `teacher.diverse`, `curate.train_questions`, and `[[students]]` with `methods`.

Every stage run lives in `RUN/<stage>/<label>-<hash>`, where the hash covers the stage's
settings and the hashes of its inputs: a rerun skips stages whose folder is marked done,
redoes only what changed, and a crashed stage resumes (each stage resumes by itself:
records are keyed, training resumes from its last checkpoint).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ftcot.errors import ConfigError, Incomplete, Interrupted, explain_invalid, unknown_key
from ftcot.manifests import TrainManifest, load_manifest
from ftcot.redact import redact_value

log = logging.getLogger(__name__)

DONE_FILE = "DONE"
STAGES = ("teach", "curate", "train", "eval", "report")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "run"
    description: str = ""
    tasks: list[str]
    teacher: dict[str, Any] = {}
    curate: dict[str, Any] = {}
    students: list[dict[str, Any]] = []
    eval: dict[str, Any] = {}
    baselines: list[dict[str, Any]] = []  # prompt baselines: {model=..., method=zero_shot|zs_cot|fs_cot}
    report: dict[str, Any] = {}


@dataclass
class Stage:
    kind: str  # teach | curate | train | eval | report
    label: str
    settings: dict[str, Any]
    inputs: list[Stage] = field(default_factory=list)
    dir: Path = Path()

    @property
    def key(self) -> str:
        payload = json.dumps(
            {"kind": self.kind, "settings": self.settings, "inputs": [s.key for s in self.inputs]},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:10]

    @property
    def done(self) -> bool:
        """Marked done for these settings, and its outputs complete (older versions of ftcot marked
        unfinished teacher runs done, so the marker alone is not trusted)."""
        marker = self.dir / DONE_FILE
        return marker.is_file() and marker.read_text().strip() == self.key and self.unfinished() is None

    def unfinished(self) -> str | None:
        """What this stage's folder lacks, in words; None when its outputs are complete."""
        return UNFINISHED[self.kind](self)


# --- loading and validation ----------------------------------------------------------------------


def load_recipe(path: str | Path | None = None, text: str | None = None) -> Recipe:
    """Read and validate a recipe, every stage's settings included, before anything runs.

    Errors name the file, the section and key, the bad value and what was expected."""
    source = str(path) if path is not None else "recipe"
    try:
        data = tomllib.loads(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such recipe file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_explain(e, Recipe)}") from None
    for section, allowed in _section_fields().items():
        for where, item in _section_items(recipe, section):
            unknown = sorted(set(item) - allowed)
            if unknown:
                raise unknown_key(unknown[0], sorted(allowed), f"{source}: {where}")
    from ftcot.tasks import get_task

    for task in recipe.tasks:
        get_task(task)  # unknown task names fail now, not after an hour of teaching
    _check_settings(recipe, source)
    return recipe


def _section_items(recipe: Recipe, section: str) -> list[tuple[str, dict]]:
    """(where, settings) of a section: `[teacher]`, or `[[students]][0]`, ... for array tables."""
    value = getattr(recipe, section)
    if isinstance(value, list):
        return [(f"[[{section}]][{i}]", item) for i, item in enumerate(value)]
    return [(f"[{section}]", value)]


def _explain(error: ValidationError, model: type[BaseModel]) -> str:
    first = error.errors()[0]
    if first["type"] == "extra_forbidden":
        key = str(first["loc"][0])
        return str(unknown_key(key, model.model_fields, "the top level"))
    return explain_invalid(error)


def _fields(config: type[BaseModel], set_by_pipeline: set[str]) -> set[str]:
    return set(config.model_fields) - set_by_pipeline


def _section_fields() -> dict[str, set[str]]:
    from ftcot.curate import CurateConfig
    from ftcot.evaluate import EvalConfig
    from ftcot.teach.driver import TeachConfig
    from ftcot.train import APITrainConfig, TrainConfig

    # A student is local (TrainConfig) or hosted (openai:, APITrainConfig): `train_config` tells
    # which settings belong to which, once it knows the student.
    set_by_pipeline = {"data_dir", "out", "method"}
    students = _fields(TrainConfig, set_by_pipeline) | _fields(APITrainConfig, set_by_pipeline)
    return {
        "teacher": _fields(TeachConfig, {"task", "out"}),
        "curate": _fields(CurateConfig, {"run_dir", "out"}),
        "students": students | {"methods"},
        "eval": _fields(EvalConfig, {"model", "task", "method", "out"}),
        "baselines": _fields(EvalConfig, {"task", "out"}),
        "report": {"html", "markdown", "note"},
    }


def _check_settings(recipe: Recipe, source: str) -> None:
    """Build every stage's config once, with stand-ins for what the pipeline fills in (folders, the
    task, the trained model), so a wrong type or value fails before the first stage runs."""
    from ftcot.curate import CurateConfig
    from ftcot.evaluate import EvalConfig
    from ftcot.teach.driver import TeachConfig
    from ftcot.train import train_config

    folder, task = Path("<run>"), recipe.tasks[0] if recipe.tasks else "<task>"
    for teacher, diverse in _teacher_grid(recipe):
        settings = {**recipe.teacher, "teacher": teacher, "diverse": diverse, "task": task, "out": folder}
        _build(TeachConfig, settings, f"{source}: [teacher]")
    for n_train in _as_list(recipe.curate.get("train_questions")):
        data = {**recipe.curate, "train_questions": n_train, "run_dir": folder, "out": folder}
        _build(CurateConfig, data, f"{source}: [curate]")
    for where, student in _section_items(recipe, "students"):
        for method in _as_list(student.get("methods", ["ft_cot"])):
            if method not in ("ft_cot", "vanilla"):
                raise ConfigError(f"{source}: {where}.methods: {method!r} is not one of ft_cot, vanilla")
            settings = {k: v for k, v in student.items() if k != "methods"}
            settings |= {"method": method, "data_dir": folder, "out": folder}
            _build(lambda **given: train_config(given), settings, f"{source}: {where}")
    evaluation = {**recipe.eval, "model": "<student>", "task": task, "method": "ft_cot", "out": folder}
    _build(EvalConfig, evaluation, f"{source}: [eval]")
    for where, baseline in _section_items(recipe, "baselines"):
        _build(EvalConfig, {**recipe.eval, **baseline, "task": task, "out": folder}, f"{source}: {where}")


def _build(config: Callable[..., BaseModel], settings: dict, where: str) -> None:
    try:
        config(**settings)
    except ValidationError as e:
        raise ConfigError(explain_invalid(e, where)) from None
    except ConfigError as e:  # a check across settings (e.g. step_by_step needs ft_cot)
        raise ConfigError(f"{where}: {e}") from None


# --- planning ------------------------------------------------------------------------------------


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _teacher_grid(recipe: Recipe) -> list[tuple[Any, Any]]:
    """(teacher, D) pairs of the `[teacher]` section: `teacher` and `diverse` each take a list."""
    teachers = _as_list(recipe.teacher.get("teacher", "recorded"))
    return [(t, d) for t in teachers for d in _as_list(recipe.teacher.get("diverse", 1))]


def plan(recipe: Recipe, run_dir: Path) -> list[Stage]:
    """Every stage of the recipe, in an order that runs inputs first; teacher output is shared."""
    stages: list[Stage] = []
    curate = dict(recipe.curate)
    evaluation = dict(recipe.eval)
    leaves: list[Stage] = []
    grid = _teacher_grid(recipe)
    for task in recipe.tasks:
        for teacher, diverse in grid:
            teach_settings = {**recipe.teacher, "task": task, "diverse": diverse}
            if "teacher" in recipe.teacher:  # absent stays absent: the stage keys of older runs hold
                teach_settings["teacher"] = teacher
            spec = str(teacher).replace(":", "_").replace("/", "_")
            teach = Stage("teach", f"{task}-{spec}-D{diverse}", teach_settings)
            stages.append(teach)
            leaves.append(teach)
            for n_train in _as_list(curate.get("train_questions")):
                curate_settings = {**curate, "train_questions": n_train}
                data = Stage("curate", f"{task}-D{diverse}-N{n_train or 'all'}", curate_settings, [teach])
                stages.append(data)
                for student, method in _students(recipe):
                    if method == "vanilla" and (teacher, diverse) != grid[0]:
                        continue  # vanilla learns question -> answer: the same rows for every teacher and D
                    settings = {k: v for k, v in student.items() if k != "methods"} | {"method": method}
                    name = str(student["student"]).rsplit("/", 1)[-1].replace(":", "_")
                    train = Stage(
                        "train", f"{task}-{name}-{method}-D{diverse}-N{n_train or 'all'}", settings, [data]
                    )
                    ev = Stage("eval", train.label, {**evaluation, "task": task, "method": method}, [train])
                    stages += [train, ev]
                    leaves += [train, ev]
        for baseline in recipe.baselines:
            settings = {**evaluation, **baseline, "task": task}
            # As a folder name anywhere: llamacpp:MODEL -> llamacpp_MODEL.
            model = str(settings.get("model", "")).rsplit("/", 1)[-1].replace(":", "_")
            ev = Stage("eval", f"{task}-{model}-{settings.get('method', 'zero_shot')}", settings)
            stages.append(ev)
            leaves.append(ev)
    stages.append(Stage("report", recipe.name, {**recipe.report, "name": recipe.name}, leaves))
    for stage in stages:
        stage.dir = run_dir / stage.kind / f"{stage.label}-{stage.key}"
    return stages


def _students(recipe: Recipe) -> list[tuple[dict, str]]:
    out = []
    for student in recipe.students:
        if "student" not in student:
            raise ConfigError(
                "each [[students]] entry needs a `student` (bundled name, folder, .gguf, HF id or openai:BASE_MODEL)"
            )
        for method in _as_list(student.get("methods", ["ft_cot"])):
            if method not in ("ft_cot", "vanilla"):
                raise ConfigError(f"[[students]] methods: {method!r} is not one of ft_cot, vanilla")
            out.append((student, method))
    return out


# --- running -------------------------------------------------------------------------------------


def run(
    recipe: Recipe, run_dir: str | Path, *, dry_run: bool = False, on_stage: Callable | None = None
) -> list[Stage]:
    """Run every stage not yet done, in order. Returns the plan."""
    run_dir = Path(run_dir)
    stages = plan(recipe, run_dir)
    if dry_run:
        return stages
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.json").write_text(json.dumps(redact_value(recipe.model_dump()), indent=2))
    with _sigterm_interrupts():
        for stage in stages:
            done = stage.done
            if on_stage:
                on_stage(stage, "skip" if done else "start")
            if done:
                continue
            started = time.time()
            (stage.dir / DONE_FILE).unlink(missing_ok=True)  # a stale marker over unfinished outputs
            RUNNERS[stage.kind](stage)
            _check_finished(stage)  # no later stage starts on partial outputs
            (stage.dir / DONE_FILE).write_text(stage.key + "\n")
            if on_stage:
                on_stage(stage, f"done in {time.time() - started:.0f}s")
    return stages


def _check_finished(stage: Stage) -> None:
    missing = stage.unfinished()
    if missing is None:
        return
    then = "rerun to fetch only the missing ones" if stage.kind == "teach" else "rerun to resume it"
    manifest = load_manifest(stage.dir)
    status = manifest.status if manifest is not None else None
    raise Incomplete(f"{stage.kind} {stage.label}: {missing}; {then}", status=status)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a run as Ctrl-C does: the stage in progress stops (a teacher first finishes the
    questions in flight), no later stage starts, and `Interrupted` reaches the caller."""

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_teach(stage: Stage) -> None:
    from ftcot.teach.driver import TeachConfig, teach

    teach(TeachConfig(**stage.settings, out=stage.dir))


def _run_curate(stage: Stage) -> None:
    from ftcot.curate import CurateConfig, curate

    curate(CurateConfig(**stage.settings, run_dir=stage.inputs[0].dir, out=stage.dir))


def _run_train(stage: Stage) -> None:
    from ftcot.train import is_api_student, train, train_config

    settings = {**stage.settings, "data_dir": stage.inputs[0].dir, "out": stage.dir}
    if not is_api_student(settings["student"]):  # an API student finds its own job again
        settings["resume"] = (stage.dir / "checkpoints").is_dir()
    train(train_config(settings))


def _run_eval(stage: Stage) -> None:
    from ftcot.evaluate import EvalConfig, evaluate
    from ftcot.train import is_api_student

    settings = dict(stage.settings)
    if stage.inputs:  # a trained student: evaluate its output folder
        settings["model"] = str(stage.inputs[0].dir)
        student = stage.inputs[0].settings
        if is_api_student(student["student"]):  # served where it was trained (the URL as given: unredacted)
            settings["base_url"] = student.get("base_url")
            settings["api_key_env"] = student.get("api_key_env", "OPENAI_API_KEY")
    evaluate(EvalConfig(**settings, out=stage.dir))


def _run_report(stage: Stage) -> None:
    from ftcot.report import report

    stage.dir.mkdir(parents=True, exist_ok=True)
    html = stage.dir / stage.settings.get("html", "report.html")
    markdown = stage.dir / stage.settings.get("markdown", "report.md")
    title = f"ftcot report: {stage.settings['name']}"
    report([s.dir for s in stage.inputs], html, markdown, title=title, note=stage.settings.get("note", ""))


RUNNERS: dict[str, Callable[[Stage], None]] = {
    "teach": _run_teach,
    "curate": _run_curate,
    "train": _run_train,
    "eval": _run_eval,
    "report": _run_report,
}


# --- is a stage finished? ------------------------------------------------------------------------


def _teach_unfinished(stage: Stage) -> str | None:
    from ftcot.teach.driver import TeachConfig, unfinished

    return unfinished(TeachConfig(**stage.settings, out=stage.dir))


def _status_unfinished(stage: Stage, finished: str) -> str | None:
    """Curate, train and eval write their manifest's final status only after every output is written."""
    manifest = load_manifest(stage.dir)
    if manifest is None or manifest.stage != stage.kind:
        return "no outputs yet"
    status = manifest.status
    if status is None and stage.kind in ("curate", "train"):
        status = "complete"  # curate and train manifests from before `status` were only written at the end
    return None if status == finished else f"did not finish (status {status})"


def _train_unfinished(stage: Stage) -> str | None:
    """A local student is finished when its manifest says so; an API student also needs the
    fine-tuned model's id, which its evaluation prompts."""
    missing = _status_unfinished(stage, "complete")
    manifest = load_manifest(stage.dir) if missing is None else None
    api = manifest.api if isinstance(manifest, TrainManifest) else None
    if api is not None and not api.fine_tuned_model:
        return "the fine-tuning job named no fine-tuned model"
    return missing


def _report_unfinished(stage: Stage) -> str | None:
    html = stage.dir / stage.settings.get("html", "report.html")
    return None if html.is_file() else f"no {html.name} yet"


UNFINISHED: dict[str, Callable[[Stage], str | None]] = {
    "teach": _teach_unfinished,
    "curate": lambda stage: _status_unfinished(stage, "complete"),
    "train": _train_unfinished,
    "eval": lambda stage: _status_unfinished(stage, "done"),
    "report": _report_unfinished,
}


def builtin_recipe(name: str) -> str:
    """The text of a recipe shipped with ftcot (src/ftcot/recipes/NAME.toml)."""
    try:
        return resources.files("ftcot").joinpath(f"recipes/{name}.toml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no built-in recipe {name!r}") from None


# `ftcot demo`: its parts, in the order it runs them (subfolder of the demo's run folder -> the
# built-in recipe): what Fine-tune-CoT does (Coin Flip, minutes), then what diverse reasoning adds.
DEMO_PARTS = {"coin-flip": "demo_coin_flip", "diverse": "demo"}

# The `--quick` demo: the same pipeline on a subset, to see every stage run (5 minutes on 2 quiet
# CPU cores, README); too small to show the method.
QUICK_OVERRIDES = {
    "curate": {"train_questions": 16},
    "students": {"epochs": 1, "val_limit": 0},
    "eval": {"limit": 16},
    "report": {"note": "Quick demo: 16 training questions, 1 epoch, 16 test questions. Not a result."},
}


def quick(recipe: Recipe) -> Recipe:
    data = recipe.model_dump()
    data["curate"] = {**data["curate"], **QUICK_OVERRIDES["curate"]}
    data["students"] = [{**s, **QUICK_OVERRIDES["students"]} for s in data["students"]]
    data["eval"] = {**data["eval"], **QUICK_OVERRIDES["eval"]}
    data["report"] = {**data["report"], **QUICK_OVERRIDES["report"]}
    data["name"] = f"{recipe.name}-quick"
    return Recipe.model_validate(data)


def estimate_cost(stages: list[Stage]) -> float | None:
    """An upper bound on the teacher cost (US$) of the teach stages not yet done; None when nothing is paid."""
    from ftcot.teach.driver import TeachConfig, estimate

    costs = [
        estimate(TeachConfig(**stage.settings, out=stage.dir)).get("cost_at_most") or 0.0
        for stage in stages
        if stage.kind == "teach" and not stage.done
    ]
    return sum(costs) if any(costs) else None
