"""The text progress sink, fed scripted RunEvents (no engine, no front end)."""

from __future__ import annotations

from agents_magic.display._fallback import MIN_INTERVAL_S, TextProgress
from agents_magic.engine.events import (NodeFailed, NodeFinished, NodeRetrying, NodeStarted,
                                        RunFinished, RunStarted)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeDisplay:
    """Records display(..., display_id=True) and handle.update(...) calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, obj, display_id=False):
        assert display_id is True
        self.calls.append(("display", repr(obj)))
        return self

    def update(self, obj):
        self.calls.append(("update", repr(obj)))


def events():
    yield RunStarted("r1", "flow", {"topic": "x"}, 0.0, ("plan", "write", "check"))
    yield NodeStarted("r1", "plan", 1, 0.0, "openai", "gpt-4o-mini")
    yield NodeFinished("r1", "plan", 1, 0.0, 0.0, 1234.0, "openai", "gpt-4o-mini", 10, 5, 0.00012,
                       False)
    yield NodeStarted("r1", "write", 1, 0.0, "openai", "gpt-4o-mini")
    yield NodeFinished("r1", "write", 1, 0.0, 0.0, 1.0, "openai", "gpt-4o-mini", 10, 5, 0.0, True)
    yield NodeStarted("r1", "check", 1, 0.0, "openai", "gpt-4o-mini")
    yield NodeRetrying("r1", "check", 1, 0.5, "HTTP 429: slow down", "rate_limit")
    yield NodeFailed("r1", "check", 1, 0.0, 0.0, 2500.0, "openai", "gpt-4o-mini",
                     "node `check` (openai/gpt-4o-mini) failed after 2 attempts: timeout", "timeout", 2)
    yield RunFinished("r1", "failed", {}, 0.0, 3800.0, 0.00012, 30, "node `check` failed")


def test_lines_per_node_updated_in_place():
    clock, display = Clock(), FakeDisplay()
    progress = TextProgress("flow", "update", display=display, clock=clock)
    progress.refresh()
    assert display.calls == []  # nothing before the run starts
    for event in events():
        progress(event)
        clock.now += MIN_INTERVAL_S
        progress.refresh()
    progress.refresh(final=True)
    kinds = [kind for kind, _ in display.calls]
    assert kinds[0] == "display" and set(kinds[1:]) == {"update"}  # one output, redrawn
    final = display.calls[-1][1].splitlines()
    assert final[0] == "flow · failed in 3.80s · 2 node runs done · 30 tokens · $0.00012"
    plan, write, check = final[1:]
    assert plan.startswith("  ✓ plan ") and "finished in 1.23s · $0.00012 · 15 tokens" in plan
    assert "openai/gpt-4o-mini" in plan
    assert "cached in 0.00s" in write
    assert check.startswith("  ✗ check") and "failed in 2.50s" in check
    assert "timeout after 2 attempts" in check and "hint: raise config.execution.timeout" in check


def test_running_node_shows_elapsed_time_and_retry():
    clock, display = Clock(), FakeDisplay()
    progress = TextProgress("flow", "update", display=display, clock=clock)
    stream = events()
    for _ in range(7):  # up to the retry of `check`
        progress(next(stream))
    clock.now += 2
    progress.refresh()
    text = display.calls[-1][1]
    assert "↻ check  retrying 2.0s" in text
    assert "attempt 1 failed (rate limit: HTTP 429: slow down); retrying in 0.5s" in text
    assert text.splitlines()[0].startswith("flow · running 2.0s")


def test_redraws_are_throttled():
    clock, display = Clock(), FakeDisplay()
    progress = TextProgress("flow", "update", display=display, clock=clock)
    progress(RunStarted("r1", "flow", {}, 0.0, ("a",)))
    progress.refresh()
    for i in range(20):
        progress(NodeStarted("r1", "a", i + 1, 0.0, "mock", "mock"))
        progress.refresh()  # same instant: only the first draws
    assert len(display.calls) == 1
    clock.now += MIN_INTERVAL_S
    progress.refresh()
    assert len(display.calls) == 2
    assert "a #20" in display.calls[-1][1]  # iterations are numbered


def test_append_mode_prints_each_line_once(capsys):
    progress = TextProgress("flow", "append", clock=Clock())
    for event in events():
        progress(event)
        progress.refresh(final=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "▶ plan started (openai/gpt-4o-mini)"
    assert out[1].startswith("✓ plan finished in 1.23s")
    assert any(line.startswith("↻ check attempt 1 failed") for line in out)
    assert out[-1].startswith("flow · failed in 3.80s")
    assert len(out) == len(set(out))


def test_off_mode_shows_nothing(capsys):
    display = FakeDisplay()
    progress = TextProgress("flow", "off", display=display)
    for event in events():
        progress(event)
    progress.refresh(final=True)
    assert display.calls == [] and capsys.readouterr().out == ""
