"""Workflows with memory: remembering across runs and processes, scopes, the configurable-agents
form, code nodes, what runs record, load-time errors, and the magic in a real shell."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from memory_flows import CHAT

import agents_magic as am
from agents_magic import _memory_api
from agents_magic._settings import Settings
from agents_magic.errors import AgentsMagicWarning, ConfigError
from agents_magic.store._memory import namespace, open_memory

ROOT = Path(__file__).resolve().parents[2]


def _settings(url: str, store: bool = False) -> Settings:
    return Settings(storage_url=url, store=store, cache=False, mlflow=False)


def test_a_workflow_remembers_across_runs(store_url):
    wf = am.load(CHAT)
    first = am.run(wf, {"message": "my name is Ann"}, settings=_settings(store_url, store=True))
    second = am.run(wf, {"message": "what is my name?"}, settings=_settings(store_url, store=True))
    assert first.status == second.status == "succeeded"
    assert first.outputs["history"] == []
    assert second.outputs["history"] == ["my name is Ann"]
    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    prompt = am.show_run(second.run_id, url=store_url)["nodes"][0]["prompt"]
    assert 'Earlier you were told: ["my name is Ann"]' in prompt
    assert open_memory(store_url).get(namespace("workflow", "chat"), "conversation") == [
        "my name is Ann", "what is my name?"]
    # Each run records what it read, and whether it was there.
    reads = [_memory_api.reads(r.run_id, url=store_url) for r in (first, second)]
    assert [frame[["node_id", "namespace", "key", "field", "found"]].to_dict("records")
            for frame in reads] == [
        [{"node_id": "answer", "namespace": "default:chat:*", "key": "conversation",
          "field": "history", "found": found}] for found in (False, True)]


def test_memory_survives_the_process(sqlite_url):
    script = textwrap.dedent(f"""\
        import sys
        import agents_magic as am
        from agents_magic._settings import Settings
        settings = Settings(storage_url=sys.argv[1], store=False, cache=False, mlflow=False)
        result = am.run(am.load({CHAT!r}), {{"message": sys.argv[2]}}, settings=settings)
        print(result.outputs["history"])
        """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs = [subprocess.run([sys.executable, "-c", script, sqlite_url, message], env=env,
                              capture_output=True, text=True, timeout=120, check=True).stdout
               for message in ("first session", "second session")]
    assert outputs == ["[]\n", "['first session']\n"]


def test_a_node_that_fails_writes_nothing(sqlite_url):
    text = CHAT.replace("outputs: [reply]", "outputs: [reply]\n    output_schema: {type: int}"
                        ).replace("llm: {provider: mock}", "llm: {provider: mock, responses: [\"x\"]}"
                                  ).replace("reply: {type: str", "reply: {type: int")
    text = text.replace('reply: {type: int, default: ""}', "reply: {type: int, default: 0}")
    result = am.run(am.load(text), {"message": "lost"}, settings=_settings(sqlite_url))
    assert result.status == "failed"
    assert open_memory(sqlite_url).get(namespace("workflow", "chat"), "conversation") is None


SCOPED = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: scoped}
    state:
      fields:
        v: {type: int, default: 0}
    nodes:
      - id: a
        code: "result = 1"
        outputs: [v]
        output_schema: {type: int}
        memory: {write: {k: v}, scope: SCOPE_A, ttl: 3600}
      - id: b
        code: "result = 2"
        outputs: [v]
        output_schema: {type: int}
        memory: MEMORY_B
    edges:
      - {from: START, to: a}
      - {from: a, to: b}
      - {from: b, to: END}
    """)


@pytest.mark.parametrize(("scope_a", "memory_b", "where"), [
    ("workflow", "{write: [v]}", {("default:scoped:*", "k"): 1, ("default:scoped:*", "v"): 2}),
    ("node", "{write: [v], scope: global}", {("default:scoped:a", "k"): 1, ("default:*:*", "v"): 2}),
    # configurable-agents' form: `enabled` with no scope means its default scope, `agent`.
    ("agent", "{enabled: true, write: [v]}", {("default:*:*", "k"): 1, ("default:*:*", "v"): 2}),
    ("workflow", "{enabled: false, write: [v]}", {("default:scoped:*", "k"): 1}),
    ("workflow", "{default_scope: node, write: [v]}",
     {("default:scoped:*", "k"): 1, ("default:scoped:b", "v"): 2}),
])
def test_scopes_and_the_configurable_agents_form(sqlite_url, scope_a, memory_b, where):
    wf = am.load(SCOPED.replace("SCOPE_A", scope_a).replace("MEMORY_B", memory_b))
    assert wf.warnings == []
    assert am.run(wf, settings=_settings(sqlite_url)).status == "succeeded"
    rows = open_memory(sqlite_url).entries()
    assert {(r["namespace"], r["key"]): r["value"] for r in rows} == where
    ttl = {r["key"]: r["expires_at"] for r in rows}
    assert ttl["k"] is not None and ("v" not in ttl or ttl["v"] is None)


def test_workflow_level_defaults(sqlite_url):
    text = SCOPED.replace("SCOPE_A", "node").replace("MEMORY_B", "{write: [v]}") + (
        "memory: {enabled: true, default_scope: global}\nconfig: {memory: {default_ttl: 60}}\n")
    assert am.run(am.load(text), settings=_settings(sqlite_url)).status == "succeeded"
    rows = {r["key"]: r for r in open_memory(sqlite_url).entries()}
    assert rows["v"]["namespace"] == "default:*:*" and rows["v"]["expires_at"] is not None


def test_code_nodes_use_memory_and_record_what_they_read(sqlite_url):
    text = textwrap.dedent("""\
        schema_version: "1.0"
        flow: {name: visits}
        state:
          fields:
            n: {type: int, default: 0}
        nodes:
          - id: count
            code: |
              before = memory.get("visits", 0)
              memory.add("visits", 1)
              result = before + 1
            outputs: [n]
            output_schema: {type: int}
            memory: {enabled: true, default_scope: node}
        edges:
          - {from: START, to: count}
          - {from: count, to: END}
        """)
    wf = am.load(text)
    results = [am.run(wf, settings=_settings(sqlite_url, store=True)) for _ in range(3)]
    assert [r.outputs["n"] for r in results] == [1, 2, 3]
    assert open_memory(sqlite_url).get(namespace("node", "visits", "count"), "visits") == 3
    from agents_magic.sinks import flush_sinks

    flush_sinks(kind="store")
    found = [_memory_api.reads(r.run_id, url=sqlite_url)["found"].tolist() for r in results]
    assert found == [[False], [True], [True]]


def test_a_value_of_the_wrong_type_is_a_clear_error(sqlite_url):
    open_memory(sqlite_url).set(namespace("workflow", "chat"), "conversation", {"not": "a list"})
    result = am.run(am.load(CHAT), {"message": "hi"}, settings=_settings(sqlite_url))
    assert result.status == "failed"
    assert "memory `conversation` (workflow scope) holds {'not': 'a list'}, which is not a " \
           "`list[str]` for state field `history`" in result.error


def test_mistakes_are_reported_at_load_with_their_lines():
    text = CHAT.replace("read: {history: conversation}", "read: {histroy: conversation}\n"
                        "      scope: wrokflow")
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    problems = {p.message: p for p in caught.value.problems}
    lines = text.splitlines()
    histroy = problems["memory field `histroy` is not a state field"]
    assert "histroy" in lines[histroy.line - 1] and histroy.hint == "did you mean `history`?"
    scope = problems["unknown memory scope `wrokflow`"]
    assert "wrokflow" in lines[scope.line - 1] and scope.hint == "did you mean `workflow`?"


def test_memory_is_no_longer_reported_as_unimplemented():
    text = CHAT.replace("keep: 5}}", "keep: 5}}\n      max_entries: 50")
    line = text.splitlines().index("      max_entries: 50") + 1
    with pytest.warns(AgentsMagicWarning, match="max_entries"):
        wf = am.load(text)
    assert wf.warnings == [
        f"line {line}: `nodes[0].memory.max_entries` is not implemented yet and is ignored"]
    assert am.load(CHAT).warnings == []


def test_memory_api_lists_entries_as_a_dataframe(sqlite_url):
    memory = open_memory(sqlite_url)
    memory.set(namespace("global"), "tone", "warm")
    memory.set(namespace("workflow", "chat"), "topic", "cats", ttl=3600)
    memory.set(namespace("node", "chat", "answer"), "seen", 2)
    frame = am.memory(url=sqlite_url)
    assert list(frame.columns) == _memory_api.MEMORY_COLUMNS
    assert sorted(frame["key"]) == ["seen", "tone", "topic"]
    assert am.memory("global", url=sqlite_url)["value"].tolist() == ["warm"]
    assert am.memory(workflow="chat", url=sqlite_url)["key"].tolist() == ["topic", "seen"]
    assert am.memory("node", "chat", "answer", url=sqlite_url)["value"].tolist() == [2]
    assert str(frame["expires_at"].dtype).startswith("datetime64")


def test_the_magic_in_a_real_shell(sqlite_url, monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from agents_magic import _settings

    monkeypatch.setenv("AGENTS_MAGIC_STORAGE_URL", sqlite_url)
    _settings.reset()
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    try:
        ip.extension_manager.load_extension("agents_magic")
        ip.user_ns["prefs"] = {"tone": "warm"}
        ip.run_line_magic("workflow", "memory set style $prefs -w chat")
        ip.run_line_magic("workflow", 'memory set greeting "hello there" --ttl 600')
        assert ip.run_line_magic("workflow", "memory get style -w chat") == {"tone": "warm"}
        assert ip.run_line_magic("workflow", "memory get greeting") == "hello there"
        frame = ip.run_line_magic("workflow", "memory list")
        assert sorted(frame["key"]) == ["greeting", "style"]
        for column in ("created_at", "updated_at", "expires_at"):  # shown to the second
            stamps = frame[column].dropna()
            assert len(stamps) and (stamps == stamps.dt.floor("s")).all(), stamps
        assert "." not in frame.loc[frame["key"] == "greeting", "expires_at"].astype(str).item()
        assert ip.run_line_magic("workflow", "memory list --scope global")["key"].tolist() == [
            "greeting"]
        ip.run_cell_magic("workflow", "chat -i message=hello --quiet", CHAT)
        assert ip.run_line_magic("workflow", "memory get conversation -w chat") == ["hello"]
        assert str(ip.run_line_magic("workflow", "memory delete greeting")) == (
            "deleted `greeting` from global memory")
        result = ip.run_cell("%workflow memory clear")
        assert isinstance(result.error_in_exec, Exception)
        assert "clear what? give --scope" in capsys.readouterr().err
        assert str(ip.run_line_magic("workflow", "memory clear --scope workflow -w chat")) == (
            "removed 2 memory entries")
        assert am.memory(url=sqlite_url).empty
        capsys.readouterr()
        ip.run_cell("%workflow memory list --scope workflow -w chat")
        shown = capsys.readouterr().out
        assert "no memory entries (scope workflow, workflow `chat`)" in shown
        assert "Empty DataFrame" not in shown
        ip.run_line_magic("workflow", "memory clear --all")
        assert str(ip.run_line_magic("workflow", "memory list")) == "no memory entries (any scope)"
    finally:
        ip.extension_manager.unload_extension("agents_magic")
        from agents_magic.notebook import _magics

        _magics._registries.pop(ip, None)
        ip.reset(new_session=False)
        InteractiveShell.clear_instance()
