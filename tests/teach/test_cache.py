import contextlib
import sqlite3

import pytest

from ftcot.errors import DataError
from ftcot.teach.backends.base import Generation, SamplingParams
from ftcot.teach.cache import APPLICATION_ID, SCHEMA, GenerationCache, cache_key

PARAMS = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=128)


def test_key_depends_on_what_changes_a_generation():
    base = cache_key("openai", "m", "Q: 1+1?", PARAMS, 0)
    assert base == cache_key("openai", "m", "Q: 1+1?", PARAMS, 0)
    assert base == cache_key("openai", "m", "Q: 1+1?", PARAMS.with_n(8), 0)  # n is not part of the job
    assert base != cache_key("openai", "m", "Q: 1+1?", PARAMS, 1)
    assert base != cache_key("openai", "m2", "Q: 1+1?", PARAMS, 0)
    assert base != cache_key("hf", "m", "Q: 1+1?", PARAMS, 0)
    assert base != cache_key("openai", "m", "Q: 1+2?", PARAMS, 0)
    assert base != cache_key("openai", "m", "Q: 1+1?", SamplingParams(0.0, 1.0, 128), 0)
    assert base != cache_key("openai", "m", "Q: 1+1?", SamplingParams(0.7, 1.0, 128, stop=("\n",)), 0)


def test_round_trip_survives_reopening(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = GenerationCache(path)
    key = cache_key("openai", "m", "p", PARAMS, 3)
    assert cache.get(key) is None
    cache.put(key, "openai", "m", Generation("because 2", "length", 11, 7))
    cache.close()

    reopened = GenerationCache(path)
    got = reopened.get(key)
    assert (got.text, got.finish_reason, got.prompt_tokens, got.completion_tokens) == (
        "because 2",
        "length",
        11,
        7,
    )
    assert got.cached
    assert reopened.stats.as_dict() == {"hits": 1, "misses": 0, "writes": 0}
    assert len(reopened) == 1


def test_uses_wal_and_commits_each_insert(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = GenerationCache(path)
    cache.put("k", "openai", "m", Generation("x"))
    # Another connection sees the row while the writer is still open: nothing waits for a close.
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT text FROM generations WHERE key='k'").fetchone() == ("x",)


# --- damaged, empty or foreign files are refused with the path and what to do --------------------


def filled_cache(path, rows: int = 400) -> None:
    cache = GenerationCache(path)
    for i in range(rows):
        cache.put(f"k{i}", "openai", "m", Generation("x" * 1000))
    cache.close()


def test_a_zero_byte_file_is_refused_not_silently_started_afresh(tmp_path):
    path = tmp_path / "c.sqlite"
    path.touch()  # e.g. a truncated copy: SQLite alone would take it as an empty cache
    with pytest.raises(DataError, match=r"c\.sqlite.*empty.*move it aside"):
        GenerationCache(path)
    assert path.stat().st_size == 0  # left as it was


def test_a_file_that_is_not_a_database_names_the_path(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"not sqlite at all\n" * 100)
    with pytest.raises(DataError, match=r"c\.sqlite.*not a database.*move it aside"):
        GenerationCache(path)


def test_another_programs_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (x)")
        db.commit()
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"other\.sqlite.*notes"):
        GenerationCache(path)
    assert path.read_bytes() == before  # no generations table was added to someone else's file


def test_a_damaged_page_gives_an_ftcot_error_naming_the_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    filled_cache(path)
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # every page but the header's
        data[offset : offset + 100] = b"\xff" * 100
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"c\.sqlite.*malformed.*move it aside"):
        cache = GenerationCache(path)
        cache.get("k5")


def test_new_caches_are_marked_and_older_unmarked_ones_are_adopted(tmp_path):
    fresh = tmp_path / "fresh.sqlite"
    GenerationCache(fresh).close()
    with contextlib.closing(sqlite3.connect(fresh)) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert not list(tmp_path.glob(".*.new"))  # the file built beside it is gone

    legacy = tmp_path / "legacy.sqlite"  # made by ftcot before caches were marked
    with contextlib.closing(sqlite3.connect(legacy)) as db:
        db.execute(SCHEMA)
        db.execute("INSERT INTO generations VALUES ('k', 'openai', 'm', 'kept', 'stop', 1, 2, 0)")
        db.commit()
    cache = GenerationCache(legacy)
    assert cache.get("k").text == "kept"
    cache.close()
    with contextlib.closing(sqlite3.connect(legacy)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(DataError, match="newer ftcot"):
        GenerationCache(legacy)
