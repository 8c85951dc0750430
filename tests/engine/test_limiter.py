"""The process-wide limiter per provider endpoint, exercised through ``complete()`` against the
fake server: bounded in flight, slow start, a rate learned from 429s and probed back up after the
limit lifts, cut on 429s it cannot learn from and grown back, Retry-After, backoff without a
slot, cache hits without a slot, rpm spacing, and several event loops sharing one limit."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from agents_magic.engine import _limiter, _llm


def target(fake_llm, **kw) -> _llm.Target:
    """Each test gets its own endpoint key, hence its own limiter."""
    return _llm.Target(**{"provider": "openai", "model": "gpt-4o-mini", "route": "http",
                          "api_base": fake_llm.base_url, "api_key": f"sk-{uuid.uuid4().hex}",
                          "timeout": 10.0, "max_retries": 5, **kw})


def ask(t: _llm.Target, text: str = "hi", **kw):
    return _llm.complete(t, [{"role": "user", "content": text}], backoff_s=0.01, **kw)


async def many(t: _llm.Target, n: int, **kw) -> list[_llm.Completion]:
    return await asyncio.gather(*(ask(t, f"q{i}", **kw) for i in range(n)))


def test_fifty_concurrent_calls_never_exceed_the_limit(fake_llm):
    fake_llm.configure(latency_ms=30)
    t = target(fake_llm)
    results = asyncio.run(many(t, 50, max_concurrency=4))
    assert len(results) == 50
    assert fake_llm.stats()["max_in_flight"] == 4
    snap = _limiter.limiter_for(t).snapshot()
    assert (snap["limit"], snap["ceiling"], snap["in_flight"], snap["waiting"]) == (4, 4, 0, 0)
    assert snap["waited_total"] > 0


def test_calls_from_several_event_loops_share_one_limit(fake_llm):
    fake_llm.configure(latency_ms=30)
    t = target(fake_llm)
    threads = [threading.Thread(target=lambda: asyncio.run(many(t, 12, max_concurrency=3)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert fake_llm.stats()["requests"] == 36 and fake_llm.stats()["max_in_flight"] <= 3


def test_a_new_endpoint_slow_starts_to_its_ceiling_within_a_round_trip(fake_llm):
    fake_llm.configure(latency_ms=200)
    t = target(fake_llm)
    limiter = _limiter.limiter_for(t)
    assert limiter.limit == _limiter.INITIAL_WINDOW < 16
    # A latency well above a busy machine's scheduling jitter keeps the rounds apart.
    # INITIAL_WINDOW first, then each success while every slot is busy adds a slot: the 8
    # replies of the first round trip double the window to the ceiling.
    asyncio.run(many(t, 24, max_concurrency=16))
    snap = limiter.snapshot()
    assert (snap["limit"], snap["slow_start"]) == (16, True)
    assert fake_llm.stats()["max_in_flight"] == 16
    fake_llm.reset()
    fake_llm.configure(latency_ms=200)
    asyncio.run(many(t, 64, max_concurrency=16))
    assert fake_llm.stats()["max_in_flight"] == 16 and limiter.limit == 16


def test_slow_start_does_not_grow_a_window_that_is_not_used(fake_llm):
    t = target(fake_llm)

    async def one_at_a_time() -> None:
        for i in range(30):
            await ask(t, f"q{i}", max_concurrency=64)

    asyncio.run(one_at_a_time())
    assert _limiter.limiter_for(t).limit == _limiter.INITIAL_WINDOW


def test_a_429_storm_it_cannot_learn_from_cuts_the_limit_and_it_grows_back(fake_llm, monkeypatch):
    monkeypatch.setattr(_limiter, "COOL_DOWN_S", 0.2)
    t = target(fake_llm)
    limiter = _limiter.limiter_for(t)
    fake_llm.configure(latency_ms=20, rules=[{"status": 429, "times": 8}])
    asyncio.run(many(t, 8, max_concurrency=8))  # every request on the wire is refused at once
    cut = limiter.snapshot()
    assert cut["limit"] < 8 and cut["rate_limited_total"] == 8 and cut["last_429_at"]
    assert cut["learned_rps"] is None
    fake_llm.configure(rules=[])

    async def until_recovered() -> None:
        while limiter.limit < 8:
            await many(t, 8, max_concurrency=8)

    asyncio.run(asyncio.wait_for(until_recovered(), 60))
    assert limiter.limit == 8


def test_server_errors_never_shrink_the_limit(fake_llm):
    fake_llm.configure(rules=[{"status": 503, "times": 8}])
    t = target(fake_llm)
    asyncio.run(many(t, 8, max_concurrency=8))
    assert _limiter.limiter_for(t).limit == 8


def test_retry_after_pauses_the_endpoint(fake_llm):
    fake_llm.configure(rules=[{"status": 429, "headers": {"Retry-After": "0.5"}, "times": 1}])
    t = target(fake_llm)

    async def scenario() -> float:
        first = asyncio.ensure_future(ask(t, "first", max_concurrency=4))
        while _limiter.limiter_for(t).rate_limited_total == 0:
            await asyncio.sleep(0.005)
        started = time.monotonic()
        await ask(t, "second", max_concurrency=4)  # waits out the pause like the retry does
        await first
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.4
    assert [r["messages"][0]["content"] for r in fake_llm.requests()][-2:] in (
        ["first", "second"], ["second", "first"])


def test_a_call_backing_off_does_not_hold_its_slot(fake_llm):
    fake_llm.configure(rules=[{"match": "slow", "status": 500, "times": 1}])
    t = target(fake_llm)

    async def scenario() -> None:
        backing_off = asyncio.Event()
        slow = asyncio.ensure_future(_llm.complete(
            t, [{"role": "user", "content": "slow"}], backoff_s=30, max_concurrency=1,
            on_retry=lambda *_: backing_off.set()))
        await backing_off.wait()
        fast = await asyncio.wait_for(ask(t, "fast", max_concurrency=1), 10)
        assert fast.text == "echo: fast" and not slow.done()
        slow.cancel()

    asyncio.run(scenario())


def test_cache_hits_take_no_slot(fake_llm):
    fake_llm.configure(rules=[{"match": "hang", "hang": True}])
    t = target(fake_llm)
    cache: dict = {}
    cache_obj = type("C", (), {"get": lambda self, k: cache.get(k),
                               "set": lambda self, k, v: cache.__setitem__(k, v)})()

    async def scenario() -> None:
        _llm.remember(cache_obj, await ask(t, "known", cache=cache_obj, max_concurrency=1))
        stuck = asyncio.ensure_future(ask(t, "hang", max_concurrency=1))
        while _limiter.limiter_for(t).in_flight == 0:
            await asyncio.sleep(0.005)
        hit = await asyncio.wait_for(ask(t, "known", cache=cache_obj, max_concurrency=1), 5)
        assert hit.cached and _limiter.limiter_for(t).in_flight == 1
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert _limiter.limiter_for(t).in_flight == 0

    asyncio.run(scenario())


def test_rpm_spaces_requests(fake_llm):
    t = target(fake_llm, rpm=600)  # one every 0.1 s
    started = time.monotonic()
    asyncio.run(many(t, 6, max_concurrency=16))
    assert time.monotonic() - started >= 0.45
    assert _limiter.limiter_for(t).snapshot()["throttled_total"] >= 5


def test_tpm_spaces_requests_by_their_size(fake_llm):
    t = target(fake_llm, tpm=60_000, max_tokens=100)  # ~101 tokens each: ~0.1 s apart
    started = time.monotonic()
    asyncio.run(many(t, 5, max_concurrency=16))
    assert time.monotonic() - started >= 0.35


def test_the_latest_max_concurrency_sets_the_ceiling(fake_llm):
    t = target(fake_llm)
    asyncio.run(many(t, 2, max_concurrency=8))
    asyncio.run(many(t, 2, max_concurrency=3))
    snap = _limiter.limiter_for(t).snapshot()
    assert (snap["ceiling"], snap["limit"]) == (3, 3)
    asyncio.run(many(t, 2, max_concurrency=8))  # slow start: back to its initial window at once
    assert _limiter.limiter_for(t).limit == 8
    assert any(s["ceiling"] == 8 and s["api_base"] == fake_llm.base_url
               for s in _limiter.limiters())


def test_mock_calls_go_through_the_mock_endpoints_limiter():
    t = _llm.Target("mock", f"mock-{uuid.uuid4().hex}", "mock")
    asyncio.run(many(t, 3))
    assert _limiter.limiter_for(t).snapshot()["in_flight"] == 0  # every slot given back
    assert any(s["provider"] == "mock" for s in _limiter.limiters())  # so max_concurrency holds


def test_a_rate_limited_endpoint_teaches_a_rate_and_then_stays_under_it(fake_llm):
    fake_llm.configure(latency_ms=20, rate_limit_rps=10)
    t = target(fake_llm, max_retries=30)
    limiter = _limiter.limiter_for(t)
    asyncio.run(many(t, 30, max_concurrency=32))
    snap = limiter.snapshot()
    assert snap["learned_rps"] is not None and 8 <= snap["learned_rps"] <= 11
    assert snap["slow_start"] is False and snap["limit"] >= _limiter.INITIAL_WINDOW  # not cut
    stats = fake_llm.stats()
    assert stats["requests"] - stats["rate_limited"] == 30
    assert stats["rate_limited"] <= 2 * 10  # slow start overshoots by less than its last window
    before = stats["rate_limited"]
    asyncio.run(many(t, 30, max_concurrency=32))  # 3 s at the learned rate
    assert fake_llm.stats()["rate_limited"] - before <= 3  # a probe or two at most


def test_a_learned_rate_climbs_back_after_the_limit_lifts(fake_llm, monkeypatch):
    monkeypatch.setattr(_limiter, "PROBE_AFTER_S", 0.3)
    monkeypatch.setattr(_limiter, "RATE_MEMORY_S", 5.0)
    fake_llm.configure(latency_ms=20, rate_limit_rps=10)
    t = target(fake_llm, max_retries=30)
    limiter = _limiter.limiter_for(t)
    asyncio.run(many(t, 25, max_concurrency=16))
    assert limiter.rate is not None
    fake_llm.configure(rate_limit_rps=None)
    highest = 0.0

    async def until_forgotten() -> None:
        nonlocal highest
        while (rate := limiter.rate) is not None:
            highest = max(highest, rate)
            await many(t, 4, max_concurrency=16)

    asyncio.run(asyncio.wait_for(until_forgotten(), 60))
    assert highest > 2 * 10  # probed well past the old limit before forgetting it
    fake_llm.reset()
    fake_llm.configure(latency_ms=20)
    asyncio.run(many(t, 64, max_concurrency=16))
    assert fake_llm.stats()["max_in_flight"] == 16 and fake_llm.stats()["rate_limited"] == 0


def test_paced_calls_from_several_event_loops_all_go_out(fake_llm):
    t = target(fake_llm, rpm=1200)  # one every ~53 ms: each send waits on a timer
    done: list[int] = []
    threads = [threading.Thread(target=lambda: done.append(len(asyncio.run(many(t, 5)))))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert done == [5, 5, 5] and fake_llm.stats()["requests"] == 15
    assert _limiter.limiter_for(t).snapshot()["throttled_total"] >= 10


def test_rpm_and_tpm_come_from_the_provider_defaults():
    from agents_magic.config._schema import LLMDefaults, LLMSettings

    defaults = LLMDefaults(provider="openai", model="gpt-4o-mini", api_base="http://127.0.0.1:1/v1",
                           providers={"openai": LLMSettings(rpm=600, tpm=90_000)})
    t = _llm.resolve(None, defaults, {}, timeout=5, max_retries=0)
    assert (t.rpm, t.tpm) == (600, 90_000)
