"""RunResult: what a run returns — outputs, status, totals and one row per node execution."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .display._html import esc, no_math, usd
from .engine.events import execution_label

if TYPE_CHECKING:
    import pandas as pd

NODE_COLUMNS = ["node_id", "iteration", "item", "status", "model", "provider", "prompt_tokens",
                "completion_tokens", "cost_usd", "duration_ms", "started_at", "cached", "attempts",
                "error", "tool_calls"]


@dataclass
class RunResult:
    """The result of one workflow run.

    ``outputs`` is the final state (for a failed run: the state as the finished nodes left it);
    ``nodes`` is a DataFrame with one row per node execution, in the order they finished; for
    an item of a map, ``item`` is the item's 0-based index (else None).
    """

    __module__ = "agents_magic"

    run_id: str
    workflow: str
    status: str
    outputs: dict[str, Any]
    error: str | None = None
    cost_usd: float = 0.0
    total_tokens: int = 0
    duration_ms: float = 0.0
    node_rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def nodes(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.node_rows, columns=NODE_COLUMNS).astype({"item": "Int64"})

    def to_pandas(self) -> pd.DataFrame:
        """The per-node table (same as ``nodes``)."""
        return self.nodes

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "workflow": self.workflow, "status": self.status,
                "outputs": self.outputs, "error": self.error, "cost_usd": self.cost_usd,
                "total_tokens": self.total_tokens, "duration_ms": round(self.duration_ms, 2),
                "nodes": self.node_rows, "warnings": self.warnings}

    def summary(self) -> str:
        return (f"{self.workflow} {self.status} in {self.duration_ms / 1000:.2f}s · "
                f"{self.total_tokens} tokens · {usd(self.cost_usd)} · run {self.run_id}")

    def __repr__(self) -> str:
        lines = [f"RunResult({self.summary()})"]
        if self.error:
            lines.append(f"  error: {self.error}")
        for key, value in self.outputs.items():
            if not key.startswith("_"):
                lines.append(f"  {key} = {_short(value)}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {"succeeded": "#1a7f37", "cancelled": "#9a6700"}.get(self.status, "#cf222e")
        outputs = "".join(
            f"<tr><td><code>{esc(k)}</code></td><td{LEFT}>{esc(_short(v, 300))}</td></tr>"
            for k, v in self.outputs.items() if not k.startswith("_")
        )
        rows = "".join(
            f"<tr><td>{esc(execution_label(r['node_id'], r.get('item'), 1))}</td>"
            + "".join(f"<td>{esc(_cell(r.get(c)))}</td>" for c in
                      ("iteration", "status", "model", "prompt_tokens", "completion_tokens"))
            + f"<td>{esc(usd(r.get('cost_usd') or 0.0))}</td><td>{esc(_ms(r.get('duration_ms')))}</td>"
            + f"<td>{esc(_cell(r.get('cached')))}</td></tr>"
            for r in self.node_rows
        )
        error = f"<div style='color:{colour}'>{esc(self.error)}</div>" if self.error else ""
        return no_math(
            f"<div class='am-result'><b style='color:{colour}'>{esc(self.status)}</b> "
            f"<code>{esc(self.workflow)}</code> · {self.duration_ms / 1000:.2f}s · "
            f"{self.total_tokens} tokens · {esc(usd(self.cost_usd))}{error}"
            f"<table><tr><th>output</th><th{LEFT}>value</th></tr>{outputs}</table>"
            "<table><tr><th>node</th><th>iter</th><th>status</th><th>model</th><th>in</th>"
            f"<th>out</th><th>cost</th><th>ms</th><th>cached</th></tr>{rows}</table></div>"
        )


LEFT = " style='text-align:left'"  # texts read from the left (notebook tables align right)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _ms(value: Any) -> str:
    """Milliseconds as a person reads them: 1,458 · 12 · 0.8."""
    if not isinstance(value, (int, float)):
        return ""
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
