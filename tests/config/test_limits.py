"""Hostile or accidental input stays bounded: oversized, deeply nested or non-UTF-8 workflow
text, conditions that build huge values, and templates that reach for interpreter internals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import agents_magic
from agents_magic import ConfigError
from agents_magic.config import _conditions, _loader, _sourcemap, _template
from agents_magic.config._conditions import ConditionRuntimeError, compile_condition

BASE = {
    "flow": {"name": "demo"},
    "state": {"fields": {"text": {"type": "str", "default": ""}, "answer": {"type": "str", "default": ""}}},
    "nodes": [{"id": "write", "prompt": "Write about {state.text}", "outputs": ["answer"]}],
    "edges": [{"from": "START", "to": "write"}, {"from": "write", "to": "END"}],
    "config": {"llm": {"provider": "mock"}},
}
TEXT = yaml.safe_dump(BASE, sort_keys=False)


def problem_of(source) -> tuple[ConfigError, object]:
    with pytest.raises(ConfigError) as info:
        agents_magic.load(source)
    (problem,) = info.value.problems
    return info.value, problem


# ---------------------------------------------------------------------------------------------
# Workflow text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("deep", [
    "[" * 5000 + "]" * 5000,                                         # flow, beyond libyaml's 1000
    "[" * 200 + "]" * 200,                                           # flow, within libyaml's
    "".join(" " * i + f"k{i}:\n" for i in range(1500)) + " " * 1500 + "x\n",  # block mappings
    "- " * 3000 + "x\n",                                             # compact block sequences
])
def test_deep_nesting_is_a_config_error_with_a_line(deep: str):
    _, problem = problem_of(TEXT + "extra:\n  " + deep.replace("\n", "\n  "))
    assert f"nested more than {_sourcemap.MAX_DEPTH} levels deep" in problem.message
    assert problem.line and problem.line >= TEXT.count("\n") + 1
    assert len(problem.snippet) <= _sourcemap.SNIPPET_CHARS


def test_nesting_within_the_cap_loads():
    nested = {"params": {}}
    inner = nested["params"]
    for level in range(_sourcemap.MAX_DEPTH - 6):
        inner[f"k{level}"] = {}
        inner = inner[f"k{level}"]
    data = {**BASE, "config": {"llm": {"provider": "mock", **nested}}}
    agents_magic.load(yaml.safe_dump(data))


def test_the_pure_python_parser_is_guarded_too(monkeypatch):
    monkeypatch.setattr(_sourcemap, "_FAST_LOADER", None)
    _, problem = problem_of(TEXT + "extra: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested more than" in problem.message
    agents_magic.load(TEXT)


def test_deeply_nested_type_string_is_a_config_error():
    data = {**BASE, "state": {"fields": {**BASE["state"]["fields"],
                                         "deep": {"type": "list[" * 3000 + "str" + "]" * 3000}}}}
    _, problem = problem_of(yaml.safe_dump(data, width=10**6))
    assert "nests more than" in problem.message


def test_oversized_text_is_refused_before_parsing(monkeypatch):
    huge = TEXT.replace("Write about", "Write about " + "x" * 50_000_000)
    monkeypatch.setattr(_loader, "parse", None)  # parsing it would fail this test
    _, problem = problem_of(huge)
    assert f"{_loader.MAX_TEXT_CHARS:,} characters" in problem.message
    assert "inputs" in problem.hint


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(4 * _loader.MAX_TEXT_CHARS + 1)
    error, problem = problem_of(path)
    assert "bytes long" in problem.message and error.source == str(path)


def test_a_prompt_near_the_cap_loads():  # its load time is in benchmarks/bench_load.py
    big = TEXT.replace("Write about", "Write about " + "word " * 700_000)
    assert len(agents_magic.load(big).spec.nodes[0].prompt) > 3_500_000


def test_latin1_file_is_a_config_error_with_line_and_column(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(TEXT.replace("Write about", "Écris sur").encode("latin-1"))
    _, problem = problem_of(path)
    line = next(i for i, text in enumerate(TEXT.splitlines(), 1) if "Write about" in text)
    assert "not UTF-8" in problem.message and "0xc9" in problem.message
    assert problem.line == line
    assert problem.column == TEXT.splitlines()[line - 1].index("Write about") + 1
    assert "UTF-8" in problem.hint


def test_a_character_yaml_forbids_is_a_config_error_with_a_line():
    _, problem = problem_of(TEXT.replace("Write about", "Write\x00 about"))
    assert "not allowed" in problem.message and problem.line == TEXT[:TEXT.index("Write")].count("\n") + 1


def test_long_lines_are_shortened_in_snippets():
    bad = TEXT.replace("Write about {state.text}", "x" * 10_000 + " {state.txt}")
    with pytest.raises(ConfigError) as info:
        agents_magic.load(bad)
    assert all(len(p.snippet) <= _sourcemap.SNIPPET_CHARS for p in info.value.problems)


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------


def test_chained_concatenation_of_a_big_value_stops_at_once():
    cond = compile_condition(" + ".join(["big"] * 280) + " == ''", where="edge from `judge`")
    with pytest.raises(ConditionRuntimeError) as info:
        cond({"big": "x" * 1_000_000})
    message = str(info.value)
    assert message.startswith("edge from `judge`: condition `big + big + big")
    assert f"the limit is {_conditions.MAX_SIZE:,}" in message


@pytest.mark.parametrize("source", [
    "{state.s} + {state.s} == ''",            # strings
    "{state.l} + {state.l} == []",            # lists
    "{state.l} * 2 == []",                    # repetition
    "2 * {state.s} == ''",
])
def test_every_operation_that_builds_a_value_is_bounded(source: str):
    state = {"s": "x" * 60_000, "l": list(range(60_000))}
    with pytest.raises(ConditionRuntimeError, match="the limit is"):
        compile_condition(source)(state)


def test_total_work_of_one_evaluation_is_bounded():
    terms = " and ".join(["{state.s} + {state.s} != ''"] * 20)  # 20 × 80,000 characters
    with pytest.raises(ConditionRuntimeError, match="in all"):
        compile_condition(terms)({"s": "x" * 40_000})


def test_huge_integer_products_are_bounded():
    with pytest.raises(ConditionRuntimeError, match="bits"):
        compile_condition("{state.n} * {state.n} * {state.n} > 0")({"n": 2 ** 2000})


def test_evaluation_time_is_bounded(monkeypatch):
    monkeypatch.setattr(_conditions, "MAX_SECONDS", -1.0)
    with pytest.raises(ConditionRuntimeError, match="took longer than"):
        compile_condition("{state.a} + 1 > 0")({"a": 1})


def test_ordinary_values_within_the_bounds_still_work():
    state = {"a": "x" * 40_000, "b": "y" * 40_000, "n": 3}
    assert compile_condition("{state.a} + {state.b} != '' and {state.n} * 4 == 12")(state)


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("placeholder", [
    "{state.text.__class__.__mro__}", "{state.text.__class__}", "{text._private}", "{state._x}",
])
def test_private_and_dunder_placeholders_are_rejected_at_load(placeholder: str):
    data = {**BASE, "nodes": [{**BASE["nodes"][0], "prompt": f"Leak {placeholder} now"}]}
    text = yaml.safe_dump(data, sort_keys=False)
    _, problem = problem_of(text)
    assert "names starting with `_` are not allowed" in problem.message
    assert problem.line == next(i for i, line in enumerate(text.splitlines(), 1) if "Leak" in line)


def test_private_paths_in_input_renames_are_rejected_at_load():
    data = {**BASE, "nodes": [{**BASE["nodes"][0], "prompt": "About {t}",
                               "inputs": {"t": "state.text.__class__"}}]}
    _, problem = problem_of(yaml.safe_dump(data, sort_keys=False))
    assert "not allowed" in problem.message


def test_render_refuses_private_paths():
    with pytest.raises(_template.TemplateError):
        _template.render("{state.text.__class__.__mro__}", {"text": "hi"})
    with pytest.raises(_template.TemplateError):
        _template.render("{t}", {"text": "hi"}, {"t": ("text", "__class__")})
    assert _template.render("{_loop_iteration_write} {state.user.name}",
                            {"_loop_iteration_write": 2, "user": {"name": "Ada"}}) == "2 Ada"
