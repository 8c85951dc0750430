"""Every provider route the README lists, against the local fake server (OpenAI, Anthropic and
Gemini wire formats), plus how LiteLLM's failures are classified and retried."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from agents_magic.engine import _llm
from agents_magic.errors import ProviderError

HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = [{"type": "function", "function": {
    "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
# provider, model, whether api_base is the server root (Anthropic adds /v1/messages itself)
ROUTES = [("groq", "llama3-8b-8192", False), ("mistral", "mistral-small", False),
          ("deepseek", "deepseek-chat", False), ("together_ai", "meta-llama/Llama-3-8b", False),
          ("openrouter", "openai/gpt-4o-mini", False), ("anthropic", "claude-3-haiku-20240307", True),
          ("google", "gemini-1.5-flash", False), ("gemini", "gemini-1.5-flash", False),
          ("ollama", "llama3", True), ("openai", "gpt-4o-mini", False)]


def target(fake_llm, provider: str = "groq", model: str = "llama3-8b-8192", root: bool = False,
           **kw) -> _llm.Target:
    from agents_magic.config._schema import LLMSettings

    settings = LLMSettings(provider=provider, model=model,
                           api_base=fake_llm.url if root else fake_llm.base_url)
    resolved = _llm.resolve(settings, None, {}, timeout=5, max_retries=2)
    return _llm.Target(**{**resolved.__dict__, "api_key": f"sk-{uuid.uuid4().hex}", **kw})


def call(t: _llm.Target, stream: bool = False, **kw) -> _llm.Completion:
    on_token = (lambda _text: None) if stream else None
    return asyncio.run(_llm.complete(t, HELLO, on_token=on_token, backoff_s=0.01, **kw))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider,model,root", ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_reads_an_ordinary_reply(fake_llm, provider, model, root, stream):
    completion = call(target(fake_llm, provider, model, root), stream)
    assert completion.text == "echo: hello there"
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert len(fake_llm.requests()) == 1 and completion.attempts == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tool_calls_through_litellm(fake_llm, stream):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}])
    completion = call(target(fake_llm), stream, tools=WEATHER)
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [("weather", {"city": "Oslo"})]
    assert fake_llm.requests()[0]["tools"] == WEATHER


def test_retry_after_is_read_from_litellm_errors(fake_llm):
    fake_llm.configure(rules=[{"status": 429, "headers": {"Retry-After": "0.4"}, "times": 1}])
    delays: list[float] = []
    completion = call(target(fake_llm), on_retry=lambda attempt, delay, error: delays.append(delay))
    assert completion.attempts == 2 and delays and delays[0] >= 0.4


@pytest.mark.parametrize("status,kind,attempts", [(401, "auth", 1), (404, "not_found", 1),
                                                  (400, "bad_request", 1), (500, "server_error", 3),
                                                  (503, "server_error", 3), (429, "rate_limit", 3)])
def test_failures_are_classified_by_type(fake_llm, status, kind, attempts):
    fake_llm.configure(rules=[{"status": status}])
    with pytest.raises(ProviderError) as info:
        call(target(fake_llm))
    assert (info.value.kind, info.value.attempts) == (kind, attempts)


def test_a_refused_connection_fails_at_once(fake_llm):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = target(fake_llm, api_base=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as info:
        call(t)
    assert info.value.kind == "connection" and info.value.attempts == 1


@pytest.mark.parametrize("rule", [{"disconnect": True}, {"drop_stream": 2}])
def test_a_dropped_connection_is_retried(fake_llm, rule):
    fake_llm.configure(rules=[{**rule, "times": 1}])
    assert call(target(fake_llm), stream=True).attempts == 2


def test_a_long_stream_that_keeps_sending_outlives_the_timeout(fake_llm):
    fake_llm.configure(rules=[{"content": "one two three four five six", "stream_interval_ms": 150}])
    completion = call(target(fake_llm, timeout=0.5, max_retries=0), stream=True)
    assert completion.text == "one two three four five six"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_silent_reply_times_out(fake_llm, stream):
    fake_llm.configure(rules=[{"stream_interval_ms": 3000, "delay_ms": 0 if stream else 3000}])
    with pytest.raises(ProviderError) as info:
        call(target(fake_llm, timeout=0.3, max_retries=0), stream=stream)
    assert info.value.kind == "timeout"


def test_a_cut_short_stream_is_retried(fake_llm):
    fake_llm.configure(rules=[{"cut_stream": 3, "times": 1}])
    completion = call(target(fake_llm, "anthropic", "claude-3-haiku-20240307", True), stream=True)
    assert completion.text == "echo: hello there" and completion.attempts == 2


def test_the_proxy_variables_are_honoured(fake_llm, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", fake_llm.url)
    completion = call(target(fake_llm, api_base="http://llm-proxied.invalid/v1"))
    assert completion.text == "echo: hello there"
    assert fake_llm.requests()[0]["headers"]["x-proxied"] == "1"
