"""agents_magic: LLM agent workflows written as YAML, run on LangGraph, right inside Jupyter.

``%load_ext agents_magic`` is instant: public names are imported on first use.

- Workflows: :func:`load` gives a :class:`Workflow`; :func:`run` / :func:`arun` give a
  :class:`RunResult`; :func:`resume` / :func:`aresume` continue a run that stopped;
  :func:`estimate` prices a run before any call.
- The run store: :func:`runs`, :func:`cost_report`, :func:`profile`, :func:`show_run`,
  :func:`runs_browser`, :func:`cost_figure`, :func:`profile_figure`; :func:`memory` lists
  persistent memory.
- Tools: :func:`tool` makes a notebook function a tool (built-ins in :mod:`agents_magic.tools`).
- Evaluation: :func:`evaluate` gives an :class:`EvalResult` (or raises :class:`GateFailed` when
  a `fail` gate is missed outside IPython); :func:`evaluations` and :func:`load_evaluation` read
  the stored ones.
- Errors: :class:`AgentsMagicError` and its subclasses (the tree is in :mod:`agents_magic.errors`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "AgentsMagicError", "BudgetExceeded", "ConfigError", "InputError", "NodeOutputError",
    "ProviderError", "RunResult", "Workflow", "arun", "cost_figure", "cost_report", "estimate",
    "load", "profile", "profile_figure", "resume", "aresume", "run", "runs", "show_run",
    "memory", "tool",
    "EvalResult", "GateFailed", "evaluate", "evaluations", "load_evaluation", "runs_browser",
]

_LAZY = {
    "load": "agents_magic._workflow",
    "run": "agents_magic._api",
    "arun": "agents_magic._api",
    "resume": "agents_magic._api",
    "aresume": "agents_magic._api",
    "Workflow": "agents_magic._workflow",
    "RunResult": "agents_magic._result",
    "AgentsMagicError": "agents_magic.errors",
    "ConfigError": "agents_magic.errors",
    "InputError": "agents_magic.errors",
    "ProviderError": "agents_magic.errors",
    "NodeOutputError": "agents_magic.errors",
    "BudgetExceeded": "agents_magic.errors",
    "runs": "agents_magic._reports",
    "cost_report": "agents_magic._reports",
    "profile": "agents_magic._reports",
    "show_run": "agents_magic._reports",
    "runs_browser": "agents_magic._reports",
    "cost_figure": "agents_magic._reports",
    "profile_figure": "agents_magic._reports",
    "estimate": "agents_magic._estimate",
    "memory": "agents_magic._memory_api",
    "tool": "agents_magic.tools._function",
    "evaluate": "agents_magic.evaluation",
    "EvalResult": "agents_magic.evaluation",
    "GateFailed": "agents_magic.evaluation",
    "evaluations": "agents_magic.evaluation",
    "load_evaluation": "agents_magic.evaluation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agents_magic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext agents_magic``: register the ``%%workflow`` / ``%workflow`` magics."""
    from .notebook._magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook._magics import unload_ipython_extension as unload

    unload(ipython)
