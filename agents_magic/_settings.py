"""Session-wide settings shared by the API, the magics (their traits write here) and the CLI.

Precedence, from strongest: cell flags / call arguments, the workflow's ``config:``, these
settings (``%config AgentsMagic.*``, or ``AGENTS_MAGIC_*`` environment variables), defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off", "")


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("AGENTS_MAGIC_DATA_DIR", Path.home() / ".agents_magic")))
    storage_url: str | None = field(default_factory=lambda: os.environ.get("AGENTS_MAGIC_STORAGE_URL"))
    store: bool = field(default_factory=lambda: _env_bool("AGENTS_MAGIC_STORE", True))
    cache: bool = field(default_factory=lambda: _env_bool("AGENTS_MAGIC_CACHE", True))
    mlflow: bool = field(default_factory=lambda: _env_bool("AGENTS_MAGIC_MLFLOW", False))
    mlflow_tracking_uri: str | None = field(
        default_factory=lambda: os.environ.get("AGENTS_MAGIC_MLFLOW_TRACKING_URI"))
    default_provider: str | None = field(default_factory=lambda: os.environ.get("AGENTS_MAGIC_PROVIDER"))
    default_model: str | None = field(default_factory=lambda: os.environ.get("AGENTS_MAGIC_MODEL"))
    max_concurrency: int | None = None
    budget_usd: float | None = None

    @property
    def llm_fallback(self) -> dict[str, str]:
        """The session's default provider/model: the lowest layer of a node's LLM settings."""
        return {k: v for k, v in (("provider", self.default_provider),
                                  ("model", self.default_model)) if v}

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"sqlite:///{self.data_dir / 'runs.db'}"


settings = Settings()


def reset() -> Settings:
    """Re-read the environment (tests use this for isolation)."""
    global settings
    settings = Settings()
    return settings
