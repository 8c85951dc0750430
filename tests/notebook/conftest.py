"""Fixtures for the notebook adapter: a clean environment, an IPython shell, the fake LLM server
and a kernelspec that runs this venv's Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from am_nb_helpers import CLEAN_ENV, child_env, fake_llm_class, load_ext, write_kernelspec


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private data dir, no run store, no MLflow, no keys; settings re-read from it."""
    for name, value in child_env(tmp_path / "am-data").items():
        monkeypatch.setenv(name, value)
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    from agents_magic import _settings

    _settings.reset()
    yield
    _settings.reset()


@pytest.fixture
def ip() -> Iterator[Any]:
    """An InteractiveShell with history off and without the extension: set
    ``ip.config.AgentsMagic.*`` first, then ``load_ext(ip)``."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.config.AgentsMagic = Config()
    yield shell
    if "agents_magic" in shell.extension_manager.loaded:
        shell.extension_manager.unload_extension("agents_magic")
    from agents_magic.notebook import _magics

    _magics._registries.pop(shell, None)
    shell.reset(new_session=False)
    shell.config.AgentsMagic = Config()


@pytest.fixture
def magic(ip: Any) -> Any:
    """``ip`` with the extension loaded."""
    load_ext(ip)
    return ip


@pytest.fixture(scope="session")
def notebook_llm_server() -> Iterator[Any]:
    with fake_llm_class()() as server:
        yield server


@pytest.fixture
def llm(notebook_llm_server: Any) -> Any:
    """The fake OpenAI-compatible server on 127.0.0.1, with no rules and no latency."""
    notebook_llm_server.reset()
    return notebook_llm_server


@pytest.fixture
def kernel_dirs(tmp_path: Path) -> list[str]:
    return write_kernelspec(tmp_path, tmp_path / "kernel-data")
