"""Memory tests reuse the run store's fixtures (``store_url`` over SQLite and PostgreSQL, a
private data directory per test) from tests/store/conftest.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_STORE = Path(__file__).resolve().parents[1] / "store"
sys.path.insert(0, str(_STORE))  # store_helpers.py
_spec = importlib.util.spec_from_file_location("store_conftest", _STORE / "conftest.py")
assert _spec is not None and _spec.loader is not None
store_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store_conftest)

data_dir = store_conftest.data_dir
pg_url = store_conftest.pg_url
store_url = store_conftest.store_url
sqlite_url = store_conftest.sqlite_url
