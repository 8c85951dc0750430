"""Python functions as tools (`from_function`, `@agents_magic.tool`), the built-in registry's
door (`tools.get`), and how node `tools:` are checked when a workflow loads or runs."""

from __future__ import annotations

import asyncio
import warnings
from typing import Literal

import pytest
from tools_helpers import flow, population

import agents_magic as am
from agents_magic.tools import Tool, ToolArgumentsError, ToolError, from_function, get
from agents_magic.tools.builtin import BUILTINS

MOCK = "{provider: mock}"


def search(query: str, limit: int = 5, kind: Literal["web", "news"] = "web") -> list[str]:
    """Search the web.

    Longer text that is not the summary.

    Parameters
    ----------
    query : str
        What to look for,
        over two lines.
    limit : int
        How many results.
    """
    return [query] * limit


def scale(value: float, factor: float = 2.0) -> float:
    """Scale a value.

    :param value: The number to scale.
    :param factor: By how much.
    """
    return value * factor


def test_a_function_becomes_a_tool_with_a_schema_from_its_hints_and_docstring():
    tool = from_function(search)
    assert tool.name == "search" and tool.description == "Search the web."
    assert tool.in_kernel
    params = tool.schema()["function"]["parameters"]
    assert params["required"] == ["query"]
    assert params["properties"]["query"] == {"type": "string",
                                             "description": "What to look for, over two lines."}
    assert params["properties"]["limit"] == {"type": "integer", "default": 5,
                                             "description": "How many results."}
    assert params["properties"]["kind"]["enum"] == ["web", "news"]
    assert from_function(scale).parameters["properties"]["value"]["description"] == "The number to scale."
    google = from_function(population).parameters["properties"]["city"]
    assert google["description"] == "The city's English name."


def test_calls_are_validated_and_coerced():
    tool = from_function(search)
    assert tool(query="tea", limit="2") == ["tea", "tea"]
    assert tool("tea", 1) == ["tea"]  # still callable as the function
    with pytest.raises(ToolArgumentsError, match=r"limit: Input should be a valid integer"):
        tool(query="tea", limit="many")
    with pytest.raises(ToolArgumentsError, match=r"kind: Input should be 'web' or 'news'"):
        tool(query="tea", kind="images")
    with pytest.raises(ToolArgumentsError, match=r"extra: Extra inputs are not permitted"):
        asyncio.run(tool.acall({"query": "tea", "extra": 1}))


def test_the_decorator_and_async_functions():
    @am.tool
    async def double(n: int) -> int:
        """Double it."""
        await asyncio.sleep(0)
        return 2 * n

    @am.tool(name="triple_it", description="Three times.")
    def triple(n: int) -> int:
        return 3 * n

    assert isinstance(double, Tool) and double.name == "double"
    assert asyncio.run(double.acall({"n": "4"})) == 8 and double(n=5) == 10
    assert (triple.name, triple.description, triple(n=2)) == ("triple_it", "Three times.", 6)


def test_config_fixes_arguments_and_hides_them_from_the_model():
    tool = from_function(search, bound={"limit": 1})
    assert "limit" not in tool.parameters["properties"]
    assert tool(query="x") == ["x"]
    with pytest.raises(ToolArgumentsError, match="limit"):
        tool(query="x", limit=3)
    with pytest.raises(TypeError, match="tool `search` has no argument `depth` to configure"):
        from_function(search, bound={"depth": 1})


def test_what_cannot_be_a_tool_is_refused():
    with pytest.raises(TypeError, match="must be a function"):
        from_function(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool name 'no spaces' must be"):
        from_function(search, name="no spaces")

    def positional(a: int, /) -> int:
        return a

    with pytest.raises(TypeError, match="positional-only argument `a`"):
        from_function(positional)


def test_get_names_unknown_builtins_with_a_suggestion(monkeypatch):
    monkeypatch.setitem(BUILTINS, "file_read", lambda **config: from_function(
        lambda path: f"read {path} in {config['roots']}", name="file_read"))
    tool = get("file_read", roots=["data"])
    assert tool(path="a.txt") == "read a.txt in ['data']"
    with pytest.raises(ToolError, match=r"unknown built-in tool `file_reed`; did you mean `file_read`"):
        get("file_reed")
    with pytest.raises(KeyError):
        get("nothing_like_it")


# -- tools: in a workflow ----------------------------------------------------------------------


def test_unknown_tool_names_are_reported_at_load_with_line_and_suggestion():
    text = flow(MOCK, "[populaton, {name: serch, config: {limit: 1}}]")
    with pytest.raises(am.ConfigError) as caught:
        am.load(text, tools=[population, search])
    first, second = caught.value.problems
    line = text.splitlines().index("    tools: [populaton, {name: serch, config: {limit: 1}}]") + 1
    assert (first.line, first.column) == (line, 13) and "unknown tool `populaton`" in first.message
    assert first.hint == "did you mean `population`?"
    assert second.line == line and second.hint == "did you mean `search`?"


def test_without_functions_unknown_names_wait_for_the_run_and_fail_before_any_call():
    wf = am.load(flow(MOCK))  # `population` may still be given to run()
    result_holder: list = []
    line = flow(MOCK).splitlines().index("    tools: [population]") + 1
    with pytest.raises(am.ConfigError, match=rf"line {line}:13: unknown tool `population`"):
        am.run(wf, {"question": "q"}, sinks=[result_holder.append])
    assert result_holder == []  # not even RunStarted: nothing ran
    assert am.run(wf, {"question": "q"}, tools={"population": population}).ok


def test_functions_given_at_load_are_kept_for_every_run():
    text = flow("{provider: mock, responses: [{tool_calls: [{name: population, arguments: "
                "{city: Rome}}]}, done]}")
    wf = am.load(text, tools=[population])
    for _ in range(2):
        result = wf.run(question="q")
        assert result.ok and result.nodes["tool_calls"].tolist() == [1]


def test_bad_tool_entries_are_config_errors():
    cases = {
        "[population, population]": "tool `population` is listed twice",
        "['has space']": "tool name `has space` must be 1-64 letters",
        "[{name: population, on_error: retry}]": "on_error",
        "[{name: population, config: {town: x}}]": "tool `population`: tool `population` has no argument `town`",
        "[{name: population, confg: {city: 3}}]": "unknown field `confg`",
    }
    for tools, message in cases.items():
        with pytest.raises(am.ConfigError) as caught:
            am.load(flow(MOCK, tools), tools=[population])
        assert any(message in p.message for p in caught.value.problems), (tools, caught.value)


def test_a_notebook_value_that_is_not_a_function_is_named():
    with pytest.raises(am.ConfigError, match="tool `population` is a int in the notebook"):
        am.load(flow(MOCK), tools={"population": 3})


def test_code_nodes_cannot_have_tools():
    text = flow(MOCK).replace('    prompt: "Answer: {state.question}"',
                              "    code: \"result = 'x'\"")
    with pytest.raises(am.ConfigError, match="a code node cannot call tools"):
        am.load(text, tools=[population])


def test_node_tools_no_longer_warn_as_unimplemented():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wf = am.load(flow(MOCK), tools=[population])
    assert wf.warnings == []
    node = wf.spec.nodes[0]
    assert (node.max_tool_steps, node.on_tool_limit) == (8, "fail")
    with pytest.raises(am.ConfigError, match="greater than 0"):
        am.load(flow(MOCK, extra="    max_tool_steps: 0"), tools=[population])
