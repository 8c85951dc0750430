"""The lean HTTP route against the local fake server: timeouts, cut-short streams, tool calls,
transient connection errors, proxies, keys, and a cache that keeps only accepted replies."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from agents_magic.engine import _llm
from agents_magic.errors import ProviderError

HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = [{"type": "function", "function": {
    "name": "weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


def target(base: str, **kw) -> _llm.Target:
    """A target of its own endpoint key, so each test gets a fresh limiter."""
    return _llm.Target(**{"provider": "openai", "model": "gpt-4o-mini", "route": "http",
                          "api_base": base, "api_key": f"sk-{uuid.uuid4().hex}",
                          "timeout": 5.0, "max_retries": 2, **kw})


def call(t: _llm.Target, messages=HELLO, **kw) -> _llm.Completion:
    return asyncio.run(_llm.complete(t, messages, backoff_s=0.01, **kw))


def streamed(t: _llm.Target, **kw) -> tuple[_llm.Completion, list[str]]:
    tokens: list[str] = []
    return call(t, on_token=tokens.append, **kw), tokens


class DictCache(dict):
    def set(self, key, value):
        self[key] = value


def test_a_long_stream_that_keeps_sending_outlives_the_timeout(fake_llm):
    fake_llm.configure(rules=[{"content": "one two three four five six", "stream_interval_ms": 150}])
    completion, tokens = streamed(target(fake_llm.base_url, timeout=0.5, max_retries=0))
    assert completion.text == "one two three four five six" and len(tokens) >= 4
    assert completion.finish_reason == "stop"


def test_a_silent_stream_times_out(fake_llm):
    fake_llm.configure(rules=[{"stream_interval_ms": 3000}])
    with pytest.raises(ProviderError) as info:
        streamed(target(fake_llm.base_url, timeout=0.3, max_retries=0))
    assert info.value.kind == "timeout"


def test_a_cut_short_stream_is_retried_not_returned(fake_llm):
    fake_llm.configure(rules=[{"cut_stream": 3, "times": 1}, {"content": "the whole answer"}])
    completion, _ = streamed(target(fake_llm.base_url))
    assert completion.text == "the whole answer" and completion.attempts == 2


def test_a_stream_that_keeps_being_cut_short_fails_as_invalid_response(fake_llm):
    fake_llm.configure(rules=[{"cut_stream": 3}])
    cache = DictCache()
    with pytest.raises(ProviderError) as info:
        streamed(target(fake_llm.base_url, max_retries=1), cache=cache)
    assert info.value.kind == "invalid_response" and info.value.attempts == 2
    assert cache == {}


def test_a_reply_without_choices_is_invalid(fake_llm):
    fake_llm.configure(rules=[{"raw_body": '{"id": "x", "usage": {}}'}])
    with pytest.raises(ProviderError) as info:
        call(target(fake_llm.base_url, max_retries=0))
    assert info.value.kind == "invalid_response"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_are_sent_and_parsed(fake_llm, stream):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}},
                                              {"name": "weather", "arguments": {"city": "Rome"}}]}])
    kw = {"tools": WEATHER, "tool_choice": "auto"}
    completion = streamed(target(fake_llm.base_url), **kw)[0] if stream else \
        call(target(fake_llm.base_url), **kw)
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"})]
    assert all(c.id for c in completion.tool_calls) and completion.finish_reason == "tool_calls"
    sent = fake_llm.requests()[0]
    assert sent["tools"] == WEATHER and sent["tool_choice"] == "auto"


def test_a_tool_conversation_is_sent_as_is(fake_llm):
    fake_llm.configure(rules=[{"content": "It is sunny in Oslo."}])
    messages = HELLO + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    completion = call(target(fake_llm.base_url), messages, tools=WEATHER)
    assert completion.text == "It is sunny in Oslo." and completion.tool_calls == ()
    assert fake_llm.requests()[0]["messages"] == messages


def test_unreadable_tool_arguments_are_an_invalid_response(fake_llm):
    fake_llm.configure(rules=[{"tool_calls": [{"name": "weather", "arguments": "{not json"}]}])
    with pytest.raises(ProviderError) as info:
        call(target(fake_llm.base_url, max_retries=0), tools=WEATHER)
    assert info.value.kind == "invalid_response"


@pytest.mark.parametrize("rule", [{"disconnect": True}, {"drop_stream": 2}])
def test_a_dropped_connection_is_retried(fake_llm, rule):
    fake_llm.configure(rules=[{**rule, "times": 1}])
    completion, _ = streamed(target(fake_llm.base_url))
    assert completion.text == "echo: hello there" and completion.attempts == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_fails_at_once():
    with pytest.raises(ProviderError) as info:
        call(target(f"http://127.0.0.1:{_closed_port()}/v1"))
    assert info.value.kind == "connection" and info.value.attempts == 1


def test_the_proxy_variables_are_honoured(fake_llm, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", fake_llm.url)
    completion = call(target("http://llm.invalid/v1"))  # reachable only through the proxy
    assert completion.text == "echo: hello there"
    assert fake_llm.requests()[0]["headers"]["x-proxied"] == "1"


def test_no_proxy_is_respected(fake_llm, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert call(target(fake_llm.base_url)).text == "echo: hello there"
    assert "x-proxied" not in fake_llm.requests()[0]["headers"]


@pytest.mark.parametrize("key", ["sk-abc\n", " sk-abc", "sk-a\tbc", "sk-a\x7fbc", "sk-a\x1bbc"])
def test_a_key_with_whitespace_or_control_characters_is_a_clear_auth_error(key, monkeypatch):
    from agents_magic.config._schema import LLMSettings

    monkeypatch.setenv("MY_KEY", key)
    with pytest.raises(ProviderError) as info:
        _llm.resolve(LLMSettings(provider="openai", model="m", api_key_env="MY_KEY"), None, {},
                     timeout=5, max_retries=0)
    assert info.value.kind == "auth" and "$MY_KEY" in str(info.value)
    assert "sk-a" not in str(info.value)


def test_the_cache_is_read_but_written_only_when_remembered(fake_llm):
    cache, t = DictCache(), target(fake_llm.base_url)
    first = call(t, cache=cache)
    assert cache == {} and first.cache_key and not first.cached
    assert call(t, cache=cache).cached is False  # nothing was remembered: called again
    _llm.remember(cache, first)
    replay = call(t, cache=cache)
    assert replay.cached and replay.cost_usd == 0 and replay.text == first.text
    assert len(fake_llm.requests()) == 2
    _llm.remember(cache, replay)  # a replay is not stored again
    assert list(cache) == [first.cache_key]


def test_remember_can_store_a_repaired_reply_under_the_first_call(fake_llm):
    cache, t = DictCache(), target(fake_llm.base_url)
    fake_llm.configure(rules=[{"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}])
    first = call(t, cache=cache, tools=WEATHER)
    second = call(t, [{"role": "user", "content": "again"}], cache=cache, tools=WEATHER)
    _llm.remember(cache, second, key=first.cache_key)
    replay = call(t, cache=cache, tools=WEATHER)
    assert replay.cached and replay.tool_calls == second.tool_calls
    assert call(t, cache=None).cache_key is None


def test_scripted_mock_calls_keep_the_call_index_in_the_key():
    t = _llm.Target("mock", "mock", "mock", responses=("a", "b"))
    cache = DictCache()
    first, second = (call(t, cache=cache, call_index=i) for i in (0, 1))
    assert (first.text, second.text) == ("a", "b") and first.cache_key != second.cache_key
