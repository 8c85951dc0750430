"""Workflows the evaluation tests share (a module of its own, so test files can import it)."""

from __future__ import annotations


def qa_yaml(llm: str = "{provider: mock}", prompt: str = "Answer: {question}") -> str:
    return f"""\
schema_version: "1.0"
flow: {{name: qa}}
state:
  fields:
    question: {{type: str, required: true}}
    answer: {{type: str, default: ""}}
nodes:
  - id: answer
    prompt: "{prompt}"
    outputs: [answer]
    llm: {llm}
edges:
  - {{from: START, to: answer}}
  - {{from: answer, to: END}}
config:
  execution: {{max_retries: 2, retry_backoff: 0, timeout: 5}}
"""


def server_yaml(base_url: str, prompt: str = "Answer: {question}") -> str:
    return qa_yaml(f'{{provider: openai, model: gpt-4o-mini, api_base: "{base_url}"}}', prompt)
