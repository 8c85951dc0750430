"""A code node's ``memory`` object: plain data in, writes out, nothing live across the boundary."""

from __future__ import annotations

import pytest

from agents_magic.sandbox import SandboxCodeError, SandboxViolation, run_code


def test_get_reads_the_entries_and_reports_what_was_found():
    done = run_code("result = [memory.get('name'), memory.get('missing', 'fallback')]", {},
                    memory={"name": "Ann"})
    assert done["result"] == ["Ann", "fallback"]
    assert done["memory"] == {"reads": [("name", True), ("missing", False)], "writes": []}


def test_writes_are_returned_in_order_and_read_back_by_the_code():
    code = ("memory.set('a', {'x': [1, 2]})\n"
            "memory.append('log', 'hi', keep=2)\n"
            "memory.append('log', 'there', keep=2)\n"
            "n = memory.add('count', 2)\n"
            "result = [memory.get('a'), memory.get('log'), n]")
    done = run_code(code, {}, memory={"log": ["old"], "count": 1})
    assert done["result"] == [{"x": [1, 2]}, ["hi", "there"], 3]
    assert done["memory"]["writes"] == [("set", "a", {"x": [1, 2]}, None),
                                        ("append", "log", "hi", 2),
                                        ("append", "log", "there", 2),
                                        ("add", "count", 2, None)]


def test_a_value_is_copied_when_set_so_later_changes_are_not_stored():
    done = run_code("v = [1]\nmemory.set('v', v)\nv.append(2)\nresult = v", {}, memory={})
    assert done["result"] == [1, 2]
    assert done["memory"]["writes"] == [("set", "v", [1], None)]


@pytest.mark.parametrize(("code", "message"), [
    ("class C:\n    pass\nmemory.set('k', C())", "memory `k` must be plain data"),
    ("memory.set(3, 'v')", "a memory key must be a non-empty str"),
    ("memory.set('t', 'text')\nmemory.add('t', 1)", "cannot add to a stored str"),
    ("memory.add('n', 'one')", "`add` needs a number"),
])
def test_bad_writes_fail_the_code_with_their_line(code, message):
    with pytest.raises(SandboxCodeError) as caught:
        run_code(code, {}, memory={})
    assert message in str(caught.value)
    assert caught.value.line == code.count("\n") + 1


@pytest.mark.parametrize("code", [
    "result = memory._entries",
    "result = memory.get.__self__",
    "result = memory.__class__",
    "result = getattr(memory, '_writes')",
    "result = memory.get.__func__.__globals__",
])
def test_the_object_behind_memory_is_out_of_reach(code):
    with pytest.raises(SandboxViolation):
        run_code(code, {}, memory={"k": 1})


def test_code_cannot_change_the_memory_object():
    with pytest.raises(SandboxViolation, match="changing a `Memory` object is not allowed"):
        run_code("memory.set = None", {}, memory={})


def test_without_memory_the_name_is_not_defined():
    with pytest.raises(SandboxCodeError, match="NameError: name 'memory' is not defined"):
        run_code("result = memory.get('k')", {})
    assert "memory" not in run_code("result = 1", {})


def test_memory_must_be_plain_data():
    from agents_magic.sandbox import SandboxError

    with pytest.raises(SandboxError, match="must be plain data"):
        run_code("result = 1", {}, memory={"k": object()})
