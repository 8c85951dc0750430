"""estimate(): a cost range before any call, from tokenizer counts, max_tokens and loop bounds."""

from __future__ import annotations

import textwrap

import pytest
from store_helpers import FANOUT

import agents_magic as am
from agents_magic._estimate import DEFAULT_MAX_TOKENS, estimate

LOOP = textwrap.dedent("""\
    schema_version: "1.0"
    flow: {name: refine}
    state:
      fields:
        topic: {type: str, required: true}
        draft: {type: str, default: ""}
        done: {type: bool, default: false}
        extra: {type: str, default: ""}
    nodes:
      - id: write
        prompt: "Write about {state.topic}. Previous draft: {state.draft}"
        outputs: [draft]
        llm: {max_tokens: 200}
      - id: review
        prompt: "Is this finished? {state.draft}"
        outputs: [done]
        output_schema: {type: bool}
        llm: {max_tokens: 10}
      - id: detour
        prompt: "Expand at length: {state.draft}"
        outputs: [extra]
        llm: {model: gpt-4o}
    edges:
      - {from: START, to: write}
      - {from: write, to: review}
      - {from: review, loop: {condition_field: done, max_iterations: 3, exit_to: detour}, to: write}
      - {from: detour, to: END}
    config:
      llm: {provider: openai, model: gpt-4o-mini}
    """)


def test_mock_workflows_cost_nothing():
    result = estimate(am.load("agents_magic/examples/summarize.yaml"), {"text": "one two three"})
    assert result["min_usd"] == result["max_usd"] == 0.0
    assert result["min_path"] == ["summarize", "rate"]  # polish is conditional
    nodes = result["nodes"].set_index("node_id")
    assert nodes.loc["summarize", "prompt_tokens_min"] == 7  # the mock counts words
    assert nodes.loc["polish", "calls_min"] == 0 and nodes.loc["polish", "calls_max"] == 1
    assert result["missing_inputs"] == []


def test_an_openai_estimate_does_not_import_litellm():
    import subprocess
    import sys

    code = ("import sys; from agents_magic._estimate import estimate; "
            f"r = estimate({LOOP!r}, {{'topic': 'cats'}}); "
            "print('litellm' in sys.modules, r['max_usd'] > 0, r['assumptions'][-1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(" ", 2)[:2] == ["False", "True"]
    assert "tiktoken's o200k_base encoding" in out.stdout


def test_without_tiktoken_characters_make_tokens(monkeypatch):
    import importlib.util

    from agents_magic import _estimate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tiktoken" else real(name, *a))
    _estimate._encoding.cache_clear()
    try:
        count = _estimate._Counter()("openai", "gpt-4o-mini", [{"role": "user", "content": "x" * 40}])
        result = estimate(LOOP, {"topic": "cats"})
    finally:
        _estimate._encoding.cache_clear()
    assert count == 44 // _estimate.CHARS_PER_TOKEN + 3 + 3  # 44 characters, then the framing
    assert "characters a token" in result["assumptions"][-1] and result["max_usd"] > 0


def test_mock_workflows_need_no_tokenizer():
    import subprocess
    import sys

    code = ("import sys; from agents_magic._estimate import estimate; "
            "estimate('agents_magic/examples/summarize.yaml', {'text': 'x'}); "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_loop_bounds_prices_and_tokenizer_counts():
    from agents_magic.engine import _cost
    from agents_magic.engine._llm import import_litellm

    result = estimate(LOOP, {"topic": "cats"})
    nodes = result["nodes"].set_index("node_id")
    assert list(nodes["calls_max"]) == [3, 3, 1]
    assert list(nodes["completion_tokens_max"]) == [200, 10, DEFAULT_MAX_TOKENS]
    assert result["min_path"] == ["write", "review", "detour"]
    litellm = import_litellm()
    expected = litellm.token_counter(model="gpt-4o-mini", messages=[
        {"role": "user", "content": "Write about cats. Previous draft: "}])
    assert nodes.loc["write", "prompt_tokens_min"] == expected
    # draft is written by `write` itself: up to 200 more tokens in the worst case
    assert nodes.loc["write", "prompt_tokens_max"] == expected + 200
    price = _cost.model_info("openai", "gpt-4o-mini")
    assert nodes.loc["write", "input_usd_per_token"] == price["input_cost_per_token"]
    write = nodes.loc["write"]
    assert write["max_usd"] == pytest.approx(3 * (write["prompt_tokens_max"] * write["input_usd_per_token"]
                                                  + 200 * write["output_usd_per_token"]))
    assert nodes.loc["detour", "model"] == "gpt-4o"
    assert 0 < result["min_usd"] < result["max_usd"]
    assert result["max_usd"] == pytest.approx(nodes["max_usd"].sum())
    assert result["unpriced"] == []
    assert any("max_tokens" in a for a in result["assumptions"])


def test_without_inputs_or_api_keys(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = estimate(LOOP)  # no key, no inputs: still an estimate
    assert result["missing_inputs"] == ["topic"]
    assert any("topic" in a for a in result["assumptions"])


def test_fan_out_runs_every_branch_even_at_the_minimum():
    result = estimate(FANOUT, {"text": "x"})
    assert result["min_path"] == ["split", "slow", "quick", "join"]


def test_unknown_models_are_listed_and_overrides_apply():
    result = estimate(LOOP, {"topic": "cats"}, provider="openai", model="no-such-model-xyz")
    assert result["unpriced"] == ["openai/no-such-model-xyz"]
    assert result["max_usd"] == 0.0
    assert estimate(LOOP, {"topic": "cats"}, provider="mock")["max_usd"] == 0.0
