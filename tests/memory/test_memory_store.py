"""The memory store on SQLite and PostgreSQL: upserts, TTL, append/add, namespaces, errors."""

from __future__ import annotations

import time

import pytest

from agents_magic.store._memory import Memory, MemoryStoreError, describe, namespace, open_memory


@pytest.fixture
def memory(store_url) -> Memory:
    return open_memory(store_url)


NS = namespace("workflow", "chat")


def _row(memory: Memory, key: str, **options):
    (row,) = [r for r in memory.entries([NS], **options) if r["key"] == key]
    return row


def test_set_is_an_upsert_that_keeps_the_creation_time(memory):
    memory.set(NS, "style", {"tone": "warm"})
    first = _row(memory, "style")
    time.sleep(0.01)
    memory.set(NS, "style", ["now", "a", "list"])
    second = _row(memory, "style")
    assert memory.get(NS, "style") == ["now", "a", "list"]
    assert len(memory.entries([NS])) == 1
    assert second["created_at"] == first["created_at"] < second["updated_at"]


def test_none_is_a_value_and_distinct_from_missing(memory):
    memory.set(NS, "nothing", None)
    assert memory.get_many(NS, ["nothing", "absent"]) == {"nothing": None}
    assert memory.get(NS, "absent", "default") == "default"


def test_expired_entries_are_never_returned(memory):
    memory.set(NS, "short", "soon gone", ttl=0.2)
    memory.set(NS, "long", "stays", ttl=3600)
    assert memory.get(NS, "short") == "soon gone"
    assert _row(memory, "long")["expires_at"] > time.time() + 3500
    deadline = time.time() + 10
    while memory.get(NS, "short") is not None and time.time() < deadline:
        time.sleep(0.05)
    assert memory.get_many(NS, ["short", "long"]) == {"long": "stays"}
    assert [r["key"] for r in memory.entries([NS])] == ["long"]
    assert "short" in [r["key"] for r in memory.entries([NS], include_expired=True)]
    assert memory.delete(NS, "short") is False  # nothing live to delete
    # Writing an expired key again starts it afresh, created now.
    before = time.time()
    memory.set(NS, "short", "back")
    assert memory.get(NS, "short") == "back" and _row(memory, "short")["created_at"] >= before - 1
    assert memory.purge_expired() == 0


def test_expired_entries_are_deleted_when_a_process_first_opens_the_store(memory, store_url):
    from agents_magic.store import _memory

    memory.set(NS, "gone", "x", ttl=0.05)
    memory.set(NS, "kept", "y")
    deadline = time.time() + 10
    while memory.get(NS, "gone") is not None and time.time() < deadline:
        time.sleep(0.05)
    _memory._memories.clear()  # as in a new kernel
    fresh = open_memory(store_url)
    assert [r["key"] for r in fresh.entries([NS], include_expired=True)] == ["kept"]


def test_append_and_add_build_on_the_stored_value(memory):
    assert memory.append(NS, "log", "a") == ["a"]
    assert memory.append(NS, "log", "b", keep=2) == ["a", "b"]
    assert memory.append(NS, "log", "c", keep=2) == ["b", "c"]
    assert memory.add(NS, "n") == 1
    assert memory.add(NS, "n", 2.5) == 3.5
    memory.set(NS, "single", "x")
    assert memory.append(NS, "single", "y") == ["x", "y"]
    # An expired value does not count: the list starts again.
    memory.set(NS, "old", ["stale"], ttl=0.05)
    time.sleep(0.1)
    assert memory.append(NS, "old", "new") == ["new"]


def test_writes_in_one_call_are_one_transaction(memory):
    memory.set(NS, "text", "words")
    with pytest.raises(MemoryStoreError, match="memory `text`: cannot add to a stored str"):
        memory.apply(NS, [("set", "first", 1, None), ("add", "text", 1, None)])
    assert memory.get(NS, "first") is None  # rolled back with the failing write


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.set(NS, "k", {1, 2}), "values must be JSON-like"),
    (lambda m: m.set(NS, "k", float("nan")), "values must be JSON-like"),
    (lambda m: m.set(NS, "", 1), "non-empty string"),
    (lambda m: m.set(NS, "k" * 401, 1), "longer than 400"),
    (lambda m: m.set(NS, "k", 1, ttl=0), "positive number of seconds"),
    (lambda m: m.apply(NS, [("merge", "k", 1, None)]), "unknown write mode `merge`"),
])
def test_bad_calls_say_what_is_wrong(memory, call, message):
    with pytest.raises(MemoryStoreError, match=message):
        call(memory)


def test_namespaces_keep_scopes_apart(memory):
    spaces = [namespace("global"), namespace("workflow", "chat"), namespace("node", "chat", "answer"),
              namespace("workflow", "other")]
    assert spaces == ["default:*:*", "default:chat:*", "default:chat:answer", "default:other:*"]
    for i, ns in enumerate(spaces):
        memory.set(ns, "k", i)
    assert [memory.get(ns, "k") for ns in spaces] == [0, 1, 2, 3]
    assert describe("default:chat:answer") == {"scope": "node", "workflow": "chat", "node": "answer"}
    assert describe("default:*:*")["scope"] == "global"
    assert memory.clear([spaces[1]]) == 1
    assert [memory.get(ns, "k") for ns in spaces] == [0, None, 2, 3]
    assert namespace("agent") == namespace("global")  # configurable-agents' name
    with pytest.raises(MemoryStoreError, match="unknown memory scope `team`"):
        namespace("team")
    with pytest.raises(MemoryStoreError, match="needs a workflow name"):
        namespace("workflow")
    with pytest.raises(MemoryStoreError, match="needs a node id"):
        namespace("node", "chat")


def test_memory_survives_reopening_the_store(store_url):
    from agents_magic.store._db import close_stores

    open_memory(store_url).set(NS, "kept", {"a": 1})
    close_stores()
    assert open_memory(store_url).get(NS, "kept") == {"a": 1}
