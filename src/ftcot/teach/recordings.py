"""Recorded live teachers shipped with ftcot: `--teacher recorded:NAME` replays them, zero requests.

A recording is a folder `ftcot/data/recordings/NAME/` holding, per task and split, the
completion records of one diverse teacher run (`TASK-SPLIT.jsonl.gz`) and `recording.json`
(what made it: teacher, sampling, the command, the time it took, the licence of the
outputs). Records keep their sample index, so `--diverse D` replays indices 0..D-1: D=1, 2,
4 and 8 are prefixes of the same samples, as the paper's diverse-reasoning curve needs.
`pack()` makes a recording from a finished teach folder.
"""

from __future__ import annotations

import gzip
import json
import logging
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ftcot.errors import ConfigError, DataError
from ftcot.records import Completion, read_manifest, read_records
from ftcot.tasks import get_task

log = logging.getLogger(__name__)

RECORDING_FILE = "recording.json"


class RecordingPart(BaseModel):
    """One task and split of a recording."""

    model_config = ConfigDict(extra="forbid")

    task: str
    split: str
    file: str
    questions: int
    diverse: int
    records: int
    accuracy: float  # % of records whose answer is right
    command: str = ""
    elapsed_s: float | None = None
    temperature: float | None = (
        None  # when not the recording's: a greedy (T=0) test split beside sampled train
    )
    split_questions: int | None = None  # the split's size, when the part holds only its first `questions`


class Recording(BaseModel):
    """`recording.json`: a shipped teacher run."""

    model_config = ConfigDict(extra="forbid")

    name: str
    teacher: str  # the spec that made it, e.g. llamacpp:qwen2.5-coder-0.5b
    model: str  # the model's full name
    temperature: float
    top_p: float
    max_tokens: int
    chat: bool
    licence: str  # of the model whose outputs these are
    machine: str = ""
    parts: list[RecordingPart] = []

    def temperature_of(self, part: RecordingPart) -> float:
        return self.temperature if part.temperature is None else part.temperature

    def contents(self) -> str:
        """What it holds, for help texts: `multiarith/train 420×8, single_eq/train 250×8 (first 250 of 356)`."""
        return ", ".join(
            f"{p.task}/{p.split} {p.questions}×{p.diverse}"
            + (f" (first {p.questions} of {p.split_questions})" if p.split_questions else "")
            for p in self.parts
        )

    def part(self, task: str, split: str) -> RecordingPart:
        for part in self.parts:
            if (part.task, part.split) == (task, split):
                return part
        have = ", ".join(f"{p.task}/{p.split}" for p in self.parts)
        raise ConfigError(f"recorded:{self.name} holds no {task}/{split} (it has: {have})")


def recordings_root() -> Path:
    return Path(str(resources.files("ftcot").joinpath("data/recordings")))


def available() -> dict[str, Recording]:
    """Every shipped recording, by name."""
    root = recordings_root()
    if not root.is_dir():
        return {}
    found = {}
    for manifest in sorted(root.glob(f"*/{RECORDING_FILE}")):
        found[manifest.parent.name] = load(manifest.parent.name)
    return found


def load(name: str) -> Recording:
    path = recordings_root() / name / RECORDING_FILE
    if not path.is_file():
        names = ", ".join(sorted(p.parent.name for p in recordings_root().glob(f"*/{RECORDING_FILE}")))
        raise ConfigError(
            f"no recorded teacher {name!r}; shipped: {names or 'none'}, and 'recorded' (text-davinci-002)"
        )
    try:
        return Recording.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise DataError(f"not a valid recording manifest ({e})", path=path) from None


def replay(name: str, task: str, split: str, diverse: int) -> tuple[Recording, list[Completion]]:
    """The records of sample indices 0..diverse-1, in file order."""
    recording = load(name)
    part = recording.part(task, split)
    if diverse > part.diverse:
        raise ConfigError(
            f"recorded:{name} has D={part.diverse} rationales per question; --diverse {diverse} asks for more"
        )
    path = recordings_root() / name / part.file
    records = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                record = Completion.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError) as e:
                raise DataError(f"not a completion record ({e})", path=path, line=line_no) from None
            if record.sample_index < diverse:
                records.append(record)
    return recording, records


def pack(
    teach_dir: Path,
    name: str,
    *,
    licence: str,
    command: str = "",
    machine: str = "",
    elapsed_s: float | None = None,
    out_root: Path | None = None,
) -> Path:
    """Add a finished teach folder's records to recording NAME (created if new); returns its folder.
    `elapsed_s`: the generation's wall time when the folder's own last run does not tell it (a
    prefix replayed from the cache)."""
    manifest = read_manifest(teach_dir)
    if manifest.get("status") != "complete":
        raise ConfigError(
            f"{teach_dir}: the teach run is {manifest.get('status')!r}, not complete; finish it first"
        )
    records = sorted(read_records(teach_dir), key=lambda r: (r.sample_id, r.sample_index))
    job = manifest["job"]
    folder = (out_root or recordings_root()) / name
    folder.mkdir(parents=True, exist_ok=True)
    existing = folder / RECORDING_FILE
    if existing.is_file():
        recording = Recording.model_validate_json(existing.read_text(encoding="utf-8"))
    else:
        recording = Recording(
            name=name, teacher=job["teacher"], model=manifest["backend"].get("model", job["teacher"]),
            temperature=job["temperature"], top_p=job["top_p"], max_tokens=job["max_tokens"],
            chat=job["chat"], licence=licence, machine=machine,
        )  # fmt: skip
    for field in ("teacher", "top_p", "max_tokens", "chat"):  # the temperature may differ by part
        if getattr(recording, field) != job[field]:
            raise ConfigError(
                f"{teach_dir} was made with {field}={job[field]!r}; recording {name} has {getattr(recording, field)!r}"
            )
    file = f"{job['task']}-{job['split']}.jsonl.gz"
    in_split = len(get_task(job["task"]).split_ids(job["split"]))
    # mtime=0 and no name in the gzip header: packing the same records again gives the same bytes,
    # so re-packing one part leaves the recording's other (committed) parts unchanged.
    text = "".join(record.to_json() + "\n" for record in records)
    with (
        (folder / file).open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f,
    ):
        f.write(text.encode("utf-8"))
    part = RecordingPart(
        task=job["task"], split=job["split"], file=file, questions=manifest["questions"],
        diverse=manifest["diverse"], records=len(records),
        accuracy=round(100 * sum(bool(r.correct) for r in records) / max(1, len(records)), 2),
        command=command, elapsed_s=elapsed_s or (manifest.get("last_run") or {}).get("elapsed_s"),
        temperature=None if job["temperature"] == recording.temperature else job["temperature"],
        split_questions=in_split if manifest["questions"] < in_split else None,
    )  # fmt: skip
    recording.parts = [p for p in recording.parts if (p.task, p.split) != (part.task, part.split)] + [part]
    existing.write_text(recording.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return folder


def teach_from_recording(config, task, samples) -> Path:
    """The teacher stage for `recorded:NAME`: the recording's records for these samples, D of each."""
    from ftcot.manifests import BackendInfo, TeachManifest
    from ftcot.records import RecordWriter, write_manifest

    _, name = config.teacher.split(":", 1)
    recording, records = replay(name, task.name, config.split, config.diverse)
    wanted = {s.id for s in samples}
    records = [r for r in records if r.sample_id in wanted]
    have = {(r.sample_id, r.sample_index) for r in records}
    missing = len(wanted) * config.diverse - len(have)
    manifest = TeachManifest(
        method="zs_cot",
        teacher=config.teacher,
        backend=BackendInfo(backend="recorded", model=recording.model, recording=name),
        task=task.name,
        split=config.split,
        diverse=config.diverse,
        limit=config.limit,
        questions=len(samples),
        job=config.job(),
    )
    with RecordWriter(config.out, manifest=manifest.replace(status="running")) as writer:
        for record in records:
            writer.write(record)
    status = "complete" if missing == 0 else "incomplete"
    write_manifest(config.out, manifest.replace(status=status, samples=len(records), samples_missing=missing))
    if missing:
        part = recording.part(task.name, config.split)
        log.warning(
            "recorded:%s holds the first %d questions of %s/%s, not all %d asked for: %d samples missing "
            "(--limit %d replays what it holds)",
            name, part.questions, task.name, config.split, len(samples), missing, part.questions,
        )  # fmt: skip
    return config.out
