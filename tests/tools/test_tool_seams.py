"""Where the built-in tools meet the loop and Python: a mistaken argument is the model's
(`ToolArgumentsError`, always sent back), a refusal is policy (`ToolError`, fatal with
`on_error: fail`); built-in tools are callable directly, in a running event loop too."""

from __future__ import annotations

import asyncio
import json

import pytest
from tools_helpers import flow, http_llm, run

import agents_magic as am
from agents_magic.tools import ToolArgumentsError, ToolError


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "secret.txt").write_text("top secret\n")
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk\n")
    monkeypatch.chdir(tmp_path)
    return folder


def test_file_read_works_from_python_as_the_readme_shows(folder):
    read = am.tools.get("file_read", roots=["notes"])
    got = read(path="todo.txt")  # relative to the first root
    assert (got["content"], got["path"], got["truncated"]) == ("buy milk\n", str(folder / "todo.txt"), False)
    assert read(path=str(folder / "todo.txt"), offset=4)["content"] == "milk\n"
    with pytest.raises(ToolError, match="outside the allowed roots") as refused:
        read(path="../secret.txt")
    assert not isinstance(refused.value, ToolArgumentsError)


@pytest.mark.parametrize(("name", "config", "arguments", "says"), [
    ("file_read", {}, {"file": "todo.txt"}, "path: Missing required argument; file: Unexpected"),
    ("file_read", {}, {"path": "todo.txt", "offset": "ten"}, "offset: Input should be a valid integer"),
    ("file_read", {}, {"path": ""}, "the path must be a non-empty string"),
    ("file_write", {}, {"path": "a.txt", "content": "x", "mode": "replace"},
     "mode: Input should be 'create', 'overwrite' or 'append'"),
    ("file_glob", {}, {"pattern": ""}, "the pattern is empty"),
    ("sql_query", None, {"sql": "  "}, "the query must be a non-empty string"),
    ("json_parse", None, {"text": 3}, "text: Input should be a valid string"),
    ("process", {"allow": ["echo"]}, {"program": "echo", "args": "hello"}, "args: Input should be a valid list"),
    ("shell", {"allow": ["echo"]}, {"command": "echo 'unclosed"}, "cannot split the command"),
])
def test_a_mistaken_argument_is_a_tool_arguments_error(folder, tmp_path, name, config, arguments, says):
    if name == "sql_query":
        import sqlite3

        sqlite3.connect(tmp_path / "x.db").close()
        config = {"url": str(tmp_path / "x.db")}
    elif config is not None:
        config = {**config, "roots": ["notes"]}
    tool = am.tools.get(name, **(config or {}))
    with pytest.raises(ToolArgumentsError, match=says.replace("(", r"\(")):
        tool(**arguments)
    assert not (folder / "a.txt").exists()


@pytest.mark.parametrize(("name", "arguments"), [
    ("file_glob", {"pattern": "../*"}),
    ("file_write", {"path": "/etc/x", "content": "x"}),
    ("process", {"program": "cat", "args": ["todo.txt"]}),
    ("shell", {"command": "echo a | cat"}),
])
def test_a_refusal_by_policy_is_a_plain_tool_error(folder, name, arguments):
    tool = am.tools.get(name, roots=["notes"], **({"allow": ["echo"]} if name in ("process", "shell") else {}))
    with pytest.raises(ToolError) as refused:
        tool(**arguments)
    assert not isinstance(refused.value, ToolArgumentsError)


def test_an_async_built_in_is_callable_inside_a_running_event_loop(folder):
    echo = am.tools.get("process", allow=["echo"], roots=["notes"])

    async def in_a_notebook_cell():  # ipykernel runs cells with an event loop running
        return echo(program="echo", args=["hi"])

    assert asyncio.run(in_a_notebook_cell())["stdout"] == "hi\n"


def test_with_on_error_fail_a_mistaken_argument_goes_back_and_a_refusal_fails(fake_llm, folder):
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "file_read", "arguments": {"file": "todo.txt"}}], "times": 1},
        {"tool_calls": [{"name": "file_read", "arguments": {"path": "todo.txt"}}], "times": 1},
        {"tool_calls": [{"name": "file_read", "arguments": {"path": "../secret.txt"}}], "times": 1},
        {"content": "never reached"}])
    tools = "[{name: file_read, on_error: fail, config: {roots: [notes]}}]"
    result, sink = run(flow(http_llm(fake_llm), tools), "What is on my list?")
    assert result.status == "failed"
    (failed,) = sink.of(am.engine.events.NodeFailed)
    assert failed.kind == "tool_error"
    assert "tool `file_read` failed: `../secret.txt` is outside the allowed roots" in result.error
    assert [e.step for e in sink.tools] == [1, 2, 3]
    mistaken, read, refused = sink.tools
    assert mistaken.error.startswith("invalid arguments for `file_read`: path: Missing required")
    assert read.error is None and json.loads(read.result)["content"] == "buy milk\n"
    assert "outside the allowed roots" in refused.error
    # The model saw its mistake, corrected the call, and was never called after the refusal.
    requests = fake_llm.requests()
    assert len(requests) == 3
    tool_replies = [m["content"] for m in requests[1]["messages"] if m.get("role") == "tool"]
    assert tool_replies == [f"error: {mistaken.error}"]


def test_with_on_error_continue_a_refusal_goes_back_to_the_model(fake_llm, folder):
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "file_read", "arguments": {"path": "/etc/passwd"}}], "times": 1},
        {"content": "I may not read that."}])
    result, sink = run(flow(http_llm(fake_llm), "[{name: file_read, config: {roots: [notes]}}]"))
    assert result.ok, result.error
    (event,) = sink.tools
    assert event.error == "`/etc/passwd` is outside the allowed roots (" + str(folder) + ")"
    (reply,) = [m["content"] for m in fake_llm.requests()[1]["messages"] if m.get("role") == "tool"]
    assert reply == f"error: {event.error}"


def test_in_a_notebook_a_tool_error_shows_its_message_without_a_traceback(ip, folder, capsys):
    ip.run_cell("import agents_magic")
    made = ip.run_cell('agents_magic.tools.get("file_read", roots=["nope"])')
    assert type(made.error_in_exec).__name__ == "ToolError"
    assert made.error_in_exec._render_traceback_() == [
        "ToolError: file_read: root `nope` is not an existing directory"]
    called = ip.run_cell('agents_magic.tools.get("file_read", roots=["notes"])(path="../secret.txt")')
    assert called.error_in_exec._render_traceback_() == [
        f"ToolError: `../secret.txt` is outside the allowed roots ({folder})"]
    assert "Traceback" not in capsys.readouterr().out


def test_a_bad_tool_config_names_the_tool_once(ip):
    text = flow("{provider: mock}", "[{name: file_read, config: {root: [notes]}}]")
    cell = ip.run_cell(f"%%workflow reader -i question=q\n{text}")
    (problem,) = cell.error_in_exec.problems
    assert problem.message == ("tool `file_read`: unknown config key `root` "
                               "(did you mean `roots`?)")
    assert problem.line is not None
