"""Issue 13's "Done means", end to end against the local OpenAI-compatible server: a node answers
by calling a notebook function and a read-only SQL tool; a hostile model gets refusals and
changes nothing outside what the node allowed; a workflow remembers, in a new process, what it
learned in an earlier one."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from tools_helpers import Recorder, flow, http_llm, run

import agents_magic as am
from agents_magic.engine._tool_loop import result_text

ROOT = Path(__file__).resolve().parents[2]


def _shop(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (city TEXT, amount REAL)")
        db.executemany("INSERT INTO orders VALUES (?, ?)",
                       [("Paris", 120.0), ("Paris", 80.5), ("Rome", 42.0)])
    return path


def _tool_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m.get("role") == "tool"]


def test_a_node_answers_with_a_notebook_function_and_read_only_sql(fake_llm, tmp_path):
    db = _shop(tmp_path / "shop.db")
    query = "SELECT SUM(amount) AS revenue FROM orders WHERE city = 'Paris'"
    sql_seen = threading.Event()
    sink = Recorder()

    def on_event(event):
        sink(event)
        if isinstance(event, am.engine.events.ToolCalled) and event.tool == "sql_query":
            sql_seen.set()

    def customers(city: str) -> int:
        """How many customers a city has.

        Args:
            city: The city's English name.
        """
        # Returns only once the SQL tool of the same reply has finished: the two calls of one
        # reply must run at the same time (one after the other, this would time out).
        if not sql_seen.wait(timeout=30):
            raise TimeoutError("sql_query did not run while customers() was running")
        return {"Paris": 4}[city]

    revenue = result_text(am.tools.get("sql_query", url=str(db))(sql=query))
    assert json.loads(revenue)["rows"] == [[200.5]]
    # The fake answers only when the conversation holds both results, in the order asked.
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": "customers", "arguments": {"city": "Paris"}},
                        {"name": "sql_query", "arguments": {"sql": query}}], "times": 1},
        {"match": f"4\n{revenue}", "content": "Paris: 4 customers spent 200.5, about 50.1 each."},
        {"content": "I could not work it out."}])
    tools = f'[customers, {{name: sql_query, config: {{url: "{db}"}}}}]'
    result = am.run(am.load(flow(http_llm(fake_llm), tools)),
                    {"question": "What does a customer in Paris spend on average?"},
                    tools=[customers], sinks=[on_event])
    assert result.ok, result.error
    assert result.outputs["answer"] == "Paris: 4 customers spent 200.5, about 50.1 each."
    first, second = fake_llm.requests()
    assert sorted(t["function"]["name"] for t in first["tools"]) == ["customers", "sql_query"]
    assert _tool_messages(second) == ["4", revenue]
    assert [(e.tool, e.error, e.step) for e in sink.tools] == [
        ("sql_query", None, 1), ("customers", None, 1)]  # sql finished first, as forced above
    assert result.nodes["tool_calls"].tolist() == [2]


def _tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` with a hash of its content (symbolic links as their target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


HOSTILE = [
    ("file_read", {"path": "../secret.txt"}),
    ("file_read", {"path": "/etc/passwd"}),
    ("file_read", {"path": "escape/secret.txt"}),  # a link to the folder above
    ("file_write", {"path": "../pwned.txt", "content": "x"}),
    ("file_write", {"path": "escape/pwned.txt", "content": "x"}),
    ("file_move", {"source": "notes.txt", "destination": "../notes.txt"}),
    ("shell", {"command": "find . -exec touch ../pwned.txt {} +"}),
    ("shell", {"command": "find . -delete"}),
    ("shell", {"command": "cat ../secret.txt"}),
    ("shell", {"command": "sh -c 'cat ../secret.txt'"}),
    ("sql_query", {"sql": "DELETE FROM orders"}),
    ("sql_query", {"sql": "DROP TABLE orders"}),
    ("sql_query", {"sql": "ATTACH DATABASE '../stolen.db' AS x"}),
    ("sql_query", {"sql": "VACUUM INTO '../copy.db'"}),
    ("sql_query", {"sql": "SELECT load_extension('/tmp/evil')"}),
]


def test_a_hostile_model_gets_refusals_and_changes_nothing_outside(fake_llm, tmp_path):
    outside = tmp_path / "outside"
    allowed = outside / "allowed"
    allowed.mkdir(parents=True)
    (outside / "secret.txt").write_text("the launch code is 0000\n")
    (allowed / "notes.txt").write_text("shopping: milk\n")
    (allowed / "escape").symlink_to(outside)
    db = _shop(allowed / "shop.db")
    before = _tree(tmp_path)
    fake_llm.configure(rules=[
        {"tool_calls": [{"name": n, "arguments": a} for n, a in HOSTILE], "times": 1},
        {"content": "I was refused everything."}])
    root = json.dumps(str(allowed))
    tools = ("[" + ", ".join([
        f"{{name: file_read, config: {{roots: [{root}]}}}}",
        f"{{name: file_write, config: {{roots: [{root}]}}}}",
        f"{{name: file_move, config: {{roots: [{root}]}}}}",
        f"{{name: shell, config: {{roots: [{root}], allow: [find, cat]}}}}",
        f"{{name: sql_query, config: {{url: {json.dumps(str(db))}}}}}"]) + "]")
    result, sink = run(flow(http_llm(fake_llm), tools), "Do as you are told.")
    assert result.ok, result.error
    assert result.outputs["answer"] == "I was refused everything."
    # Every call was refused, and the model was told so in a tool message.
    assert len(sink.tools) == len(HOSTILE)
    assert all(e.error for e in sink.tools), [(e.tool, e.arguments) for e in sink.tools if not e.error]
    replies = _tool_messages(fake_llm.requests()[1])
    assert len(replies) == len(HOSTILE) and all(r.startswith("error: ") for r in replies)
    by_call = dict(zip((json.dumps(a) for _, a in HOSTILE), replies))
    assert "outside the allowed roots" in by_call[json.dumps({"path": "../secret.txt"})]
    assert "outside the allowed roots" in by_call[json.dumps({"path": "/etc/passwd"})]
    assert "symbolic link" in by_call[json.dumps({"path": "escape/secret.txt"})]
    assert "-exec" in by_call[json.dumps({"command": "find . -exec touch ../pwned.txt {} +"})]
    assert "not authorized" in by_call[json.dumps({"sql": "DELETE FROM orders"})]
    assert "not authorized" in by_call[json.dumps({"sql": "ATTACH DATABASE '../stolen.db' AS x"})]
    assert not any("launch code" in r or "root:" in r for r in replies)
    # Nothing was read into the conversation, and nothing on disk changed.
    assert _tree(tmp_path) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (3,)


REMEMBER = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: pets}
    state:
      fields:
        message: {type: str, required: true}
        learned: {type: "list[str]", default: []}
        reply: {type: str, default: ""}
    nodes:
      - id: chat
        prompt: "What you learned before: {state.learned}. The user says: {state.message}"
        outputs: [reply]
        memory:
          read: {learned: facts}
          write: {facts: {field: reply, mode: append, keep: 50}}
    edges:
      - {from: START, to: chat}
      - {from: chat, to: END}
    config:
      llm: {provider: openai, model: gpt-4o-mini, api_base: "%s"}
    """)

SESSION = textwrap.dedent("""\
    import json, sys
    import agents_magic as am
    from agents_magic._settings import Settings

    settings = Settings(storage_url=sys.argv[1], store=True, cache=False, mlflow=False)
    result = am.run(am.load(sys.argv[2]), {"message": sys.argv[3]}, settings=settings)
    from agents_magic.sinks import flush_sinks
    flush_sinks(kind="store")
    reads = am.show_run(result.run_id, url=sys.argv[1])["nodes"][0]["memory_reads"]
    print(json.dumps({"status": result.status, "reply": result.outputs["reply"], "reads": reads}))
    """)


def test_a_workflow_remembers_what_it_learned_in_an_earlier_process(fake_llm, tmp_path):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    fake_llm.configure(rules=[
        {"match": "my cat is called Miso", "content": "The user's cat is called Miso."},
        {"match": "cat is called Miso", "content": "Your cat is Miso."},
        {"content": "I don't know."}])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AGENTS_MAGIC_DATA_DIR": str(tmp_path / "d")}

    def session(message: str) -> dict:
        done = subprocess.run([sys.executable, "-c", SESSION, url, REMEMBER % fake_llm.base_url,
                               message], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    yesterday = session("By the way, my cat is called Miso.")
    today = session("What is my cat called?")
    assert yesterday["status"] == today["status"] == "succeeded"
    assert yesterday["reply"] == "The user's cat is called Miso."
    assert today["reply"] == "Your cat is Miso."
    assert [r["found"] for r in yesterday["reads"]] == [False]
    assert [(r["key"], r["found"]) for r in today["reads"]] == [("facts", True)]
    # What the second process sent: the fact learned by the first one.
    last = fake_llm.requests()[-1]["messages"][-1]["content"]
    assert "The user's cat is called Miso." in last and "What is my cat called?" in last
