"""Find and read run folders: evaluations, teacher runs and training runs, told apart by their manifest.

A run folder is recognised by `manifest.json`'s `stage` ('eval', 'teach', 'curate', 'train'),
else by what it holds (completion records: an evaluation; per-epoch history: training).
A folder that is none of these is searched two levels down, so `ftcot report runs/` and
`ftcot report runs/demo` (a recipe's RUN/<stage>/<run> folders) work.
Manifests are written by different stages and versions: every field is read defensively, and
what a student was trained on (the teacher's D, training questions and rows) is read from the
`dataset` block the curate stage writes and the train stage carries, never inferred from the data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ftcot.errors import DataError
from ftcot.records import RECORDS_FILE, Completion, read_manifest, read_records

log = logging.getLogger(__name__)

KINDS = ("eval", "teach", "curate", "train")
# Where per-epoch rows live: the train stage writes metrics.epochs; others may write history etc.
HISTORY_KEYS = ("epochs", "history", "log_history", "metrics")
PARAMS_KEYS = ("model_params", "parameters", "num_parameters", "n_params")


@dataclass
class Run:
    path: Path
    kind: str  # eval | teach | curate | train
    manifest: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.path.name)

    @cached_property
    def records(self) -> list[Completion]:
        if not (self.path / RECORDS_FILE).exists():
            return []
        return [r.rescore() for r in read_records(self.path)]

    @cached_property
    def metrics(self) -> dict:
        """Metrics of the records, re-checked with today's shared checker; else a saved metrics.json."""
        from ftcot.evaluate import METRICS_FILE, compute_metrics

        if self.records:
            return compute_metrics(self.records)
        saved = self.path / METRICS_FILE
        try:
            return json.loads(saved.read_text()) if saved.exists() else {}
        except json.JSONDecodeError:
            log.warning("%s: not valid JSON; this run has no metrics in the report", saved)
            return {}

    def get(self, name: str, default=None):
        """A manifest field, else the same field of the first record (task, model, method, split)."""
        value = self.manifest.get(name)
        if value in (None, "") and self.records:
            value = getattr(self.records[0], name, None)
        return default if value in (None, "") else value

    @property
    def task(self) -> str:
        return str(self.get("task", "?"))

    @property
    def model(self) -> str:
        model = self.get("model", "?")
        if isinstance(model, dict):  # the train stage: {"student": ..., "checkpoint": ..., "parameters": ...}
            model = model.get("student") or model.get("checkpoint") or "?"
        # A student is a folder: its name says which (runs/train/smollm2-d8 -> smollm2-d8).
        return Path(str(model)).name if "/" in str(model) else str(model)

    @property
    def method(self) -> str:
        """The method of the run; for a student's evaluation, how the student was trained (its train
        manifest's student_format: a step-by-step student is prompted with the vanilla-format label task)."""
        trained = self.student_manifest.get("student_format")
        if isinstance(trained, dict) and trained.get("trained_as"):
            return str(trained["trained_as"])
        return str(self.get("method", "zs_cot" if self.kind == "teach" else "?"))

    @property
    def params(self) -> int | None:
        value = find_number(self.manifest, PARAMS_KEYS)
        return int(value) if value else None

    @property
    def student_manifest(self) -> dict:
        """What made the evaluated model: its folder's manifest (a trained student's), copied at eval time."""
        return self.manifest.get("model_manifest") or {} if self.kind == "eval" else {}

    @property
    def is_student(self) -> bool:
        """An evaluation of a trained student (its folder's train manifest came along), or a training run."""
        return self.kind == "train" or self.student_manifest.get("stage") == "train"

    @property
    def dataset(self) -> dict:
        """What the student was trained on, as the curate stage stated it and the train stage carried it:
        teacher, diverse (D), train_questions, train_rows, trained_rows... ({} when no stage stated it)."""
        manifest = self.manifest if self.kind in ("train", "curate") else self.student_manifest
        dataset = manifest.get("dataset")
        return dataset if isinstance(dataset, dict) else {}

    def _fact(self, key: str) -> int | None:
        value = self.dataset.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def diverse_degree(self) -> int | None:
        """The teacher's D (rationales sampled per question): its setting, not what survived curation."""
        return self._fact("diverse")

    @property
    def train_questions(self) -> int | None:
        return self._fact("train_questions")

    @property
    def train_rows(self) -> int | None:
        """Rows the student was trained on (with D > 1, several per question)."""
        return self._fact("trained_rows")


def find_value(data, keys: tuple[str, ...], depth: int = 3, want=(int, float)):
    """The first value of type `want` stored under one of `keys`, searching nested dicts breadth first."""
    level = [data]
    for _ in range(depth + 1):
        for d in level:
            for k in keys:
                value = d.get(k) if isinstance(d, dict) else None
                if isinstance(value, want) and not isinstance(value, bool):
                    return value
        level = [v for d in level if isinstance(d, dict) for v in d.values() if isinstance(v, dict)]
    return None


def find_number(data, keys: tuple[str, ...], depth: int = 3) -> float | None:
    value = find_value(data, keys, depth)
    return None if value is None else float(value)


def _history_like(manifest: dict) -> bool:
    return any(isinstance(manifest.get(k), list) and manifest[k] for k in HISTORY_KEYS)


def detect_kind(folder: Path) -> tuple[str, dict] | None:
    """(kind, manifest) of a run folder, or None when the folder is not a run."""
    try:
        manifest = read_manifest(folder)
    except DataError as e:
        log.warning("%s", e)
        manifest = {}
    stage = str(manifest.get("stage", "")).lower()
    for kind in KINDS:
        if stage.startswith(kind):  # 'teach', 'teacher', 'training' ...
            return kind, manifest
    if (folder / RECORDS_FILE).exists():
        return "eval", manifest
    if _history_like(manifest) or (folder / "trainer_state.json").exists():
        return "train", manifest
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
                "no runs here (no manifest.json with a stage, no completions.jsonl, in it or two levels down)",
                path=path,
            )
        runs += found
    return runs


def runs_under(folder: Path, depth: int) -> list[Run]:
    """The folder if it is a run, else the runs among its subfolders, searched `depth` levels down."""
    found = detect_kind(folder)
    if found is not None:
        return [Run(folder, *found)]
    if depth == 0:
        return []
    children = sorted(p for p in folder.iterdir() if p.is_dir())
    return [run for child in children for run in runs_under(child, depth - 1)]


def epoch_history(run: Run) -> dict[str, list[tuple[float, float]]]:
    """Per-epoch series of a training run: {'train_loss': [(epoch, value), ...], 'val_accuracy': ...}.

    Accepts a list of per-epoch dicts under one of HISTORY_KEYS (or a Hugging Face
    trainer_state.json's log_history), or a dict of equal-length lists.
    """
    metrics = run.manifest.get("metrics") if isinstance(run.manifest.get("metrics"), dict) else {}
    places = [run.manifest.get(k) for k in HISTORY_KEYS] + [metrics.get(k) for k in HISTORY_KEYS]
    rows = next((p for p in places if isinstance(p, list) and p and isinstance(p[0], dict)), None)
    if rows is None and metrics:
        columns = {k: v for k, v in metrics.items() if isinstance(v, list)}
        rows = [
            {k: v[i] for k, v in columns.items() if i < len(v)}
            for i in range(max(map(len, columns.values()), default=0))
        ]
    state = run.path / "trainer_state.json"
    if rows is None and state.exists():
        rows = json.loads(state.read_text()).get("log_history", [])
    series: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows or []):
        if not isinstance(row, dict):
            continue
        epoch = row.get("epoch", i + 1)
        for key, value in row.items():
            wanted = "loss" in key or "acc" in key
            if (
                wanted
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and isinstance(epoch, int | float)
            ):
                series.setdefault(key, []).append((float(epoch), float(value)))
    return series
