"""A node execution's tool calls and memory reads have columns of their own (migration 0005):
new runs write them there, stores made before are moved over, and ``outputs`` holds outputs only."""

from __future__ import annotations

import json
import textwrap

import sqlalchemy as sa
from store_helpers import rows

import agents_magic as am
from agents_magic import _memory_api
from agents_magic._settings import Settings
from agents_magic.sinks import StoreSink
from agents_magic.store import _db
from agents_magic.store._schema import node_executions, runs

CALL = {"tool": "population", "arguments": {"city": "Paris"}, "result": "2100000", "error": None,
        "duration_ms": 1.5, "step": 1, "call_id": "call-1"}
FAILED_CALL = {**CALL, "arguments": {"city": "Atlantis"}, "result": None,
               "error": "KeyError: 'no census for Atlantis'", "call_id": "call-2"}
READ = {"namespace": "default:chat:*", "key": "conversation", "found": True, "field": "history"}

# Both reserved names of the old layout are ordinary output fields here.
CLASH = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: clash}
    state:
      fields:
        question: {type: str, required: true}
        history: {type: "list[str]", default: []}
        _tool_calls: {type: str, default: ""}
        _memory_read: {type: str, default: ""}
    nodes:
      - id: ask
        prompt: "Answer {state.question} knowing {state.history}"
        outputs: [_tool_calls]
        tools: [population]
        memory:
          read: {history: conversation}
        llm:
          provider: mock
          responses: [{tool_calls: [{name: population, arguments: {city: Paris}}]}, "mine"]
      - id: echo
        prompt: "Echo {state.question}"
        outputs: [_memory_read]
        llm: {provider: mock, responses: ["also mine"]}
    edges:
      - {from: START, to: ask}
      - {from: ask, to: echo}
      - {from: echo, to: END}
    """)


def population(city: str) -> int:
    """How many people live in a city.

    Args:
        city: The city's English name.
    """
    return {"Paris": 2_100_000}[city]


def _json(value):
    """A JSON column as a Python value: PostgreSQL hands back objects, SQLite text."""
    return json.loads(value) if isinstance(value, str) else value


def _at(store_url: str, revision: str) -> sa.engine.Engine:
    from alembic import command

    engine = _db.make_engine(store_url, immediate=True)
    config = _db.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def _execution(node_id: str, started_at: float, status: str, outputs) -> dict:
    return {"run_id": "old-run", "node_id": node_id, "iteration": 1, "status": status,
            "started_at": started_at, "finished_at": started_at + 0.5, "duration_ms": 500.0,
            "outputs": outputs}


OLD_ROWS = [
    _execution("ask", 1.0, "succeeded",
               {"answer": "Paris has 2.1M.", "_tool_calls": [CALL, FAILED_CALL],
                "_memory_read": [READ]}),
    _execution("check", 2.0, "failed", {"_tool_calls": [CALL]}),  # only its calls were stored
    _execution("recall", 3.0, "failed", {"_memory_read": [READ]}),
    _execution("plain", 4.0, "succeeded", {"answer": "no tools here"}),
    _execution("empty", 5.0, "succeeded", {"_memory_read": [READ]}),  # a node with no outputs
    # an output field that happened to bear the name, in a node that called no tool
    _execution("named", 6.0, "succeeded", {"_tool_calls": "mine"}),
]


def _old_store(store_url: str) -> None:
    """A store at revision 0004 holding executions written the old way."""
    engine = _at(store_url, "0004")
    with engine.begin() as connection:
        assert "tool_calls" not in {c["name"] for c in
                                    sa.inspect(connection).get_columns("node_executions")}
        connection.execute(sa.insert(runs), [{"run_id": "old-run", "workflow": "old",
                                              "status": "failed", "started_at": 1.0,
                                              "finished_at": 6.0, "duration_ms": 5000.0}])
        connection.execute(sa.insert(node_executions), OLD_ROWS)
    engine.dispose()


def test_a_store_at_0004_is_upgraded_and_reads_the_same(store_url):
    _old_store(store_url)
    store = _db.RunStore(store_url)
    assert store.migrated
    with store.engine.connect() as connection:
        assert _db.current_revision(connection) == _db.HEAD == "0005"

    nodes = {n["node_id"]: n for n in am.show_run("old-run", url=store_url)["nodes"]}
    assert {k: (n["outputs"], n["tool_calls"], n["memory_reads"]) for k, n in nodes.items()} == {
        "ask": ({"answer": "Paris has 2.1M."}, [CALL, FAILED_CALL], [READ]),
        "check": (None, [CALL], []),
        "recall": (None, [], [READ]),
        "plain": ({"answer": "no tools here"}, [], []),
        "empty": ({}, [], [READ]),
        "named": ({"_tool_calls": "mine"}, [], []),
    }
    assert am.profile("old-run", url=store_url).set_index("node_id")["tool_calls"].to_dict() == {
        "ask": 2, "check": 1, "recall": 0, "plain": 0, "empty": 0, "named": 0}
    reads = _memory_api.reads("old-run", url=store_url)
    assert reads["node_id"].tolist() == ["ask", "recall", "empty"]
    assert reads[["namespace", "key", "found", "field"]].to_dict("records") == [READ] * 3

    stored = {r["node_id"]: r for r in rows(
        store_url, "SELECT node_id, outputs, tool_calls, memory_reads FROM node_executions")}
    for node_id, row in stored.items():  # none of the old keys is left in the outputs
        if node_id != "named":
            assert not {"_tool_calls", "_memory_read"} & set(_json(row["outputs"]) or {})
    # no calls or reads: SQL NULL, not a JSON null
    assert stored["plain"]["tool_calls"] is None and stored["plain"]["memory_reads"] is None
    assert _json(stored["check"]["tool_calls"]) == [CALL]


def test_the_migration_goes_back_to_the_old_layout(store_url):
    from alembic import command

    _old_store(store_url)
    store = _db.RunStore(store_url)
    config = _db.alembic_config()
    with store.write_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        # read here: opening the store again would upgrade it
        back = {r.node_id: _json(r.outputs) for r in connection.execute(
            sa.text("SELECT node_id, outputs FROM node_executions"))}
        assert "tool_calls" not in {c["name"] for c in
                                    sa.inspect(connection).get_columns("node_executions")}
    assert back == {r["node_id"]: r["outputs"] for r in OLD_ROWS}
    store.dispose()


def test_new_runs_write_the_columns_and_output_fields_keep_their_names(store_url):
    sink = StoreSink(store_url)
    settings = Settings(storage_url=store_url, store=False, cache=False, mlflow=False)
    result = am.run(am.load(CLASH, tools=[population]), {"question": "q"}, sinks=[sink],
                    settings=settings)
    assert result.ok, result.error
    assert result.outputs["_tool_calls"] == "mine"
    assert result.outputs["_memory_read"] == "also mine"
    assert sink.flush(30)

    stored = {r["node_id"]: r for r in rows(
        store_url, "SELECT node_id, outputs, tool_calls, memory_reads FROM node_executions")}
    assert _json(stored["ask"]["outputs"]) == {"_tool_calls": "mine"}
    assert [c["arguments"] for c in _json(stored["ask"]["tool_calls"])] == [{"city": "Paris"}]
    assert _json(stored["ask"]["memory_reads"]) == [
        {"namespace": "default:clash:*", "key": "conversation", "found": False,
         "field": "history"}]
    assert _json(stored["echo"]["outputs"]) == {"_memory_read": "also mine"}
    assert stored["echo"]["tool_calls"] is None and stored["echo"]["memory_reads"] is None

    ask, echo = am.show_run(result.run_id, url=store_url)["nodes"]
    assert ask["outputs"] == {"_tool_calls": "mine"}
    assert [c["result"] for c in ask["tool_calls"]] == ["2100000"]
    assert echo["outputs"] == {"_memory_read": "also mine"}
    assert echo["tool_calls"] == [] and echo["memory_reads"] == []
    assert _memory_api.reads(result.run_id, url=store_url)["node_id"].tolist() == ["ask"]
    assert am.profile(result.run_id, url=store_url)["tool_calls"].tolist() == [1, 0]
