"""Shared fixtures: a clean environment per test and the local OpenAI-compatible server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_llm import FakeLLM  # noqa: E402

_SECRET_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """No keys, no proxies, a private data dir, store and MLflow off unless a test opts in."""
    for name in _SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENTS_MAGIC_DATA_DIR", str(tmp_path / "am-data"))
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "0")
    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW", "0")
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "0")
    from agents_magic import _settings
    from agents_magic.engine import _limiter

    _settings.reset()
    _limiter.reset()  # what one test's 429s taught the process-wide limiter stays there
    yield
    _settings.reset()


@pytest.fixture(scope="session")
def llm_server():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def fake_llm(llm_server: FakeLLM) -> FakeLLM:
    """The session's fake server, reset for this test."""
    llm_server.reset()
    return llm_server
