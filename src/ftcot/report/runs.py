"""Find and read run folders: evaluations, teacher runs, curated data and training runs.

A run folder is one with a `manifest.json` (its stage says what it is: `ftcot.manifests`), or
completion records without one (an evaluation). A folder that is neither is searched two levels
down, so `ftcot report runs/` and `ftcot report runs/demo` (a recipe's RUN/<stage>/<run>
folders) work. Every fact is read from the manifest's typed fields, never searched for: what a
student was trained on (the teacher's D, training questions and rows) is the `dataset` block the
curate stage states and the train stage carries, and a fact no manifest states is None ('?').
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ftcot.errors import DataError
from ftcot.manifests import (
    CurateManifest,
    DatasetFacts,
    EvalManifest,
    StageManifest,
    TeachManifest,
    TrainManifest,
    load_manifest,
)
from ftcot.metrics import compute_metrics
from ftcot.records import RECORDS_FILE, Completion, read_records

# How the paper and its readers name the methods.
METHOD_NAMES = {
    "ft_cot": "Fine-tune-CoT",
    "vanilla": "vanilla",
    "zs_cot": "Zero-shot-CoT",
    "zero_shot": "zero-shot",
    "fs_cot": "Few-shot-CoT",
    "step_by_step": "Distilling step-by-step",
}


@dataclass
class Run:
    path: Path
    manifest: StageManifest

    @property
    def kind(self) -> str:
        """eval | teach | curate | train"""
        return self.manifest.stage

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """The run as people name it: "smollm2 · Fine-tune-CoT · D=8", from its manifests (never the
        folder's hash); a run whose manifests do not say falls back to its folder name."""
        student = self.student_manifest if self.kind == "eval" else self.manifest
        if isinstance(student, TrainManifest) and student.model and student.model.student:
            base = Path(str(student.model.student)).name
        elif self.kind in ("eval", "teach") and self.model != "?":
            base = self.model
        else:
            return self.name
        parts = [base, METHOD_NAMES.get(self.method, self.method)]
        if (
            self.is_student and self.diverse_degree and self.method != "vanilla"
        ):  # vanilla learns no rationale
            parts.append(f"D={self.diverse_degree}")
        if self.seed:  # seed 0 is the default; others tell repeated students apart
            parts.append(f"seed {self.seed}")
        if isinstance(self.manifest, EvalManifest) and self.manifest.calculator:
            parts.append("calculator")
        return " · ".join(parts)

    @cached_property
    def records(self) -> list[Completion]:
        if not (self.path / RECORDS_FILE).exists():
            return []
        return [r.rescore() for r in read_records(self.path)]

    @cached_property
    def metrics(self) -> dict:
        """Metrics of the records, re-checked with today's shared checker; else those the manifest saved."""
        if self.records:
            return compute_metrics(self.records)
        saved = self.manifest.metrics if isinstance(self.manifest, EvalManifest) else None
        return saved or {}

    def _first_record(self, name: str) -> str | None:
        """A field of the first record, for folders whose manifest does not state it (or that have none)."""
        if not self.records:
            return None
        return getattr(self.records[0], name) or None

    @property
    def _prompted(self) -> TeachManifest | EvalManifest | None:
        """The manifest of a run that prompted a model (teach, eval): they state task, split and method."""
        return self.manifest if isinstance(self.manifest, TeachManifest | EvalManifest) else None

    @property
    def task(self) -> str:
        stated = self._prompted.task if self._prompted else None
        return stated or self._first_record("task") or "?"

    @property
    def split(self) -> str:
        stated = self._prompted.split if self._prompted else None
        return stated or self._first_record("split") or "?"

    @property
    def model(self) -> str:
        """The model that wrote the run: a student by its folder name (runs/train/smollm2-d8 -> smollm2-d8)."""
        m = self.manifest
        if isinstance(m, TrainManifest):
            model = (m.model.student or m.model.checkpoint) if m.model else None
        elif isinstance(m, TeachManifest):
            model = (
                m.backend.model if m.backend and m.backend.model else self._first_record("model") or m.teacher
            )
        elif isinstance(m, EvalManifest):
            model = m.model or self._first_record("model")
            if model == "recorded" and m.served and m.served.backend and m.served.backend.model:
                model = f"{m.served.backend.model} (recorded)"  # the paper's teacher's logs, by its name
        else:
            model = None
        model = str(model or "?")
        return Path(model).name if "/" in model else model

    @property
    def method(self) -> str:
        """The method of the run; for a student's evaluation, how the student was trained (its train
        manifest's student_format: a step-by-step student is prompted with the vanilla-format label task)."""
        student = self.manifest if isinstance(self.manifest, TrainManifest) else self.student_manifest
        if student is not None and student.student_format:
            trained = student.student_format.trained_as or student.student_format.method
            if trained:
                return trained
        stated = self._prompted.method if self._prompted else None
        return stated or self._first_record("method") or ("zs_cot" if self.kind == "teach" else "?")

    @property
    def params(self) -> int | None:
        m = self.manifest
        if isinstance(m, EvalManifest):
            return m.model_params
        if isinstance(m, TrainManifest) and m.model:
            return m.model.parameters
        return None

    @property
    def student_manifest(self) -> TrainManifest | None:
        """What made the evaluated model: its folder's train manifest, copied at eval time."""
        return self.manifest.model_manifest if isinstance(self.manifest, EvalManifest) else None

    @property
    def is_student(self) -> bool:
        """An evaluation of a trained student (its folder's train manifest came along), or a training run."""
        return self.kind == "train" or self.student_manifest is not None

    @property
    def dataset(self) -> DatasetFacts:
        """What the student was trained on, as the curate stage stated it and the train stage carried it:
        teacher, diverse (D), train_questions, train_rows, trained_rows... (all None when no stage stated it)."""
        m = self.manifest
        manifest = m if isinstance(m, TrainManifest | CurateManifest) else self.student_manifest
        return manifest.dataset if manifest is not None and manifest.dataset is not None else DatasetFacts()

    @property
    def diverse_degree(self) -> int | None:
        """The teacher's D (rationales sampled per question): its setting, not what survived curation."""
        return self.dataset.diverse

    @property
    def seed(self) -> int | None:
        """A student's training seed, as its train manifest's hyperparameters state it."""
        m = self.manifest if isinstance(self.manifest, TrainManifest) else self.student_manifest
        return (m.hyperparameters or {}).get("seed") if m is not None else None

    @property
    def train_questions(self) -> int | None:
        return self.dataset.train_questions

    @property
    def train_rows(self) -> int | None:
        """Rows the student was trained on (with D > 1, several per question)."""
        return self.dataset.trained_rows


def read_run(folder: Path) -> Run | None:
    """The run in a folder, or None when the folder is not a run. A manifest that does not fit its
    stage's model raises (a DataError naming it): a report never shows what a file did not say."""
    manifest = load_manifest(folder)
    if manifest is not None:
        return Run(folder, manifest)
    if (folder / RECORDS_FILE).exists():  # records without a manifest: an evaluation's
        return Run(folder, EvalManifest())
    return None


def find_runs(paths: list[str | Path]) -> list[Run]:
    """Runs in the given folders: each folder is a run, holds runs (`runs/`), or is a recipe's run
    folder holding them one level further down (`runs/demo/<stage>/<run>`, as `ftcot run` writes)."""
    runs = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise DataError("not a folder: give run folders (or folders of runs)", path=path)
        found = runs_under(path, depth=2)
        if not found:
            raise DataError(
                "no runs here (no manifest.json, no completions.jsonl, in it or two levels down)",
                path=path,
            )
        runs += found
    return runs


def runs_under(folder: Path, depth: int) -> list[Run]:
    """The folder if it is a run, else the runs among its subfolders, searched `depth` levels down."""
    run = read_run(folder)
    if run is not None:
        return [run]
    if depth == 0:
        return []
    children = sorted(p for p in folder.iterdir() if p.is_dir())
    return [run for child in children for run in runs_under(child, depth - 1)]


def epoch_history(run: Run) -> dict[str, list[tuple[float, float]]]:
    """Per-epoch series of a training run, as its manifest's metrics.epochs states them:
    {'train_loss': [(epoch, value), ...], 'val_accuracy': [...]}."""
    manifest = run.manifest
    if not isinstance(manifest, TrainManifest) or manifest.metrics is None:
        return {}
    series: dict[str, list[tuple[float, float]]] = {}
    for row in manifest.metrics.epochs:
        for key in ("train_loss", "val_accuracy"):
            value = getattr(row, key)
            if value is not None:
                series.setdefault(key, []).append((float(row.epoch), float(value)))
    return series
