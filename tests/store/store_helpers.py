"""Workflows and small helpers shared by the tests in tests/store/."""

from __future__ import annotations

import textwrap


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
