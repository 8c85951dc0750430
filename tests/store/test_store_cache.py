"""LLMCache: a diskcache-backed str -> dict cache that never unpickles and never breaks a run."""

from __future__ import annotations

import warnings

import pytest

from agents_magic import _settings
from agents_magic.sinks import open_cache as open_cache_reexport
from agents_magic.engine._llm import cache_key, resolve
from agents_magic.store._cache import CACHE_DIRNAME, LLMCache, open_cache

VALUE = {"text": "Paris", "prompt_tokens": 12, "completion_tokens": 1, "cost_usd": 0.0001,
         "attempts": 1, "nested": {"list": [1, 2.5, None, True]}}


def test_set_then_get_round_trips_a_dict(tmp_path):
    cache = LLMCache(tmp_path / "c")
    key = "a" * 64  # the engine computes real keys (engine._llm.cache_key)
    assert cache.get(key) is None
    cache.set(key, VALUE)
    assert cache.get(key) == VALUE
    assert key in cache and len(cache) == 1


def test_entries_persist_across_instances_and_processes(tmp_path):
    import subprocess
    import sys

    LLMCache(tmp_path / "c").set("k", VALUE)
    assert LLMCache(tmp_path / "c").get("k") == VALUE
    code = ("import sys; from agents_magic.store._cache import LLMCache; "
            "print(LLMCache(sys.argv[1]).get('k')['text'])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "Paris"


def test_values_are_stored_as_json_never_pickled(tmp_path):
    import sqlite3

    cache = LLMCache(tmp_path / "c")
    cache.set("k", VALUE)
    cache.close()
    with sqlite3.connect(tmp_path / "c" / "cache.db") as db:
        (mode,) = db.execute("SELECT mode FROM Cache").fetchone()
    import diskcache

    assert mode != diskcache.core.MODE_PICKLE


def test_a_value_that_is_not_json_is_warned_about_not_raised(tmp_path):
    cache = LLMCache(tmp_path / "c")
    with pytest.warns(RuntimeWarning, match="failed to write"):
        cache.set("k", {"obj": object()})
    assert cache.get("k") is None


def test_a_broken_cache_reads_as_a_miss(tmp_path):
    cache = LLMCache(tmp_path / "c")
    cache.set("k", VALUE)
    cache._cache.close()
    (tmp_path / "c" / "cache.db").write_bytes(b"this is not sqlite" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.get("k") is None
        assert cache.get("k") is None
    assert len([w for w in caught if "LLM cache" in str(w.message)]) == 1


def test_expiry(tmp_path):
    cache = LLMCache(tmp_path / "c", expire=0.05)
    cache.set("k", VALUE)
    assert cache.get("k") == VALUE
    import time

    deadline = time.monotonic() + 10
    while cache.get("k") is not None:  # until the entry has expired (~50 ms)
        assert time.monotonic() < deadline, "the entry never expired"
        time.sleep(0.01)


def test_engine_cache_key_is_canonical_and_sensitive():
    target = resolve(None, None, {"provider": "openai", "model": "m", "api_base": "http://127.0.0.1:1/v1"},
                     timeout=1, max_retries=0)
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0}
    same = {"temperature": 0, "messages": [{"role": "user", "content": "x"}], "model": "m"}
    assert cache_key(target, body, 0) == cache_key(target, same, 3) and len(cache_key(target, body, 0)) == 64
    assert cache_key(target, body, 0) != cache_key(target, {**body, "temperature": 1}, 0)


def test_open_cache_follows_the_settings(data_dir, monkeypatch):
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    cache = open_cache(_settings.reset())
    assert isinstance(cache, LLMCache)
    assert cache.directory == data_dir / CACHE_DIRNAME
    assert open_cache(_settings.settings) is cache  # opened once, reused
    assert open_cache_reexport() is cache           # re-exported by agents_magic.sinks
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "0")
    assert open_cache(_settings.reset()) is None
