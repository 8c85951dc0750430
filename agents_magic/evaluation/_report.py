"""How an :class:`EvalResult` reads: a compact table with one column per variant and one row
per measure (so six metrics never scroll sideways), the winner, gates, failures and the judge.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..display._html import esc, no_math

if TYPE_CHECKING:
    import pandas as pd

    from ._result import EvalResult

STATUS_COLOUR = {"succeeded": "#1a7f37", "cancelled": "#9a6700"}
ERRORS_SHOWN = 3
ERROR_CHARS = 160


def headline(result: EvalResult) -> str:
    failed = sum(1 for r in result.rows if r["status"] != "succeeded")
    return (f"evaluation `{result.name}` of `{result.workflow}`: {result.status}, {_rows(result)} "
            f"({failed} failed), {_variants(result)}")


def overview(result: EvalResult) -> pd.DataFrame:
    """Measures × variants, as readable strings: each metric's mean with its 95 % interval,
    error rate, latency percentiles, cost per run and in total, and the judge's cost apart."""
    import pandas as pd

    summary = result.summary
    table: dict[str, dict[str, str]] = {}
    for variant, s in summary.iterrows():
        column = {"rows": f"{s['rows']:.0f}", "error rate": _pct(s["error_rate"])}
        for m in result.metric_names:
            if not s[f"{m}_n"]:
                column[m] = "n/a"
                continue
            show = _pct if result.binary[m] else _num
            column[m] = f"{show(s[m])} [{show(s[f'{m}_low'])}, {show(s[f'{m}_high'])}]"
        for p in (50, 95, 99):
            column[f"latency p{p}"] = f"{_num(s[f'latency_ms_p{p}'])} ms"
        column["cost / run"] = _usd(s["cost_usd_avg"])
        column["cost total"] = _usd(s["cost_usd_total"])
        if result.config.get("judges"):
            column["judge cost"] = _usd(s["judge_cost_usd"])
        table[str(variant)] = column
    return pd.DataFrame(table)


def notes(result: EvalResult) -> list[str]:
    """Lines under the table: judge, winner, missed gates, the commonest errors."""
    lines = []
    judges = sorted(set((result.config.get("judges") or {}).values()))
    if judges:
        total = sum(r["judge_cost_usd"] for r in result.rows)
        lines.append(f"judged by {', '.join(judges)}; judge cost {_usd(total)} "
                     "(judge_cost_usd, not in cost_usd)")
    if len(result.variants) > 1 and result.rows:
        lines.append(f"winner: {result.winner.explanation}")
    for variant in result.variants:
        lines.extend(f"gate missed by {variant}: {line}" for line in result.missed(variant))
    errors = Counter(_first_line(r["error"]) for r in result.rows if r["status"] != "succeeded")
    for error, count in errors.most_common(ERRORS_SHOWN):
        lines.append(f"{count} row{'s' if count != 1 else ''} failed: {error}")
    if len(errors) > ERRORS_SHOWN:
        lines.append(f"... {len(errors) - ERRORS_SHOWN} other errors; see "
                     ".table[.table.status != 'succeeded']")
    if result.status == "cancelled":
        lines.append("interrupted: the result holds the rows that finished")
    return lines


def text(result: EvalResult) -> str:
    lines = [f"EvalResult({headline(result)})"]
    if result.rows:
        lines.append(overview(result).to_string())
    return "\n".join(lines + notes(result))


def html(result: EvalResult) -> str:
    colour = STATUS_COLOUR.get(result.status, "#cf222e")
    parts = [f"<div class='am-eval'><div><b style='color:{colour}'>{esc(result.status)}</b> "
             f"evaluation <code>{esc(result.name)}</code> of <code>{esc(result.workflow)}</code>: "
             f"{esc(_rows(result))}, {esc(_variants(result))}</div>"]
    if result.rows:
        parts.append(_table(overview(result)))
    parts.extend(f"<div>{_code_spans(line)}</div>" for line in notes(result))
    if result.rows and not result.gates.empty:
        parts.append("<details><summary>gates</summary><div style='overflow-x:auto'>"
                     + result.gates.to_html(index=False).replace("$", "&#36;") + "</div></details>")
    return no_math("".join(parts) + "</div>")


def _code_spans(line: str) -> str:
    """A note line as HTML, its `names` in backticks shown as code (as Markdown would)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(line))


def _rows(result: EvalResult) -> str:
    done, planned = len(result.rows), result.config.get("rows_planned")
    if planned and planned != done:
        return f"{done} of {planned} rows"
    return f"{done} row{'s' if done != 1 else ''}"


def _variants(result: EvalResult) -> str:
    n = len(result.variants)
    return f"{n} variant{'s' if n != 1 else ''}"


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th style='text-align:right'>{esc(c)}</th>" for c in frame.columns)
    body = "".join(
        f"<tr><th style='text-align:left'>{esc(index)}</th>"
        + "".join(f"<td style='text-align:right'>{esc(v)}</td>" for v in row) + "</tr>"
        for index, row in frame.iterrows())
    return (f"<div style='overflow-x:auto;max-width:100%'><table><thead><tr><th></th>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table></div>")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> str:
    return "n/a" if _missing(value) else f"{value:.4g}"


def _pct(value: Any) -> str:
    return "n/a" if _missing(value) else f"{100 * value:.3g}%"


def _usd(value: Any) -> str:
    return "n/a" if _missing(value) else f"${value:.4g}" if value else "$0"


def _first_line(error: Any) -> str:
    line = (str(error or "").strip().splitlines() or ["unknown error"])[0]
    return line if len(line) <= ERROR_CHARS else line[:ERROR_CHARS - 1] + "…"
