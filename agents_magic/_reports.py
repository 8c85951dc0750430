"""Reports over the run store: run history, cost breakdowns, per-node profiles, one run in full.

Every function reads the store at ``url`` (default: the session's storage URL) and returns a
pandas DataFrame (or a dict for :func:`show_run`); :func:`cost_figure` and
:func:`profile_figure` draw them with plotly. pandas and plotly are imported on first use.
Times in the store are Unix seconds; here they become UTC timestamps, and offsets inside a
run are milliseconds.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .engine.events import execution_label
from .errors import AgentsMagicError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go
    from .display.runs_view import RunsBrowser

COST_BY = ("provider", "model", "node", "workflow")
RUN_COLUMNS = ["run_id", "workflow", "status", "started_at", "finished_at", "duration_ms",
               "cost_usd", "total_tokens", "nodes", "cached_nodes", "failed_nodes", "error",
               "experiment", "variant", "workflow_hash"]
PERCENTILE_COLUMNS = ["node_id", "executions", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "mean_cost_usd"]
PROFILE_COLUMNS = ["run_id", "node_id", "iteration", "item", "status", "cached", "provider", "model",
                   "start_ms", "end_ms", "duration_ms", "share", "bottleneck", "lane",
                   "cost_usd", "prompt_tokens", "completion_tokens", "tool_calls"]
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_COLOURS = {"normal": "#0969da", "bottleneck": "#cf222e", "cached": "#8c959f",
            "failed": "#9a6700"}


class ReportError(AgentsMagicError, ValueError):
    """A report was asked for something the store does not have, or with a bad argument."""


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise ReportError("charts need plotly: `pip install 'agents_magic[plotly]'`") from None
    return go


def _store(url: str | None) -> Any:
    from .store._db import open_store

    return open_store(url)


def _since_ts(since: Any) -> float | None:
    """``since`` as Unix seconds: a datetime/date/Timestamp, epoch seconds, a timedelta
    (that long ago), an ISO string, or a relative string such as ``"24h"``, ``"7d"``, ``"2w"``."""
    if since is None:
        return None
    if isinstance(since, dt.timedelta):
        return time.time() - since.total_seconds()
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    if isinstance(since, dt.datetime):  # pandas.Timestamp included
        return since.timestamp()
    if isinstance(since, dt.date):
        return dt.datetime(since.year, since.month, since.day).timestamp()
    if isinstance(since, str):
        match = _RELATIVE.match(since)
        if match:
            return time.time() - float(match.group(1)) * _UNITS[match.group(2).lower()]
        try:
            return dt.datetime.fromisoformat(since.strip()).timestamp()
        except ValueError:
            pass
    raise ReportError(f"cannot read `since={since!r}`: give a datetime, an ISO date such as "
                      "'2026-01-31', or a span such as '24h', '7d' or '2w'")


def _timestamps(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    import pandas as pd

    for column in columns:
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def this_session() -> str:
    """The id under which this process (a notebook's kernel) records its runs."""
    from .store._db import PROCESS

    return PROCESS


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """A :func:`runs` frame narrowed to what fits a notebook cell: started to the second, whole
    milliseconds, the error cut short."""
    out = frame[["run_id", "workflow", "status"]].copy()
    out["started"] = frame["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out["ms"] = frame["duration_ms"].round().astype("Int64")
    out["tokens"] = frame["total_tokens"]
    out["cost_usd"] = frame["cost_usd"]
    out["nodes"] = frame["nodes"]
    out["cached"] = frame["cached_nodes"]
    out["failed"] = frame["failed_nodes"]
    out["error"] = frame["error"].fillna("").map(lambda e: e if len(e) <= 60 else e[:59] + "…")
    return out


def node_percentiles(name: str, url: str | None = None, process: str | None = None) -> pd.DataFrame:
    """Per node of workflow ``name``, across its runs: executions, p50/p95/p99 and mean time (ms,
    nearest rank) and mean cost; slowest p95 first."""
    import pandas as pd
    import sqlalchemy as sa

    from .evaluation._stats import nearest_rank
    from .store._schema import node_executions as n
    from .store._schema import runs as r

    query = (sa.select(n.c.node_id, n.c.duration_ms, n.c.cost_usd)
             .select_from(n.join(r, r.c.run_id == n.c.run_id))
             .where(r.c.workflow == name, n.c.duration_ms.is_not(None)))
    if process is not None:
        query = query.where(r.c.process == process)
    with _store(url).engine.connect() as connection:
        rows = connection.execute(query).all()
    times: dict[str, list[float]] = {}
    costs: dict[str, list[float]] = {}
    for node, ms, cost in rows:
        times.setdefault(node, []).append(float(ms))
        costs.setdefault(node, []).append(float(cost or 0.0))
    records = [{"node_id": node, "executions": len(ms),
                **{f"p{p}_ms": round(nearest_rank(ms, p), 1) for p in (50, 95, 99)},
                "mean_ms": round(sum(ms) / len(ms), 1), "mean_cost_usd": sum(costs[node]) / len(ms)}
               for node, ms in times.items()]
    frame = pd.DataFrame(records, columns=PERCENTILE_COLUMNS)
    frame = frame.sort_values(["p95_ms", "node_id"], ascending=[False, True]).reset_index(drop=True)
    frame.attrs["workflow"] = name
    return frame


def runs(name: str | None = None, last: int | None = None, status: str | Iterable[str] | None = None,
         url: str | None = None, process: str | None = None) -> pd.DataFrame:
    """Run history, newest first.

    Parameters
    ----------
    name
        Only runs of this workflow.
    last
        Only the ``last`` most recent runs.
    status
        ``succeeded``, ``failed``, ``cancelled``, ``budget_exceeded`` or ``running`` (or a list).
    url
        Store URL (default: the session's).
    process
        Only runs made by this process (``this_session()`` is the current kernel's).

    Examples
    --------
    ::

        %workflow runs --last 10
    """
    import pandas as pd
    import sqlalchemy as sa

    from .store._schema import node_executions as n
    from .store._schema import runs as r

    counts = (sa.select(n.c.run_id, sa.func.count().label("nodes"),
                        sa.func.sum(sa.case((n.c.cached, 1), else_=0)).label("cached_nodes"),
                        sa.func.sum(sa.case((n.c.status == "failed", 1), else_=0))
                        .label("failed_nodes"))
              .group_by(n.c.run_id).subquery())
    query = (sa.select(r.c.run_id, r.c.workflow, r.c.status, r.c.started_at, r.c.finished_at,
                       r.c.duration_ms, r.c.cost_usd, r.c.total_tokens,
                       sa.func.coalesce(counts.c.nodes, 0).label("nodes"),
                       sa.func.coalesce(counts.c.cached_nodes, 0).label("cached_nodes"),
                       sa.func.coalesce(counts.c.failed_nodes, 0).label("failed_nodes"),
                       r.c.error, r.c.experiment, r.c.variant, r.c.workflow_hash)
             .select_from(r.outerjoin(counts, counts.c.run_id == r.c.run_id))
             .order_by(r.c.started_at.desc(), r.c.run_id))
    if name is not None:
        query = query.where(r.c.workflow == name)
    if process is not None:
        query = query.where(r.c.process == process)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        query = query.where(r.c.status.in_(wanted))
    if last is not None:
        if int(last) < 1:
            raise ReportError(f"`last` must be a positive number of runs, got {last!r}")
        query = query.limit(int(last))
    with _store(url).engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for column in ("nodes", "cached_nodes", "failed_nodes", "total_tokens"):
        frame[column] = frame[column].astype("int64")
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    return _timestamps(frame, "started_at", "finished_at")


def cost_report(by: str = "provider", since: Any = None, url: str | None = None,
                process: str | None = None) -> pd.DataFrame:
    """Spend and usage grouped ``by`` provider, model, node or workflow, most expensive first.

    Node-level groupings count every node execution (failed ones with their $0, cached ones
    as free calls); ``workflow`` sums whole runs, including calls spent on a reply that then
    failed validation. Local models and the mock provider cost $0. ``since`` limits to runs
    started from then on (a datetime, ISO date, or a span such as ``"7d"``); ``process`` to the
    runs of one process (``this_session()``).
    """
    import pandas as pd
    import sqlalchemy as sa

    from .store._schema import node_executions as n
    from .store._schema import runs as r

    if by not in COST_BY:
        from .config._validate import did_you_mean

        hint = did_you_mean(str(by), COST_BY)
        raise ReportError(f"cannot group costs by `{by}`: choose one of {', '.join(COST_BY)}"
                          + (f" ({hint})" if hint else ""))
    start = _since_ts(since)
    if by == "workflow":
        ok = sa.func.sum(sa.case((r.c.status == "succeeded", 1), else_=0))
        query = (sa.select(r.c.workflow, sa.func.count().label("runs"), ok.label("succeeded"),
                           sa.func.sum(sa.case((r.c.status == "failed", 1), else_=0))
                           .label("failed"),
                           sa.func.sum(sa.case((r.c.status == "cancelled", 1), else_=0))
                           .label("cancelled"),
                           sa.func.sum(r.c.total_tokens).label("total_tokens"),
                           sa.func.sum(r.c.cost_usd).label("cost_usd"),
                           sa.func.avg(r.c.duration_ms).label("mean_duration_ms"))
                 .group_by(r.c.workflow))
        keys = ["workflow"]
    else:
        columns = {"provider": [n.c.provider], "model": [n.c.provider, n.c.model],
                   "node": [r.c.workflow, n.c.node_id]}[by]
        spent = sa.case((n.c.cached, 0.0), else_=n.c.cost_usd)
        query = (sa.select(*columns,
                           sa.func.count().label("calls"),
                           sa.func.count(sa.distinct(n.c.run_id)).label("runs"),
                           sa.func.sum(sa.case((n.c.cached, 1), else_=0)).label("cached_calls"),
                           sa.func.sum(sa.case((n.c.status == "failed", 1), else_=0))
                           .label("failed_calls"),
                           sa.func.sum(n.c.prompt_tokens).label("prompt_tokens"),
                           sa.func.sum(n.c.completion_tokens).label("completion_tokens"),
                           sa.func.sum(spent).label("cost_usd"),
                           sa.func.avg(n.c.duration_ms).label("mean_duration_ms"))
                 .select_from(n.join(r, r.c.run_id == n.c.run_id))
                 .group_by(*columns))
        keys = [c.name for c in columns]
    if start is not None:
        query = query.where(r.c.started_at >= start)
    if process is not None:
        query = query.where(r.c.process == process)
    with _store(url).engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    frame = pd.DataFrame(rows, columns=[*keys, *(k for k in (
        ["runs", "succeeded", "failed", "cancelled", "total_tokens", "cost_usd",
         "mean_duration_ms"] if by == "workflow" else
        ["calls", "runs", "cached_calls", "failed_calls", "prompt_tokens", "completion_tokens",
         "cost_usd", "mean_duration_ms"]))])
    if by != "workflow":
        frame.insert(frame.columns.get_loc("cost_usd"), "total_tokens",
                     frame["prompt_tokens"] + frame["completion_tokens"])
    for column in frame.columns:
        if column.endswith(("runs", "calls", "tokens")) or column in ("succeeded", "failed",
                                                                      "cancelled"):
            frame[column] = frame[column].fillna(0).astype("int64")
    frame["cost_usd"] = frame["cost_usd"].fillna(0.0).astype("float64")
    total = float(frame["cost_usd"].sum())
    frame["share"] = frame["cost_usd"] / total if total > 0 else 0.0
    frame = frame.sort_values(["cost_usd", *keys], ascending=[False] + [True] * len(keys))
    frame.attrs["by"] = by
    return frame.reset_index(drop=True)


def _resolve_run(connection: Any, run_id: str | None) -> Any:
    import sqlalchemy as sa

    from .store._schema import runs as r

    if run_id is None:
        row = connection.execute(sa.select(r).order_by(r.c.started_at.desc()).limit(1)).first()
        if row is None:
            raise ReportError("the run store has no runs yet")
        return row
    row = connection.execute(sa.select(r).where(r.c.run_id == run_id)).first()
    if row is not None:
        return row
    like = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = connection.execute(sa.select(r).where(r.c.run_id.like(like, escape="\\"))
                               .limit(2)).all()
    if len(found) == 1:
        return found[0]
    if found:
        raise ReportError(f"run id `{run_id}` is ambiguous: give more characters")
    raise ReportError(f"no run `{run_id}` in the run store (see `agents_magic` runs() for ids)")


def _lanes(spans: list[tuple[float, float]]) -> list[int]:
    """Row per span so overlapping (parallel) spans never share a row; sequential ones do."""
    ends: list[float] = []
    lanes = []
    for start, end in spans:
        for lane, lane_end in enumerate(ends):
            if lane_end <= start + 1e-6:
                ends[lane] = end
                lanes.append(lane)
                break
        else:
            ends.append(end)
            lanes.append(len(ends) - 1)
    return lanes


def profile(run_id: str | None = None, threshold: float = 0.5, url: str | None = None
            ) -> pd.DataFrame:
    """Where one run's time went: one row per node execution, in start order.

    ``start_ms``/``end_ms`` are offsets from the run's start, ``share`` is the node's part of
    the run's wall time and ``bottleneck`` is True when the share exceeds ``threshold``.
    ``lane`` puts parallel branches on separate rows (for :func:`profile_figure`).
    ``run_id`` may be a unique prefix; None means the most recent run.
    """
    import pandas as pd
    import sqlalchemy as sa

    from .store._schema import node_executions as n

    if not 0 < float(threshold) <= 1:
        raise ReportError(f"`threshold` is a share of the run's time in (0, 1], got {threshold!r}")
    with _store(url).engine.connect() as connection:
        run = _resolve_run(connection, run_id)
        rows = [dict(row._mapping) for row in connection.execute(
            sa.select(n).where(n.c.run_id == run.run_id).order_by(n.c.started_at, n.c.id))]
    # a resumed run's record starts with its latest attempt: count from its earliest node
    origin = min([float(run.started_at)] + [float(row["started_at"]) for row in rows
                                            if row["started_at"] is not None])
    ends = [float(row["finished_at"] or row["started_at"] or origin) for row in rows]
    total = run.duration_ms
    wall = (max(ends) - origin) * 1000 if rows else 0.0
    if total is None or total <= 0 or wall > total:
        total = wall  # still running, crashed, or the clock of the run started late
    records = []
    for row in rows:
        start_ms = (float(row["started_at"] or origin) - origin) * 1000
        duration = float(row["duration_ms"] or 0.0)
        share = duration / total if total else 0.0
        records.append({
            "run_id": row["run_id"], "node_id": row["node_id"], "iteration": row["iteration"],
            "item": row["item"],
            "status": row["status"], "cached": bool(row["cached"]), "provider": row["provider"],
            "model": row["model"], "start_ms": start_ms, "end_ms": start_ms + duration,
            "duration_ms": duration, "share": share, "bottleneck": share > threshold,
            "lane": 0, "cost_usd": 0.0 if row["cached"] else float(row["cost_usd"] or 0.0),
            "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
            "tool_calls": len(row["tool_calls"] or [])})
    for record, lane in zip(records, _lanes([(r["start_ms"], r["end_ms"]) for r in records])):
        record["lane"] = lane
    frame = pd.DataFrame(records, columns=PROFILE_COLUMNS)
    frame = frame.astype({"bottleneck": bool, "cached": bool, "item": "Int64"})
    frame.attrs.update(run_id=run.run_id, workflow=run.workflow, status=run.status,
                       duration_ms=float(total or 0.0), threshold=float(threshold))
    return frame


def show_run(run_id: str | None = None, url: str | None = None) -> dict[str, Any]:
    """One run in full: inputs, outputs, status, totals and each node's prompt and response,
    with the tool calls (``tool_calls``) and memory reads (``memory_reads``) of each.

    ``run_id`` may be a unique prefix; None means the most recent run.
    """
    import sqlalchemy as sa

    from .store._schema import node_executions as n
    from .store._schema import workflows as w

    with _store(url).engine.connect() as connection:
        run = _resolve_run(connection, run_id)
        nodes = [dict(row._mapping) for row in connection.execute(
            sa.select(n).where(n.c.run_id == run.run_id).order_by(n.c.started_at, n.c.id))]
        yaml_text = connection.execute(
            sa.select(w.c.yaml).where(w.c.name == run.workflow, w.c.hash == run.workflow_hash)
        ).scalar() if run.workflow_hash else None
    for node in nodes:
        node.pop("id", None)
        node.pop("run_id", None)
        node["tool_calls"] = node["tool_calls"] or []
        node["memory_reads"] = node["memory_reads"] or []
    return {"run_id": run.run_id, "workflow": run.workflow, "status": run.status,
            "inputs": run.inputs or {}, "outputs": run.outputs or {}, "error": run.error,
            "warnings": run.warnings or [], "started_at": run.started_at,
            "finished_at": run.finished_at, "duration_ms": run.duration_ms,
            "cost_usd": run.cost_usd, "total_tokens": run.total_tokens,
            "experiment": run.experiment, "variant": run.variant, "yaml": yaml_text,
            "nodes": nodes}


def runs_browser(name: str | None = None, last: int = 200, url: str | None = None) -> RunsBrowser:
    """The run store as an interactive table (the same as ``%workflow runs --browse``).

    Filter by workflow or status and sort by any column; select a run to see its run view rebuilt
    from the store, or two to see them side by side with the differences highlighted (state, time,
    tokens, cost, outputs, prompts and responses per node).
    """
    from .display.runs_view import RunsBrowser

    return RunsBrowser(name=name, last=last, url=url)


def cost_figure(df: pd.DataFrame) -> go.Figure:
    """A plotly bar chart of a :func:`cost_report` frame (cost per group, tokens on hover)."""
    go = _plotly()

    by = df.attrs.get("by") or next((c for c in ("node_id", "model", "provider", "workflow")
                                     if c in df.columns), None)
    if by is None:
        raise ReportError("cost_figure() takes a frame from cost_report()")
    if by == "model":
        labels = (df["provider"].fillna("") + "/" + df["model"].fillna("")).tolist()
    elif by == "node":
        several = df["workflow"].nunique() > 1
        labels = [f"{w}.{node}" if several else str(node)
                  for w, node in zip(df["workflow"], df["node_id"])]
    else:
        labels = df[by].fillna("").astype(str).tolist()
    hover = [f"{tokens:,} tokens" for tokens in df.get("total_tokens", [0] * len(df))]
    figure = go.Figure(go.Bar(x=labels, y=df["cost_usd"], hovertext=hover,
                              marker_color=_COLOURS["normal"], name="cost (USD)"))
    figure.update_layout(title=f"Cost by {by}", xaxis_title=by, yaxis_title="USD",
                         yaxis_tickformat="$.4f", template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 50, "b": 60})
    figure.update_yaxes(rangemode="nonnegative")
    if len(df) and float(df["cost_usd"].sum()) == 0.0:
        # Plotly's range for all-zero bars is -1..1 dollars: show a zero-based, tiny axis instead.
        figure.update_yaxes(range=[0, 0.001], tickformat="$.3f")
        figure.add_annotation(text="$0: local or mock models, or cached calls", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.95)
    return figure


def percentile_figure(df: pd.DataFrame) -> go.Figure:
    """A plotly chart of a :func:`node_percentiles` frame: per node, p50, p95 and p99 time."""
    go = _plotly()

    figure = go.Figure([go.Bar(name=f"p{p}", x=df["node_id"], y=df[f"p{p}_ms"],
                               marker_color=colour)
                        for p, colour in ((50, "#54aeff"), (95, "#0969da"), (99, "#0a3069"))])
    figure.update_layout(title=f"Node time percentiles across runs of {df.attrs.get('workflow', '')}",
                         barmode="group", xaxis_title="node", yaxis_title="ms (nearest rank)",
                         template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 60})
    figure.update_yaxes(rangemode="nonnegative")
    return figure


def profile_figure(df: pd.DataFrame) -> go.Figure:
    """A plotly timeline of a :func:`profile` frame: one bar per node execution from its start
    offset, parallel branches on separate rows, bottlenecks in red (cached grey, failed amber)."""
    import pandas as pd

    go = _plotly()

    figure = go.Figure()
    attrs = df.attrs
    span = float(attrs.get("duration_ms") or (df["end_ms"].max() if len(df) else 0.0) or 1.0)
    shortest = span * 0.004
    for kind in ("normal", "cached", "failed", "bottleneck"):
        if kind == "bottleneck":
            part = df[df["bottleneck"]]
        elif kind == "failed":
            part = df[(df["status"] == "failed") & ~df["bottleneck"]]
        elif kind == "cached":
            part = df[df["cached"] & (df["status"] != "failed") & ~df["bottleneck"]]
        else:
            part = df[~df["cached"] & (df["status"] != "failed") & ~df["bottleneck"]]
        if part.empty:
            continue
        labels = [execution_label(node, None if pd.isna(item) else int(item), it)
                  for node, item, it in zip(part["node_id"], part["item"], part["iteration"])]
        # A node of a fraction of a millisecond would be invisible: draw at least a sliver
        # (the hover text gives the true duration).
        widths = [max(d, shortest) for d in part["duration_ms"]]
        figure.add_trace(go.Bar(
            base=part["start_ms"], x=widths, y=[f"lane {lane}" for lane in part["lane"]],
            orientation="h", name=kind, marker_color=_COLOURS[kind], text=labels,
            textposition="auto", cliponaxis=False,
            customdata=list(zip(labels, part["duration_ms"], part["share"] * 100)),
            hovertemplate="%{customdata[0]}: %{customdata[1]:.1f} ms "
                          "(%{customdata[2]:.0f}% of the run)<extra></extra>"))
    title = f"Profile of run {attrs.get('run_id', '')}"
    if attrs.get("workflow"):
        title += f" ({attrs['workflow']}, {attrs.get('duration_ms', 0):.0f} ms)"
    if attrs.get("threshold"):
        title += f"<br><sup>red: a bottleneck, over {attrs['threshold']:.0%} of the run</sup>"
    lanes = sorted({f"lane {lane}" for lane in df["lane"]}) or ["lane 0"]
    figure.update_layout(title=title, barmode="overlay", template="plotly_white",
                         xaxis_title="ms since the run started",
                         yaxis={"categoryorder": "array", "categoryarray": lanes[::-1]},
                         legend={"orientation": "h", "y": -0.25 - 0.05 * (3 - min(len(lanes), 3))},
                         height=200 + 45 * len(lanes), margin={"l": 70, "r": 20, "t": 70, "b": 50})
    return figure
