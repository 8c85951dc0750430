"""Sandboxed Python for code nodes: RestrictedPython in separate, limited worker processes.

``run_code(code, inputs, timeout_s=..., memory_mb=...)`` runs ``code`` in a warm worker and
returns ``{"result": ..., "stdout": ...}``. See :mod:`._worker` for what the worker enforces,
:mod:`._policy` for what code may use, and :mod:`._limits` for the presets.
"""

from __future__ import annotations

from ._errors import (SandboxCodeError, SandboxError, SandboxMemoryError, SandboxTimeout,
                      SandboxViolation)
from ._limits import PRESETS, Limits, limits
from ._pool import POOL, run_code

__all__ = ["PRESETS", "POOL", "Limits", "SandboxCodeError", "SandboxError", "SandboxMemoryError",
           "SandboxTimeout", "SandboxViolation", "limits", "run_code"]
