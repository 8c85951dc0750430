"""The run store (SQLAlchemy: workflows, runs, node executions, memory entries, evaluations) and
the LLM cache.

Nothing heavy is imported here: ``sqlalchemy`` loads with :mod:`._db`, ``diskcache`` with
:mod:`._cache`, each on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HEAD", "EvaluationNotFound", "LLMCache", "RunStore", "StoreError", "close_stores",
           "list_evaluations", "load_evaluation_record", "open_cache", "open_store",
           "save_evaluation"]

_LAZY = {
    "HEAD": "._db", "RunStore": "._db", "StoreError": "._db", "open_store": "._db",
    "close_stores": "._db", "LLMCache": "._cache", "open_cache": "._cache",
    "EvaluationNotFound": "._evaluations", "list_evaluations": "._evaluations",
    "load_evaluation_record": "._evaluations", "save_evaluation": "._evaluations",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
