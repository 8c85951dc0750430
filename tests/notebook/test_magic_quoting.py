"""``-i`` values arrive as the user typed them, through a real InteractiveShell."""

from __future__ import annotations

import pytest
from am_nb_helpers import cell

QUOTING = """\
schema_version: "1.0"
flow: {name: quoting}
state:
  fields:
    text: {type: str, default: ""}
    items: {type: "list[int]", default: []}
    obj: {type: object, default: {}}
    echo: {type: str, default: ""}
nodes:
  - {id: echo, prompt: "{state.text}", outputs: [echo]}
edges:
  - {from: START, to: echo}
  - {from: echo, to: END}
config:
  llm: {provider: mock}
"""


@pytest.mark.parametrize(("line", "field", "value"), [
    ('-i text="hello there"', "text", "hello there"),
    ("-i 'text=two words'", "text", "two words"),
    ("-i items='[1, 2]'", "items", [1, 2]),
    ("-i obj='{\"a\": 1}'", "obj", {"a": 1}),
    ("-i text=a=b=c", "text", "a=b=c"),
    ('-i text="say \\"hi\\" now"', "text", 'say "hi" now'),
    ("-i text='say \"hi\" now'", "text", 'say "hi" now'),
    ('-i text="{\\"weather\\": \\"sunny\\"}"', "text", '{"weather": "sunny"}'),
    ("-i text=C:\\data\\notes.txt", "text", "C:\\data\\notes.txt"),
])
def test_values_arrive_intact(magic, line, field, value):
    result = magic.run_cell_magic("workflow", f"quoting {line} --quiet", QUOTING)
    assert result.ok
    assert result.outputs[field] == value


def test_namespace_values_with_spaces_still_work(magic):
    magic.user_ns["words"] = "several words here"
    for line in ("-i text=$words", "-i text={words}", '-i text="{words}"'):
        result = magic.run_cell_magic("workflow", f"quoting {line} --quiet", QUOTING)
        assert result.outputs["text"] == "several words here"


@pytest.mark.parametrize(("line", "words"), [
    ('-i text="never closed', ["never closed", "close your quotes"]),
    ("-i justtext", ["KEY=VALUE", "`justtext`"]),
    ("-i =3", ["KEY=VALUE", "`=3`"]),
])
def test_malformed_input_gets_a_usage_message(magic, capsys, line, words):
    outcome = magic.run_cell(cell(f"quoting {line}", QUOTING))
    assert outcome.error_in_exec is not None or outcome.error_before_exec is not None
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "UsageError" in text and "Traceback" not in text
    for word in words:
        assert word in text
