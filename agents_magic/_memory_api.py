"""Memory from Python and the notebook: list entries as a DataFrame, get, set, delete, clear,
and which memory a recorded run read.

Entries live in the run store (default: the session's storage URL), so they outlast the kernel.
A scope names a namespace: ``global``; ``workflow`` (needs ``workflow``); ``node`` (needs
``workflow`` and ``node``). pandas is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .store._memory_names import AGENT, MemoryStoreError, describe, namespace, scope_name

if TYPE_CHECKING:
    import pandas as pd

MEMORY_COLUMNS = ["scope", "workflow", "node", "key", "value", "created_at", "updated_at",
                  "expires_at", "namespace"]
READ_COLUMNS = ["run_id", "node_id", "iteration", "namespace", "key", "field", "found"]


def _memory(url: str | None) -> Any:
    from .store._memory import open_memory

    return open_memory(url)


def infer_scope(scope: str | None, workflow: str | None, node: str | None) -> str:
    """``scope``, or the narrowest one the names given allow (node, workflow, else global)."""
    if scope is not None:
        return scope_name(scope)
    return "node" if node else "workflow" if workflow else "global"


def memory(scope: str | None = None, workflow: str | None = None, node: str | None = None, *,
           key: str | None = None, include_expired: bool = False,
           url: str | None = None) -> pd.DataFrame:
    """Memory entries as a DataFrame, oldest first; times are UTC, to the second.

    Parameters
    ----------
    scope
        ``global``, ``workflow`` or ``node`` (``agent`` means ``global``); None: every scope.
    workflow, node
        Only entries of this workflow (and node).
    key
        Only this key.
    include_expired
        Also entries whose TTL has passed (never returned by reads).
    url
        The run store (default: the session's storage URL).

    Examples
    --------
    >>> agents_magic.memory("workflow", workflow="chat")     # doctest: +SKIP
    """
    import pandas as pd

    wanted = scope_name(scope) if scope is not None else None
    rows = []
    for row in _memory(url).entries(prefix=f"{AGENT}:", key=key, include_expired=include_expired):
        names = describe(row["namespace"])
        if ((wanted and names["scope"] != wanted) or (workflow and names["workflow"] != workflow)
                or (node and names["node"] != node)):
            continue
        rows.append({**names, **row})
    frame = pd.DataFrame(rows, columns=MEMORY_COLUMNS)
    for column in ("created_at", "updated_at", "expires_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True).dt.round("s")
    return frame


def get(key: str, scope: str | None = None, workflow: str | None = None,
        node: str | None = None, *, default: Any = None, url: str | None = None) -> Any:
    """The live value of ``key`` in a scope, or ``default``."""
    ns = namespace(infer_scope(scope, workflow, node), workflow, node)
    return _memory(url).get(ns, key, default)


def set_value(key: str, value: Any, scope: str | None = None, workflow: str | None = None,
              node: str | None = None, *, ttl: float | None = None, url: str | None = None) -> str:
    """Store ``value`` under ``key`` (for ``ttl`` seconds, or for ever); the namespace."""
    ns = namespace(infer_scope(scope, workflow, node), workflow, node)
    _memory(url).set(ns, key, value, ttl=ttl)
    return ns


def delete(key: str, scope: str | None = None, workflow: str | None = None,
           node: str | None = None, *, url: str | None = None) -> bool:
    """Remove ``key`` from a scope; whether it was there."""
    ns = namespace(infer_scope(scope, workflow, node), workflow, node)
    return bool(_memory(url).delete(ns, key))


def clear(scope: str | None = None, workflow: str | None = None, node: str | None = None, *,
          everything: bool = False, url: str | None = None) -> int:
    """Remove the entries of a scope (``workflow`` scope: the workflow's own entries, not its
    nodes'), or with ``everything=True`` all memory; how many were removed."""
    if everything:
        return int(_memory(url).clear(prefix=f"{AGENT}:"))
    if scope is None:
        raise MemoryStoreError("say which memory to clear: a scope (global, workflow, node), "
                               "or everything")
    return int(_memory(url).clear([namespace(scope, workflow, node)]))


def reads(run_id: str | None = None, url: str | None = None) -> pd.DataFrame:
    """Which memory a recorded run read: one row per key and node execution, with ``found``.

    Runs record their reads in ``node_executions.memory_reads``.
    """
    import pandas as pd

    from ._reports import show_run

    record = show_run(run_id, url=url)
    rows = [{"run_id": record["run_id"], "node_id": node["node_id"],
             "iteration": node["iteration"], **read}
            for node in record["nodes"]
            for read in node["memory_reads"]]
    return pd.DataFrame(rows, columns=READ_COLUMNS)
