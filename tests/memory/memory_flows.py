"""Workflows shared by the memory tests."""

from __future__ import annotations

import textwrap

# A chat turn: the history is loaded before the model is called, the message appended after.
CHAT = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: chat}
    state:
      fields:
        message: {type: str, required: true}
        history: {type: "list[str]", default: []}
        reply: {type: str, default: ""}
    nodes:
      - id: answer
        prompt: "Earlier you were told: {state.history}. Now reply to: {state.message}"
        outputs: [reply]
        memory:
          read: {history: conversation}
          write: {conversation: {field: message, mode: append, keep: 5}}
    edges:
      - {from: START, to: answer}
      - {from: answer, to: END}
    config:
      llm: {provider: mock}
    """)

# Each run adds one to a shared counter and appends its tag to a shared log.
COUNTER = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: counter}
    state:
      fields:
        tag: {type: str, required: true}
        one: {type: int, default: 1}
        reply: {type: str, default: ""}
    nodes:
      - id: bump
        prompt: "Run {state.tag}"
        outputs: [reply]
        memory:
          scope: global
          write:
            count: {field: one, mode: add}
            tags: {field: tag, mode: append}
    edges:
      - {from: START, to: bump}
      - {from: bump, to: END}
    config:
      llm: {provider: mock}
    """)
