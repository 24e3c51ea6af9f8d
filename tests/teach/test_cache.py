import sqlite3

from ftcot.teach.backends.base import Generation, SamplingParams
from ftcot.teach.cache import GenerationCache, cache_key

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
