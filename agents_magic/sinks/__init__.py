"""Sinks that subscribe to run events: the run store and MLflow (the live view lives in display/).

:func:`default_sinks` gives the sinks the session settings ask for. Each is opened once per
URL and reused by every later run, so its writer thread, database engine and MLflow client
stay warm. Nothing heavy is imported here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._mlflow import MLflowSink, mlflow_ui_command
from ._store import StoreSink

if TYPE_CHECKING:
    from .._settings import Settings
    from ..store._cache import LLMCache

__all__ = ["MLflowSink", "StoreSink", "close_sinks", "default_sinks", "log_evaluation",
           "mlflow_ui_command", "open_cache"]

_shared: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _shared_sink(kind: str, url: str, make: Callable[[], Any]) -> Any:
    with _lock:
        sink = _shared.get((kind, url))
        if sink is None:
            sink = _shared[(kind, url)] = make()
        return sink


def default_sinks(settings: Settings | None = None, config: Any = None) -> list[Any]:
    """The persisting sinks a run asks for, opened once per URL and reused.

    A :class:`StoreSink` when ``settings.store`` (at ``settings.resolved_storage_url``), an
    :class:`MLflowSink` when MLflow logging is on: the workflow's ``config.observability.mlflow``
    (``enabled``, ``tracking_uri``, ``experiment_name``; ``config`` is the workflow's
    ``config:``) over ``settings.mlflow`` / ``settings.mlflow_tracking_uri`` (default: the local
    SQLite tracking store under the data directory).
    """
    from .._settings import resolve
    from ._mlflow import mlflow_options

    settings = resolve(settings)
    sinks: list[Any] = []
    if settings.store:
        url = settings.resolved_storage_url
        sinks.append(_shared_sink("store", url, lambda: StoreSink(url)))
    options = mlflow_options(settings, getattr(config, "observability", None))
    if options.enabled:
        key = f"{options.tracking_uri} {options.experiment}"
        sinks.append(_shared_sink("mlflow", key, lambda: MLflowSink(
            options.tracking_uri, experiment=options.experiment, settings=settings)))
    return sinks


def log_evaluation(record: Any, summary: Any, *, settings: Settings | None = None,
                   config: Any = None) -> MLflowSink | None:
    """Log an evaluation to MLflow when MLflow logging is on for it (as for its runs: the
    workflow's ``config.observability.mlflow`` over the settings); return the sink, or None
    when it is off.

    ``record`` is ``EvalResult.to_record()``, ``summary`` is ``{variant: {metric: value}}``.
    It goes through the same shared :class:`MLflowSink` (and child process) as the runs, after
    them, so the runs of its rows nest under their variant; ``sink.flush()`` waits for it.
    """
    from .._settings import resolve
    from ._mlflow import mlflow_options

    settings = resolve(settings)
    options = mlflow_options(settings, getattr(config, "observability", None))
    if not options.enabled:
        return None
    key = f"{options.tracking_uri} {options.experiment}"
    sink: MLflowSink = _shared_sink("mlflow", key, lambda: MLflowSink(
        options.tracking_uri, experiment=options.experiment, settings=settings))
    sink.log_evaluation(record, summary)
    return sink


def flush_sinks(timeout: float | None = 30.0, kind: str | None = None) -> None:
    """Wait until every shared sink (or those of one ``kind``: "store", "mlflow") has written
    what it received."""
    with _lock:
        sinks = [sink for (k, _url), sink in _shared.items() if kind in (None, k)]
    for sink in sinks:
        sink.flush(timeout)


def close_sinks(timeout: float | None = 30.0) -> None:
    """Flush and close every shared sink (tests, kernel shutdown); the next run reopens them."""
    with _lock:
        sinks = list(_shared.values())
        _shared.clear()
    for sink in sinks:
        sink.close(timeout)


def open_cache(settings: Settings | None = None, *, force: bool = False) -> LLMCache | None:
    """The session's LLM cache, or None when ``settings.cache`` is off and not ``force``d
    (see :mod:`store._cache`)."""
    from ..store._cache import open_cache as _open

    return _open(settings, force=force)
