"""Per-execution limits and the presets ``low``/``medium``/``high``/``max``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DEFAULT_PRESET = "low"


@dataclass(frozen=True)
class Limits:
    """What one execution may use: CPU seconds, address space, wall-clock seconds, output."""

    cpu_s: float
    memory_mb: int
    timeout_s: float
    output_bytes: int = 1_000_000  # printed text plus the result, as sent back

    def __post_init__(self) -> None:
        for name in ("cpu_s", "memory_mb", "timeout_s", "output_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"sandbox `{name}` must be positive, got {getattr(self, name)!r}")


PRESETS: dict[str, Limits] = {
    "low": Limits(cpu_s=0.5, memory_mb=256, timeout_s=30),
    "medium": Limits(cpu_s=1, memory_mb=512, timeout_s=60),
    "high": Limits(cpu_s=2, memory_mb=1024, timeout_s=120),
    "max": Limits(cpu_s=4, memory_mb=2048, timeout_s=300),
}
# Limit names a `sandbox:` section accepts; `timeout`/`memory`/`cpu`/`output` are short forms.
ALIASES = {"timeout": "timeout_s", "memory": "memory_mb", "cpu": "cpu_s", "output": "output_bytes"}
SETTINGS = ("preset", *ALIASES, *ALIASES.values())


def limits(preset: str | None = None, **overrides: Any) -> Limits:
    """The preset's limits with ``overrides`` (``None`` values ignored) applied."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise ValueError(f"unknown sandbox preset `{name}`; presets: {', '.join(PRESETS)}")
    changes = {ALIASES.get(k, k): v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - {f.name for f in dataclasses.fields(Limits)}
    if unknown:
        raise ValueError(f"unknown sandbox setting `{sorted(unknown)[0]}`; settings: {', '.join(SETTINGS)}")
    for key, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"sandbox `{key}` must be a number, got {value!r}")
    return dataclasses.replace(PRESETS[name], **changes)


def from_section(section: dict[str, Any] | None) -> Limits:
    """A ``sandbox:`` section as limits, in this dialect or configurable-agents' (``mode``,
    ``enabled``, ``network``, ``resources: {memory_mb, ...}``); ``ValueError`` says what is wrong."""
    rest = dict(section or {})
    rest.pop("network", None)  # code nodes never have network access (a load warning says so)
    retries = rest.pop("retries", 0)  # read by the code node itself
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ValueError("sandbox `retries` must be a whole number from 0 to 10")
    if rest.pop("mode", "python") != "python":
        raise ValueError("sandbox `mode` can only be `python`")
    if rest.pop("enabled", True) is not True:
        raise ValueError("a code node always runs in the sandbox; remove `enabled: false`")
    resources = rest.pop("resources", None) or {}
    if not isinstance(resources, dict):
        raise ValueError("sandbox `resources` must be a mapping such as {memory_mb: 256}")
    return limits(rest.pop("preset", None), **resources, **rest)
