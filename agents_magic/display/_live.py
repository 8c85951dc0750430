"""Choose how a run shows its progress: the live widget where a kernel has anywidget, text lines
otherwise. Importing this module is cheap; the widget stack loads only when a view is made."""

from __future__ import annotations

import importlib.util
from typing import Any


def progress(workflow: Any, mode: str = "update", shown: Placeholder | None = None, *,
             budget: float | None = None) -> Any:
    """A sink with ``refresh``: a :class:`~.run_view.LiveView` in a notebook kernel with widgets,
    else :class:`~._fallback.TextProgress` in ``mode`` (``update``, ``append`` or ``off``); either
    draws in place of ``shown``. ``budget`` (USD) is shown as a share spent."""
    handle = shown.take() if shown is not None else None
    if mode == "update" and widgets_available():
        from .run_view import LiveView

        return LiveView(workflow, handle=handle, budget=budget)
    from ._fallback import TextProgress

    return TextProgress(workflow.name, mode, handle=handle)


NOT_RUN = "{} · not run"  # what a placeholder becomes when the run never started


class Placeholder:
    """A one-line output shown at once, which the run's view then replaces (or, if the run
    never starts, a line saying so: an output cannot be removed, and an empty one lingers)."""

    def __init__(self, text: str | None, workflow: str = "") -> None:
        self._handle: Any = None
        self.workflow = workflow
        if text is not None:
            from IPython.display import display

            self._handle = display({"text/plain": text}, raw=True, display_id=True)

    def take(self) -> Any:
        handle, self._handle = self._handle, None
        return handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": NOT_RUN.format(self.workflow)}, raw=True)
            self._handle = None


def placeholder(show: bool, workflow: str, text: str = "⏳ preparing the run…") -> Placeholder:
    """A :class:`Placeholder` for a run of ``workflow``, shown when ``show`` and in a kernel
    (nothing otherwise)."""
    return Placeholder(text if show and in_kernel() else None, workflow)


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def widgets_available() -> bool:
    """A Jupyter kernel with anywidget installed (as tqdm.auto decides on ipywidgets)."""
    return in_kernel() and importlib.util.find_spec("anywidget") is not None
