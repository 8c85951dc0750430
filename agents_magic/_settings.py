"""The session's settings: one :class:`Settings` object, read from ``AGENTS_MAGIC_<NAME>``
environment variables, written by ``%config AgentsMagic.<name>``, resolved once per run and
passed down to whatever needs it.

Precedence, from strongest: cell flags / call arguments, the workflow's ``config:``, these
settings, the defaults below.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

ENV_PREFIX = "AGENTS_MAGIC_"
_FALSE = ("0", "false", "no", "off", "")


@dataclass
class Settings:
    """Session options; each field is also read from ``AGENTS_MAGIC_<FIELD>``."""

    default_provider: str | None = None
    default_model: str | None = None
    data_dir: Path = field(default_factory=lambda: Path.home() / ".agents_magic")
    storage_url: str | None = None
    store: bool = True
    cache: bool = True
    mlflow: bool = False
    mlflow_tracking_uri: str | None = None
    max_concurrency: int | None = None
    budget_usd: float | None = None
    live_display: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by every ``AGENTS_MAGIC_<FIELD>`` set in ``environ`` (default:
        ``os.environ``); a value that cannot be read is ignored with a warning."""
        environ = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            name = env_name(item.name)
            if name in environ:
                try:
                    values[item.name] = _parse(item.name, environ[name])
                except ValueError as exc:
                    warnings.warn(f"agents_magic: {name}={environ[name]!r} is ignored: {exc}",
                                  RuntimeWarning, stacklevel=2)
        return cls(**values)

    @property
    def llm_fallback(self) -> dict[str, str]:
        """The session's default provider/model: the lowest layer of a node's LLM settings."""
        return {k: v for k, v in (("provider", self.default_provider),
                                  ("model", self.default_model)) if v}

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"sqlite:///{Path(self.data_dir).expanduser() / 'runs.db'}"


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``AGENTS_MAGIC_<NAME>``."""
    return ENV_PREFIX + setting.upper()


def _parse(name: str, text: str) -> object:
    text = text.strip()
    if name in ("store", "cache", "mlflow", "live_display"):
        return text.lower() not in _FALSE
    if name == "data_dir":
        if not text:
            raise ValueError("the data directory cannot be empty")
        return Path(text).expanduser()
    if name == "max_concurrency":
        if not text.isdigit() or int(text) < 1:
            raise ValueError("expected a whole number of at least 1")
        return int(text)
    if name == "budget_usd":
        try:
            budget = float(text)
        except ValueError:
            budget = -1.0
        if not budget >= 0:
            raise ValueError("expected a number of US dollars, 0 or more") from None
        return budget
    return text or None


#: The session's settings (the magics' options read and write this object).
settings = Settings.from_env()


def resolve(given: Settings | None = None) -> Settings:
    """``given``, or the session's settings when None."""
    return settings if given is None else given


def reset() -> Settings:
    """Re-read the environment into the session's settings (the same object; tests use this)."""
    fresh = Settings.from_env()
    for item in fields(Settings):
        setattr(settings, item.name, getattr(fresh, item.name))
    return settings
