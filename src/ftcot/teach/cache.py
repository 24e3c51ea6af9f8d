"""The generation cache: one SQLite file (WAL) shared by every run, so no request is ever paid twice.

A generation is keyed by the sha256 of what determines it: backend, model, the rendered
prompt, the sampling parameters (without n) and the sample index. The base URL and the
API key are not part of the key (the same model served elsewhere gives the same job), and
keys are never stored. Each insert commits on its own, so a run killed with `kill -9`
loses at most the requests that were still in flight.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

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
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self.db.execute(SCHEMA)
        self.stats = CacheStats()

    def get(self, key: str) -> Generation | None:
        row = self.db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM generations WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return Generation(row[0], row[1], row[2], row[3], cached=True)

    def put(self, key: str, backend: str, model: str, generation: Generation) -> None:
        self.db.execute(
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
        return self.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self.db.close()
