"""Tests for the fake OpenAI-compatible server, exercised over real HTTP."""

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fake_llm import FakeLLM  # noqa: E402


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(llm):
    llm.reset()


@pytest.fixture(scope="module")
def client(llm):
    with httpx.Client(base_url=llm.base_url, trust_env=False, timeout=10) as c:
        yield c


def chat(client, text="hello world", **extra):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/chat/completions", json=body)


def test_default_echo(client):
    r = chat(client, "hello there world")
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "fake-model"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: hello there world"}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_echo_truncates_to_60_chars(client):
    text = "x" * 100
    assert chat(client, text).json()["choices"][0]["message"]["content"] == "echo: " + "x" * 60


def test_json_schema_synthesis(client):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "score": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "inner": {"$ref": "#/$defs/Inner"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "kind": {"enum": ["a", "b"]},
        },
        "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema, "strict": True}}
    content = chat(client, response_format=fmt).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"name": "text", "count": 1, "score": 1.0, "ok": True,
                                   "tags": ["text"], "inner": {"x": 1}, "maybe": 1, "kind": "a"}


def test_json_object(client):
    r = chat(client, response_format={"type": "json_object"})
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"result": "text"}


def test_rule_times_then_fallback(llm, client):
    llm.configure(rules=[{"match": "nomatch", "content": "never"},
                         {"match": "hi", "times": 1, "content": "first"}])
    assert chat(client, "hi there").json()["choices"][0]["message"]["content"] == "first"
    assert chat(client, "hi there").json()["choices"][0]["message"]["content"] == "echo: hi there"


def test_content_list_cycles(llm, client):
    llm.configure(rules=[{"content": ["a", "b"]}])
    replies = [chat(client).json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert replies == ["a", "b", "a"]


def test_429_with_retry_after(llm, client):
    llm.configure(rules=[{"status": 429, "headers": {"Retry-After": "1"}, "times": 1}])
    r = chat(client)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert set(r.json()["error"]) >= {"message", "type", "code"}
    assert chat(client).status_code == 200


def test_raw_body(llm, client):
    raw = '{"id": "x", "choices": ['
    llm.configure(rules=[{"raw_body": raw}])
    r = chat(client)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.text == raw


def test_tool_calls_only_when_tools_sent(llm, client):
    llm.configure(rules=[{"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}])
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    choice = chat(client, tools=tools).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}
    assert chat(client).json()["choices"][0]["message"]["content"] == "echo: hello world"


def test_streaming_sse_with_usage(client):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "stream me please"}],
            "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/chat/completions", json=body) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["transfer-encoding"] == "chunked"
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert "".join(deltas) == "echo: stream me please"
    assert sum(1 for d in deltas if d) > 1
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 3 + 4


def test_streamed_tool_calls(llm, client):
    llm.configure(rules=[{"tool_calls": [{"name": "lookup", "arguments": {"q": "some query"}}]}])
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True,
            "tools": [{"type": "function", "function": {"name": "lookup"}}]}
    with client.stream("POST", "/chat/completions", json=body) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "lookup" and calls[0]["id"]
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"q": "some query"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_latency_overlaps(llm):
    llm.configure(latency_ms=200)

    async def burst():
        async with httpx.AsyncClient(base_url=llm.base_url, trust_env=False, timeout=10) as c:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            return await asyncio.gather(
                *(c.post("/chat/completions", json=body) for _ in range(10)))

    start = time.perf_counter()
    responses = asyncio.run(burst())
    elapsed = time.perf_counter() - start
    assert all(r.status_code == 200 for r in responses)
    assert 0.2 <= elapsed < 2.0


def test_hang_until_client_gives_up(llm, client):
    llm.configure(rules=[{"hang": True, "times": 1}])
    with pytest.raises(httpx.ReadTimeout):
        client.post("/chat/completions", json={"messages": []}, timeout=0.3)
    assert chat(client).status_code == 200


def test_request_log(llm, client):
    chat(client, "one", temperature=0.5)
    client.post("/chat/completions", json={"messages": [{"role": "user", "content": "two"}]},
                headers={"X-Trace-Id": "abc"})
    logged = llm.requests()
    assert [r["messages"][0]["content"] for r in logged] == ["one", "two"]
    assert logged[0]["temperature"] == 0.5
    assert logged[0]["path"] == "/v1/chat/completions"
    assert logged[1]["headers"]["x-trace-id"] == "abc"


def test_reset(llm, client):
    llm.configure(latency_ms=5000, rules=[{"content": "ruled"}])
    llm.reset()
    start = time.perf_counter()
    r = chat(client, "after reset")
    assert time.perf_counter() - start < 1.0
    assert r.json()["choices"][0]["message"]["content"] == "echo: after reset"
    assert len(llm.requests()) == 1


def test_models_and_unknown_route(client):
    assert [m["id"] for m in client.get("/models").json()["data"]] == ["fake-model"]
    assert client.get("/nope").status_code == 404


def test_keep_alive_reuses_connection(llm):
    conn = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=5)
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    assert conn.getresponse().read()
    sock = conn.sock
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read())["choices"]
    assert conn.sock is sock
    conn.close()


def test_cli_prints_port_and_exits_on_sigterm():
    script = os.path.join(os.path.dirname(__file__), "fake_llm.py")
    proc = subprocess.Popen([sys.executable, script, "--port", "0"], stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT ") and int(line.split()[1]) > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert proc.stdout.read() == b""
    finally:
        proc.kill()
        proc.stdout.close()


def test_stats_count_requests_in_flight(llm, client):
    chat(client)
    stats = llm.stats()
    assert stats["requests"] == 1 and stats["max_in_flight"] == 1 and stats["in_flight"] == 0


def test_rate_limit_answers_429_beyond_the_rate(llm, client):
    llm.configure(rate_limit_rps=2)
    statuses = [chat(client).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = chat(client)
    assert r.headers["retry-after"] in ("1", "2") and int(r.headers["retry-after-ms"]) <= 1000
    assert llm.stats()["rate_limited"] == 2


def test_cut_stream_ends_without_finish_or_done(llm, client):
    llm.configure(rules=[{"cut_stream": 2}])
    body = chat(client, stream=True).text
    assert "[DONE]" not in body and '"finish_reason": "stop"' not in body
    assert body.count("data:") == 2


def test_proxy_form_requests_are_served(llm):
    conn = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=10)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "via proxy"}]})
    conn.request("POST", "http://api.example.invalid/v1/chat/completions", body,
                 {"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read())["choices"][0]["message"]["content"] == "echo: via proxy"
    assert llm.requests()[0]["headers"]["x-proxied"] == "1"


def test_anthropic_and_gemini_wire_formats(client):
    r = client.post("/messages", json={"model": "claude", "max_tokens": 5,
                                       "messages": [{"role": "user", "content": "hi there"}]})
    assert r.json()["content"][0]["text"] == "echo: hi there"
    assert r.json()["stop_reason"] == "end_turn"
    r = client.post("/models/gemini-x:generateContent",
                    json={"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]})
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi there"
    streamed = client.post("/models/gemini-x:streamGenerateContent",
                           json={"contents": [{"parts": [{"text": "hi"}]}]}).text
    assert '"finishReason": "STOP"' in streamed
