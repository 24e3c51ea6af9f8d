"""Completion records: the on-disk format in which every teacher and every evaluated model writes.

A run folder holds ``completions.jsonl`` (one record a line, appended as records finish)
and ``manifest.json`` (what made it and how it ended: a stage's typed model, `ftcot.manifests`).
Records are keyed by (task, sample_id, sample_index); a run that is killed at any moment
resumes by skipping the keys already written. A torn last line (kill mid-write) is cut
off on open, so nothing is duplicated and nothing finished is lost. One process at a time
writes a folder: the writer holds an OS lock on ``.lock`` (released by the OS however the
process ends), so a second writer fails at once, or waits if asked.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from ftcot.answers import PREFIXES, AnswerFormat, check
from ftcot.errors import DataError, FtcotError

# Re-exported: manifests and metrics live in their own modules; these names are older than them.
from ftcot.manifests import (  # noqa: F401
    MANIFEST_FILE,
    Manifest,
    code_version,
    load_manifest,
    read_manifest,
    write_manifest,
)
from ftcot.metrics import score, wilson_interval  # noqa: F401

log = logging.getLogger(__name__)

RECORDS_FILE = "completions.jsonl"
LOCK_FILE = ".lock"


@dataclass
class Completion:
    task: str
    sample_id: int
    sample_index: int = 0  # which of the D samples for this question (diverse reasoning)
    split: str = ""
    method: str = "zs_cot"  # zero_shot | zs_cot | fs_cot | ft_cot | vanilla
    question: str = ""
    gold: str = ""
    answer_type: str = ""  # AnswerFormat, compact form
    prompt: str = ""  # step-1 prompt (the only prompt for one-step methods)
    rationale: str | None = None  # step-1 completion as generated (zs_cot), or the part before '-->' (ft_cot)
    answer_prompt: str | None = None  # step-2 prompt (zs_cot)
    answer_text: str = ""  # the text that is scored: step-2 completion, or the whole one-step completion
    prediction: str | None = None
    correct: bool | None = None
    finish_reason: str | None = None  # of the scored step: stop | length | content_filter | ...
    rationale_finish_reason: str | None = None
    usage: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens, summed over steps
    model: str = ""
    params: dict = field(default_factory=dict)  # temperature, top_p, max_tokens, ...
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.task, self.sample_id, self.sample_index)

    def to_dict(self) -> dict:
        # A shallow dict: asdict() deep-copies every nested dict, which dominates cached replays.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> Completion:
        return cls(**{k: v for k, v in d.items() if k in _FIELD_NAMES})

    @classmethod
    def scored(
        cls, sample, index: int, *, split: str, method: str, steps: Sequence = (), **fields
    ) -> Completion:
        """The scored record of sample `index` of a question (a `ftcot.tasks.Sample`): its task, id,
        question, gold answer and answer type, the token usage summed over `steps` (the generations
        that made it, any with `prompt_tokens` and `completion_tokens`; none: usage unknown), and
        `fields` as given. The live teacher, the recorded teacher's logs and the student evaluator
        all make their records here."""
        usage = {
            "prompt_tokens": sum(g.prompt_tokens for g in steps),
            "completion_tokens": sum(g.completion_tokens for g in steps),
        } if steps else {}  # fmt: skip
        return cls(
            task=sample.task, sample_id=sample.id, sample_index=index, split=split, method=method,
            question=sample.question, gold=sample.answer, answer_type=sample.answer_type, usage=usage,
            **fields,
        ).rescore()  # fmt: skip

    def rescore(self) -> Completion:
        """Parse and check `answer_text` with the shared checker (fills prediction and correct)."""
        fmt = AnswerFormat.parse(self.answer_type)
        verdict = check(self.answer_text, self.gold, fmt, PREFIXES.get(self.method), self.finish_reason)
        self.prediction, self.correct = verdict.prediction, verdict.correct
        return self


_FIELD_NAMES = tuple(f.name for f in fields(Completion))


def read_records(path: str | Path) -> list[Completion]:
    """Records of a run folder (or a .jsonl file). A torn last line is ignored; other bad lines raise.

    A key written twice (two writers on one folder, before folders were locked) is read once:
    see `_keep_first`."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORDS_FILE
    if not path.exists():
        raise DataError("no completion records here (run a teacher or an evaluation first)", path=path)
    records: list[Completion] = []
    first_line: dict[tuple[str, int, int], tuple[int, Completion]] = {}
    duplicates = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            if line_no == len(lines):  # a torn last line from a killed writer: not a finished record
                continue
            raise DataError(f"not valid JSON ({e.msg})", path=path, line=line_no) from e
        for name in ("task", "sample_id"):
            if name not in data:
                raise DataError("missing required field", path=path, line=line_no, field=name)
        record = Completion.from_dict(data)
        if record.key in first_line:
            _keep_first(path, first_line[record.key], (line_no, record))
            duplicates.append(line_no)
            continue
        first_line[record.key] = (line_no, record)
        records.append(record)
    if duplicates:
        log.warning(
            "%s: %d record(s) repeat a (task, sample_id, sample_index) already read (lines %s); "
            "the first of each is kept (two writers once shared this folder)",
            path, len(duplicates), _line_list(duplicates),
        )  # fmt: skip
    return records


def _keep_first(path: Path, first: tuple[int, Completion], again: tuple[int, Completion]) -> None:
    """Accept a repeated key only if both records answer the same request.

    Two records for one key that agree on model and prompt are two draws of one request (two
    writers raced on the folder): the first is the one a resuming writer treated as done, and
    counting both would weight that sample twice, so the reader keeps the first and warns.
    Refusing instead would leave every folder written before the lock unreadable with no tool
    to repair it. Records that disagree were made by different jobs, and nothing says which
    one the folder is for: those are refused."""
    (first_no, a), (again_no, b) = first, again
    if (a.model, a.prompt, a.method) != (b.model, b.prompt, b.method):
        raise DataError(
            f"lines {first_no} and {again_no} both hold {a.key} but were made differently "
            f"(model {a.model!r} vs {b.model!r}, or another prompt or method): this folder mixes two jobs; "
            "move one of the lines out, or rerun into a fresh folder",
            path=path,
        )


def _line_list(numbers: list[int], shown: int = 5) -> str:
    more = f", ... ({len(numbers) - shown} more)" if len(numbers) > shown else ""
    return ", ".join(map(str, numbers[:shown])) + more


class RunFolderBusy(FtcotError):
    """Another process is writing this run folder."""


class RunFolderLock:
    """One writer per run folder: an exclusive `flock` on `<folder>/.lock`.

    The OS drops the lock when its holder exits, however it exits (kill -9 too), so a lock file
    left behind never blocks anyone; its content only names the holder for the error message.
    """

    def __init__(self, run_dir: str | Path, *, wait: bool = False):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder()
            if not wait:
                self._close()
                raise RunFolderBusy(
                    f"{self.path.parent} is being written by another process ({holder}); "
                    "wait for it to finish, or give another output folder. One process writes a run "
                    "folder at a time, so that no record is written or paid for twice."
                ) from None
            log.warning("%s is being written by %s; waiting for it to finish", self.path.parent, holder)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._close()
            raise
        self._write_holder()

    def _holder(self) -> str:
        try:
            info = json.loads(os.pread(self._fd, 4096, 0) or b"{}")
        except (OSError, json.JSONDecodeError):
            info = {}
        if "pid" not in info:
            return "a process that has not named itself yet"
        return f"pid {info['pid']} on {info.get('host', '?')}, `{info.get('command', '?')}`, started {info.get('started', '?')}"

    def _write_holder(self) -> None:
        # Only the program and its subcommand: the options may carry a URL with credentials.
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv and sys.argv[0] else "python"
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # a free folder names no holder
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class RecordWriter:
    """Append-only writer of a run folder; each record is one write of one whole line.

    The folder's lock is taken before anything is read, repaired or written, and held until
    `close()`: a second writer raises `RunFolderBusy` naming the holder, or waits if `wait`."""

    def __init__(self, run_dir: str | Path, manifest: Manifest | dict | None = None, *, wait: bool = False):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RECORDS_FILE
        self._fd: int | None = None
        self.lock = RunFolderLock(self.dir, wait=wait)
        try:
            self._repair_torn_tail()
            self.done: set[tuple[str, int, int]] = set()
            if self.path.exists():
                self.done = {r.key for r in read_records(self.path)}
            if manifest is not None:
                write_manifest(self.dir, manifest)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            self.lock.release()
            raise
        self._since_sync = 0

    def _repair_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            content = f.read()
            f.truncate(content.rfind(b"\n") + 1)

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self.done

    def write(self, record: Completion) -> None:
        if record.key in self.done:
            return
        os.write(self._fd, (record.to_json() + "\n").encode("utf-8"))
        self.done.add(record.key)
        self._since_sync += 1
        if self._since_sync >= 64:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)
        self._since_sync = 0

    def close(self) -> None:
        """Flush, close and release the folder's lock (so write a final manifest before this)."""
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None
        self.lock.release()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line; bad JSON raises a DataError naming the line."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON ({e.msg})", path=path, line=line_no) from e
