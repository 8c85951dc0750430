"""Fixtures of the tool tests: an IPython shell, and the run store's (SQLite and PostgreSQL)
from tests/store/conftest.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import pytest

_spec = importlib.util.spec_from_file_location(
    "store_conftest", Path(__file__).resolve().parent.parent / "store" / "conftest.py")
_store = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_store)  # type: ignore[union-attr]
data_dir, pg_url, store_url = _store.data_dir, _store.pg_url, _store.store_url


@pytest.fixture
def ip() -> Iterator[Any]:
    """An InteractiveShell (history off) with the extension loaded, reset afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.config.AgentsMagic = Config()
    shell.extension_manager.load_extension("agents_magic")
    yield shell
    shell.extension_manager.unload_extension("agents_magic")
    from agents_magic.notebook import _magics

    _magics._registries.pop(shell, None)
    shell.reset(new_session=False)
    shell.config.AgentsMagic = Config()
