"""The generation cache: one SQLite file (WAL) shared by every run, so no request is ever paid twice.

A generation is keyed by the sha256 of what determines it: backend, model, the rendered
prompt, the sampling parameters (without n) and the sample index. The base URL and the
API key are not part of the key (the same model served elsewhere gives the same job), and
keys are never stored. Each insert commits on its own, so a run killed with `kill -9`
loses at most the requests that were still in flight.

The file is marked as ftcot's (SQLite `application_id`) and versioned (`user_version`); a new
cache is built beside its path and linked into place, so a cache file is never seen half-made.
A file that is empty, damaged or someone else's is refused with its path and what to do,
rather than silently started afresh (which would pay for every request again).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ftcot.errors import DataError
from ftcot.sources import cache_dir
from ftcot.teach.backends.base import Generation, SamplingParams

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""
COLUMNS = (
    "key",
    "backend",
    "model",
    "text",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "created",
)
APPLICATION_ID = 0x66746374  # "ftct" in the SQLite header: this file is an ftcot generation cache
SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    return cache_dir() / "teacher-cache.sqlite"


def cache_key(backend: str, model: str, prompt: str, params: SamplingParams, index: int) -> str:
    # Fields joined by NUL (which none of them contains before the prompt), the prompt last: unambiguous.
    text = f"{backend}\0{model}\0{params.key_json}\0{index}\0{prompt}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0

    def as_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}


class GenerationCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            _create(self.path)
        self.db = self._open()
        self.stats = CacheStats()

    def _open(self) -> sqlite3.Connection:
        if self.path.stat().st_size == 0:
            # SQLite would take an empty file as an empty database and quietly re-send everything.
            raise self._unusable("the file is empty (0 bytes): a truncated copy, or not a cache ftcot made")
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self._check_identity(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        except sqlite3.DatabaseError as e:
            db.close()
            raise self._unusable(f"SQLite cannot read it ({e})") from None
        except DataError:
            db.close()
            raise
        return db

    def _check_identity(self, db: sqlite3.Connection) -> None:
        """Refuse a file that is not ftcot's cache before changing anything in it."""
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        columns = tuple(row[1] for row in db.execute("PRAGMA table_info(generations)"))
        if app_id not in (APPLICATION_ID, 0):
            raise self._unusable(f"it is another program's SQLite database (application_id {app_id:#x})")
        if columns != COLUMNS:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            raise self._unusable(f"it has no generations table of ftcot's shape (tables: {tables or 'none'})")
        if version > SCHEMA_VERSION:
            raise self._unusable(
                f"it was made by a newer ftcot (cache schema {version}, this one reads {SCHEMA_VERSION})"
            )
        if app_id == 0:  # made before caches were marked: same shape, so adopt it
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _unusable(self, problem: str) -> DataError:
        return DataError(
            f"not a usable generation cache: {problem}. If it is damaged, move it aside "
            f"(mv {self.path} {self.path}.bad) and rerun: the run folders' records are kept and only "
            "samples not yet written are requested again; or point --cache at another file",
            path=self.path,
        )

    def _execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        # A damaged page surfaces only when a query reaches it: name the file, not just the error.
        try:
            return self.db.execute(sql, args)
        except sqlite3.DatabaseError as e:
            raise self._unusable(f"SQLite failed on it ({e})") from None

    def get(self, key: str) -> Generation | None:
        row = self._execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM generations WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return Generation(row[0], row[1], row[2], row[3], cached=True)

    def put(self, key: str, backend: str, model: str, generation: Generation) -> None:
        self._execute(
            "INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                backend,
                model,
                generation.text,
                generation.finish_reason,
                generation.prompt_tokens,
                generation.completion_tokens,
                time.time(),
            ),
        )
        self.stats.writes += 1

    def __len__(self) -> int:
        return self._execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def _create(path: Path) -> None:
    """Build an empty, marked cache beside `path` and link it into place (never over a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as db:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another run made it first: use theirs
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
