"""The LLM response cache: unchanged calls are answered from disk at zero cost.

Built on ``diskcache`` (SQLite index plus files, safe across threads and processes). Values are
stored with ``diskcache.JSONDisk``, never pickled, so a tampered cache directory cannot run code
on load; they are plain dicts (a completion's text, token counts and the like). The engine
computes the key (``engine._llm.cache_key``) and calls :meth:`LLMCache.get` /
:meth:`LLMCache.set`. A broken cache never breaks a run: errors read as a miss, with one warning.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._settings import Settings

#: Default size limit; diskcache evicts the least recently stored entries beyond it.
SIZE_LIMIT = 2 * 1024**3
CACHE_DIRNAME = "llm_cache"

_open: dict[str, LLMCache] = {}
_lock = threading.Lock()


class LLMCache:
    """A persistent ``str -> dict`` cache in ``directory``.

    Parameters
    ----------
    directory
        Where the cache lives (created if missing).
    size_limit
        Bytes kept on disk before the oldest entries are evicted.
    expire
        Seconds an entry lives (None: until evicted).

    Examples
    --------
    >>> cache = LLMCache(tmp_path / "llm_cache")          # doctest: +SKIP
    >>> cache.set(key, {"text": "hi", "prompt_tokens": 3}) # doctest: +SKIP
    >>> cache.get(key)["text"]                             # doctest: +SKIP
    'hi'
    """

    def __init__(self, directory: str | Path, *, size_limit: int = SIZE_LIMIT,
                 expire: float | None = None) -> None:
        import diskcache

        self.directory = Path(directory).expanduser()
        self.expire = expire
        self._warned = False
        # JSON in, JSON out (zlib level 1: fast, and long prompts/replies shrink a lot).
        self._cache = diskcache.Cache(str(self.directory), size_limit=size_limit,
                                      disk=diskcache.JSONDisk, disk_compress_level=1,
                                      eviction_policy="least-recently-stored")

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value for ``key``, or None (a miss, or any cache error)."""
        try:
            value = self._cache.get(key, default=None, retry=True)
        except Exception as exc:
            self._warn("read", exc)
            return None
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-serialisable dict) under ``key``, without any API key the
        process knows (a provider may echo one); errors are only warned."""
        from .._secrets import scrub_data

        try:
            self._cache.set(key, scrub_data(value), expire=self.expire, retry=True)
        except Exception as exc:
            self._warn("write", exc)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._cache
        except Exception:
            return False

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> int:
        """Remove every entry; return how many were removed."""
        return int(self._cache.clear(retry=True))

    def volume(self) -> int:
        """Bytes used on disk."""
        return int(self._cache.volume())

    def close(self) -> None:
        self._cache.close()

    def _warn(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"agents_magic: the LLM cache at {self.directory} failed to {what} "
                          f"({type(exc).__name__}: {exc}); calls go to the provider instead",
                          RuntimeWarning, stacklevel=3)

    def __repr__(self) -> str:
        return f"<LLMCache {self.directory}>"


def open_cache(settings: Settings | None = None, *, force: bool = False) -> LLMCache | None:
    """The session's cache under ``settings.data_dir``, or None when ``settings.cache`` is off
    (``force`` opens it anyway: a call that asks for the cache gets it).

    Opened once per directory per process and reused.
    """
    from .._settings import resolve

    settings = resolve(settings)
    if not (settings.cache or force):
        return None
    directory = str(Path(settings.data_dir).expanduser() / CACHE_DIRNAME)
    with _lock:
        cache = _open.get(directory)
        if cache is None:
            cache = _open[directory] = LLMCache(directory)
        return cache


def close_caches() -> None:
    """Close every cache opened by :func:`open_cache` (tests, shutdown)."""
    with _lock:
        for cache in _open.values():
            cache.close()
        _open.clear()
