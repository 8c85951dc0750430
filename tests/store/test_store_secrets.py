"""No API key reaches disk: every file the store, MLflow and the cache write is searched as bytes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import zlib

import pytest

import agents_magic as am
from agents_magic import _settings
from agents_magic.sinks import default_sinks, flush_sinks
from agents_magic._secrets import Redactor

KEY = "sk-test-SECRET-123456"


def _workflow(base_url: str, *, echo_key: bool = False) -> str:
    extra = f" and remember {KEY}" if echo_key else ""
    return textwrap.dedent(f"""\
        schema_version: "1.0"
        flow: {{name: secretive}}
        state:
          fields:
            text: {{type: str, required: true}}
            summary: {{type: str, default: ""}}
            verdict: {{type: str, default: ""}}
        nodes:
          - id: summarize
            prompt: "Summarise: {{state.text}}{extra}"
            outputs: [summary]
          - id: judge
            prompt: "Judge: {{state.summary}}"
            outputs: [verdict]
        edges:
          - {{from: START, to: summarize}}
          - {{from: summarize, to: judge}}
          - {{from: judge, to: END}}
        config:
          llm: {{provider: openai, model: gpt-4o-mini, api_base: "{base_url}", api_key_env: AM_TEST_KEY}}
        """)


def _files_containing(directory, needle: bytes) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _decompressed_containing(directory, needle: bytes) -> list[str]:
    """Cache entries (values in the index database, or files beside it) whose zlib-decompressed
    bytes hold ``needle``."""
    found = []
    with sqlite3.connect(directory / "cache.db") as connection:
        blobs = [(f"row {rowid}", value) for rowid, value in
                 connection.execute("SELECT rowid, value FROM Cache WHERE value IS NOT NULL")]
    blobs += [(str(p), p.read_bytes()) for p in directory.rglob("*.val")]
    for where, blob in blobs:
        data = blob if isinstance(blob, bytes) else str(blob).encode()
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        if needle in data:
            found.append(where)
    return found


def test_the_key_is_not_echoed_by_the_cli(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("AM_TEST_KEY", KEY)
    fake_llm.configure(rules=[{"status": 401, "message": f"Incorrect API key provided: {KEY}"}])
    flow = tmp_path / "flow.yaml"
    flow.write_text(_workflow(fake_llm.base_url), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "agents_magic", "run", str(flow), "--input",
                           "text=x"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AGENTS_MAGIC_STORE": "0"})
    assert done.returncode != 0 and fake_llm.requests()
    assert "Incorrect API key provided" in done.stdout + done.stderr
    assert "SECRET-123456" not in done.stdout + done.stderr


def test_errors_never_carry_a_known_key(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_notashape0123456789")
    error = am.ProviderError("401: bad key gsk_notashape0123456789", node="n", provider="groq",
                             model="m")
    assert "gsk_notashape" not in str(error) and "gsk_notashape" not in error.cause
    assert "gsk_notashape" not in str(am.AgentsMagicError("quoting gsk_notashape0123456789"))


@pytest.mark.parametrize("leak", ["clean", "echoed"])
def test_the_api_key_never_reaches_the_data_directory(fake_llm, mlflow_db, data_dir, monkeypatch,
                                                      leak):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("AM_TEST_KEY", KEY)
    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW", "1")
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    monkeypatch.setenv("AGENTS_MAGIC_CACHE", "1")
    settings = _settings.reset()
    fake_llm.reset()
    echoed = leak == "echoed"
    if echoed:
        # The worst case: the key shows up in the inputs, the prompt, the reply and an error.
        # A provider that echoes the Authorization header, then one that quotes the key in a 401.
        fake_llm.configure(rules=[
            {"match": "Judge", "status": 401, "message": f"Incorrect API key provided: {KEY}"},
            {"content": f"Sure! Your key is {KEY}.", "echo_header": "Authorization"}])
    wf = am.load(_workflow(fake_llm.base_url, echo_key=echoed))
    # The session's sinks and cache are attached by run() itself, as in a notebook.
    result = am.run(wf, {"text": f"text with {KEY}" if echoed else "a harmless text"})
    assert result.status == ("failed" if echoed else "succeeded")
    assert KEY not in (result.error or "")
    requests = fake_llm.requests()
    assert requests and requests[0]["headers"]["authorization"] == f"Bearer {KEY}"  # it was used
    sinks = default_sinks(settings)  # the same, shared sinks the run used
    assert [type(s).__name__ for s in sinks] == ["StoreSink", "MLflowSink"]
    from agents_magic.store._cache import open_cache

    cache = open_cache(settings)
    assert len(cache) == (1 if echoed else 2)  # every call that succeeded was cached
    entries = [json.dumps(cache._cache.get(key)) for key in cache._cache.iterkeys()]
    assert len(entries) == len(cache) and not [e for e in entries if "SECRET-123456" in e]
    if echoed:
        assert "[REDACTED]" in entries[0]  # the echoed key, scrubbed before it was cached
    flush_sinks(120)
    assert sinks[1].logged == 1 and sinks[1].problem is None
    assert sinks[0]._warned is False
    from agents_magic.sinks import close_sinks

    close_sinks()
    cache.close()
    written = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "runs.db" for p in written) and any(p.name == "mlflow.db" for p in written)
    assert any("llm_cache" in str(p) for p in written)
    assert _files_containing(data_dir, KEY.encode()) == []
    assert _files_containing(data_dir, b"SECRET-123456") == []
    assert _decompressed_containing(data_dir / "llm_cache", b"SECRET-123456") == []
    if echoed:
        from agents_magic import _reports

        shown = _reports.show_run(result.run_id)
        assert "[REDACTED]" in shown["inputs"]["text"]
        assert "[REDACTED]" in shown["nodes"][0]["prompt"]
        assert "[REDACTED]" in shown["nodes"][0]["response"]
        assert "[REDACTED]" in shown["nodes"][1]["error"]


def test_redactor_shapes(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_TOKEN", "tok-abcdefgh-1234")
    monkeypatch.setenv("ODDLY_NAMED", "zz-very-private-value")
    redact = Redactor()
    assert redact("a tok-abcdefgh-1234 b") == "a [REDACTED] b"
    assert "zz-very-private-value" in redact("zz-very-private-value")  # not a secret by its name
    redact.refresh("llm: {api_key_env: ODDLY_NAMED}")  # ... unless a workflow names it
    assert redact("zz-very-private-value") == "[REDACTED]"
    redact.refresh("another: workflow")  # and names seen once stay watched
    assert redact("zz-very-private-value") == "[REDACTED]"
    assert redact("Authorization: Bearer abc.def-ghijkl") == "Authorization: Bearer [REDACTED]"
    assert redact("key sk-proj-Abcdefghijklmnop1234567890 end") == "key [REDACTED] end"
    assert redact('{"api_key": "abcdefgh12345"}') == '{"api_key": "[REDACTED]"}'
    assert redact("google AIzaSyA-1234567890abcdefghijklmnopqrstu") == "google [REDACTED]"
    assert redact("scikit-learn and sk-learn are fine") == "scikit-learn and sk-learn are fine"


def test_a_key_in_a_plainly_named_variable_is_scrubbed_from_replies(fake_llm, monkeypatch):
    monkeypatch.setenv("MYLLM", "plain-name-value-42")
    fake_llm.configure(rules=[{"content": "ok", "echo_header": "Authorization"}])
    flow = am.load(f"""
schema_version: "1.0"
flow: {{name: plain}}
state: {{fields: {{out: {{type: str}}}}}}
nodes: [{{id: a, prompt: "hi", outputs: [out]}}]
edges: [{{from: START, to: a}}, {{from: a, to: END}}]
config: {{llm: {{provider: openai, model: gpt-4o-mini, api_base: "{fake_llm.base_url}", api_key_env: MYLLM}}}}
""")
    result = am.run(flow)
    assert result.ok and fake_llm.requests()[0]["headers"]["authorization"] == "Bearer plain-name-value-42"
    assert "plain-name-value-42" not in result.outputs["out"] and "[REDACTED]" in result.outputs["out"]
