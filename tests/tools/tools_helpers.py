"""Workflows and recorders shared by the tool tests."""

from __future__ import annotations

import agents_magic as am
from agents_magic.engine import events as ev


def flow(llm: str, tools: str = "[population]", *, extra: str = "", fields: str = "") -> str:
    """YAML of one LLM node `ask` that may call ``tools``; ``extra`` adds lines to the node (at
    four spaces), ``fields`` to the state (at four spaces)."""
    return "\n".join([
        'schema_version: "1.0"',
        "flow: {name: tooled}",
        "state:",
        "  fields:",
        "    question: {type: str, required: true}",
        '    answer: {type: str, default: ""}',
        *([fields] if fields else []),
        "nodes:",
        "  - id: ask",
        '    prompt: "Answer: {state.question}"',
        "    outputs: [answer]",
        f"    tools: {tools}",
        *([extra] if extra else []),
        "edges:",
        "  - {from: START, to: ask}",
        "  - {from: ask, to: END}",
        "config:",
        f"  llm: {llm}",
        "  execution: {timeout: 5, max_retries: 1, retry_backoff: 0.01}",
        ""])


def http_llm(fake, model: str = "gpt-4o-mini") -> str:
    return f'{{provider: openai, model: {model}, api_base: "{fake.base_url}"}}'


def litellm_llm(fake) -> str:
    return (f'{{provider: deepseek, model: deepseek-chat, api_base: "{fake.base_url}", '
            "api_key_env: DS_KEY}")


POPULATIONS = {"Paris": 2_100_000, "Rome": 2_800_000}


def population(city: str) -> int:
    """How many people live in a city.

    Args:
        city: The city's English name.
    """
    if city not in POPULATIONS:
        raise KeyError(f"no census for {city}")
    return POPULATIONS[city]


class Recorder(list):
    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]

    @property
    def tools(self) -> list[ev.ToolCalled]:
        return self.of(ev.ToolCalled)


def run(text: str, question: str = "How many live in Paris?", **options):
    sink = Recorder()
    result = am.run(am.load(text), {"question": question}, sinks=[sink], **options)
    return result, sink
