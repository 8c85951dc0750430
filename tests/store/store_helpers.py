"""Workflows and small helpers shared by the tests in tests/store/."""

from __future__ import annotations

import datetime as dt
import textwrap
import uuid


def chain(n: int = 3, *, name: str = "chain", latency_ms: float = 0, llm: str = "{provider: mock}"
          ) -> str:
    """YAML of a linear workflow of ``n`` mock nodes n1 → n2 → … (each echoes the last)."""
    nodes = "\n".join(
        f"  - id: n{i}\n    prompt: \"Step {i}: {{state.text}}\"\n    outputs: [text]"
        for i in range(1, n + 1))
    edges = "\n".join(["  - {from: START, to: n1}"]
                      + [f"  - {{from: n{i}, to: n{i + 1}}}" for i in range(1, n)]
                      + [f"  - {{from: n{n}, to: END}}"])
    params = f", params: {{latency_ms: {latency_ms}}}" if latency_ms else ""
    llm_line = llm if not params else llm.rstrip("}") + params + "}"
    return (f'schema_version: "1.0"\nflow: {{name: {name}}}\nstate:\n  fields:\n'
            f"    text: {{type: str, required: true}}\nnodes:\n{nodes}\nedges:\n{edges}\n"
            f"config:\n  llm: {llm_line}\n")


FANOUT = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: fanout}
    state:
      fields:
        text: {type: str, required: true}
        a: {type: str, default: ""}
        b: {type: str, default: ""}
        c: {type: str, default: ""}
        d: {type: str, default: ""}
    nodes:
      - id: split
        prompt: "Split {state.text}"
        outputs: [a]
      - id: slow
        prompt: "Slow branch on {state.a}"
        outputs: [b]
        llm: {provider: mock, params: {latency_ms: 300}}
      - id: quick
        prompt: "Quick branch on {state.a}"
        outputs: [c]
        llm: {provider: mock, params: {latency_ms: 60}}
      - id: join
        prompt: "Join {state.b} and {state.c}"
        outputs: [d]
    edges:
      - {from: START, to: split}
      - {from: split, to: [slow, quick]}
      - {from: slow, to: join}
      - {from: quick, to: join}
      - {from: join, to: END}
    config:
      llm: {provider: mock}
    """)

FAILING = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: failing}
    state:
      fields:
        text: {type: str, required: true}
        summary: {type: str, default: ""}
        score: {type: int, default: 0}
    nodes:
      - id: summarize
        prompt: "Summarise {state.text}"
        outputs: [summary]
      - id: rate
        prompt: "Rate {state.summary}"
        outputs: [score]
        output_schema:
          type: object
          fields: [{name: score, type: int}]
        llm: {provider: mock, responses: ["not json", "still not json"]}
    edges:
      - {from: START, to: summarize}
      - {from: summarize, to: rate}
      - {from: rate, to: END}
    config:
      llm: {provider: mock}
    """)


def rows(url: str, sql: str, **params):
    """Rows of a raw SQL query against the store at ``url`` (as dicts)."""
    import sqlalchemy as sa

    from agents_magic.store._db import open_store

    with open_store(url).engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.text(sql), params)]


YAML = 'schema_version: "1.0"\nflow: {name: summarize}\n'


def _iso(minutes_ago: float = 0.0) -> str:
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)
    return when.isoformat()


def make_record(*, name: str = "prompts", workflow: str = "summarize", rows_per_variant: int = 3,
                repeats: int = 2, variants=("baseline", "short"), minutes_ago: float = 0.0,
                tag: str = "v1", evaluation_id: str | None = None) -> dict:
    """A record in the shape of ``EvalResult.to_record()``: every variant × row × repeat, the
    last row of each variant failed."""
    table = []
    for variant in variants:
        for row in range(rows_per_variant):
            for repeat in range(repeats):
                failed = row == rows_per_variant - 1
                table.append({
                    "variant": variant, "row": row, "repeat": repeat,
                    "run_id": None if failed else uuid.uuid4().hex,
                    "status": "failed" if failed else "succeeded",
                    "error": "provider_error: HTTP 500 from the server" if failed else None,
                    # Key order matters to the table a loaded result shows.
                    "inputs": {"text": f"row {row} ✓", "lang": "en", "a_meta": {"z": 1, "b": [1, 2]}},
                    "outputs": None if failed else {"summary": f"{tag} {variant} {row}/{repeat}"},
                    "references": {"summary": f"ref {row}"},
                    "metrics": {"exact": None if failed else row % 2 == 0,
                                "judge": None if failed else 0.25 * (row + 1),
                                "contains": not failed},
                    "latency_ms": 12.5 + row, "cost_usd": 0.0 if failed else 0.0015,
                    "tokens": 0 if failed else 42, "judge_cost_usd": 0.0 if failed else 0.0002,
                    "nodes": [] if failed else [
                        {"node_id": "summarize", "latency_ms": 10.25, "cost_usd": 0.0015,
                         "tokens": 42, "status": "succeeded"}]})
    return {
        "id": evaluation_id or uuid.uuid4().hex, "name": name, "workflow": workflow,
        "workflow_yaml": YAML, "started_at": _iso(minutes_ago + 1), "finished_at": _iso(minutes_ago),
        "status": "succeeded",
        "config": {"metrics": ["exact", "judge", "contains"], "repeats": repeats,
                   "variants": {v: ({} if i == 0 else {"nodes.summarize.prompt": f"Be {v}"})
                                for i, v in enumerate(variants)},
                   "gates": [{"metric": "exact_avg", "min": 0.5, "max": None}],
                   "on_fail": "warn", "primary_metric": "exact",
                   "guardrails": {"max_cost_per_run": 0.01}},
        "rows": table}
