"""Every malformed workflow in ``tests/fixtures/bad`` is rejected with exactly the right problems.

Each fixture starts from a small valid workflow (``config: {llm: {provider: mock}}``) and
introduces one or more mistakes. ``EXPECTED`` lists, per fixture, every problem the loader must
report as ``(line, substring of message[, substring of hint])``. The line numbers were worked out
by reading the fixture (1-based), not copied from the loader's output: the point is to catch a
wrong line. The test asserts the reported problems match the table EXACTLY: nothing missing,
nothing extra.

"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

import agents_magic
from agents_magic import ConfigError
from agents_magic.errors import Problem

BAD = Path(__file__).resolve().parent.parent / "fixtures" / "bad"

Expected = tuple  # (line, message substring) or (line, message substring, hint substring)

EXPECTED: dict[str, list[Expected]] = {
    # -- malformed YAML ---------------------------------------------------------------------
    "01_bad_indentation": [(11, "malformed YAML: this line is indented less than the one above", "indent it like")],
    "02_unclosed_quote": [(10, "malformed YAML", "quotes")],        # the quote opens on line 10
    "03_tab_indentation": [(7, "malformed YAML: a tab is used for indentation", "spaces")],
    "04_not_a_mapping": [(1, "must be a YAML mapping")],
    "05_duplicate_key": [(12, "duplicate key `prompt`")],
    # -- document shape ---------------------------------------------------------------------
    "06_missing_flow": [(1, "missing required field `flow`", "add `flow:`")],
    "07_missing_state": [(1, "missing required field `state`", "add `state:`")],
    "08_missing_nodes": [(1, "missing required field `nodes`", "add `nodes:`")],
    "09_missing_edges": [(1, "missing required field `edges`", "add `edges:`")],
    "10_toplevel_key_typo": [(15, "unknown field `confg`", "did you mean `config`")],
    "11_node_key_typo": [(10, "unknown field `promt`", "did you mean `prompt`")],
    "12_edge_key_typo": [(16, "unknown field `conditon`", "did you mean `condition`")],
    "13_llm_key_typo": [(18, "unknown field `temprature`", "did you mean `temperature`")],
    # -- state ------------------------------------------------------------------------------
    "14_unknown_state_type": [(6, "unknown type `strng`", "did you mean `str`")],
    "15_default_wrong_type": [(10, "default 'abc' is not a valid `int`")],
    "16_required_with_default": [(9, "`topic` is required and also has a default", "drop `required: true`")],
    # -- prompts and placeholders -----------------------------------------------------------
    "17_unknown_state_field_in_prompt": [(12, "undefined state field `topc`", "did you mean `topic`")],
    "18_unknown_nested_field": [(17, "`user` has no field `nmae`", "did you mean `name`")],
    "19_unknown_bare_placeholder": [(10, "undefined state field `topik`", "did you mean `topic`")],
    # The JSON example's braces are literal; the placeholder inside it is still checked.
    "20_placeholder_in_json_example": [(10, "undefined state field `topik`", "did you mean `topic`")],
    # -- outputs ----------------------------------------------------------------------------
    "21_output_not_declared": [(12, "output `summary` is not declared in state.fields", "add `summary`")],
    "22_object_schema_missing_output_field": [(12, "output `score` has no field in output_schema",
                                               "add a field named `score`")],
    "23_several_outputs_str_schema": [(12, "a `str` output_schema fills only one output", "type: object")],
    # -- edges and graph --------------------------------------------------------------------
    "24_edge_to_unknown_node": [(18, "edge to unknown node `writ`", "did you mean `write`")],
    "25_edge_from_unknown_node": [(15, "edge from unknown node `wrte`", "did you mean `write`")],
    "26_edge_into_start": [(16, "an edge cannot enter START")],
    "27_edge_out_of_end": [(15, "an edge cannot leave END")],
    "28_unreachable_node": [(12, "node `orphan` is unreachable from START", "add an edge into it")],
    "29_no_path_to_end": [(12, "node `review` has no path to END", "{from: review, to: END}")],
    "30_loop_without_exit": [
        (9, "loop without exit: node `draft`", "condition edge"),
        (12, "loop without exit: node `critique`", "condition edge"),
    ],
    # -- conditions -------------------------------------------------------------------------
    "31_condition_function_call": [(14, "a function call is not allowed", "conditions allow")],
    "32_condition_dunder": [(16, "a name starting with `_` is not allowed", "conditions allow")],
    "33_condition_lambda": [(14, "`Lambda` is not allowed", "conditions allow")],
    "34_condition_power": [(15, "the `Pow` operator is not allowed", "conditions allow")],
    "35_condition_undefined_field": [(19, "undefined state field `scroe`", "did you mean `score`")],
    "36_condition_syntax_error": [(15, "invalid expression", "conditions allow")],
    # `core` is a substring of `score`, which comes first in the (multi-line) condition.
    "65_condition_field_substring": [(19, "undefined state field `core`", "did you mean `score`")],
    "37_routes_unknown_target": [(22, "edge to unknown node `ENDD`", "did you mean `END`")],
    "38_loop_unknown_condition_field": [(17, "loop condition_field `don` is not a state field",
                                         "did you mean `done`")],
    # The only exit is unknown: that one mistake is reported, not an echo "loop without exit".
    "39_loop_exit_to_unknown": [(16, "edge to unknown node `ENDD`", "did you mean `END`")],
    # -- nodes ------------------------------------------------------------------------------
    "40_duplicate_node_ids": [(12, "duplicate node id `write`", "unique")],
    "41_node_id_not_identifier": [(9, "node id `write-it` must be a Python identifier")],
    "42_node_without_prompt_or_code": [(12, "a node needs a `prompt` (LLM node) or `code`")],
    # -- llm settings -----------------------------------------------------------------------
    "43_unknown_provider_node": [(13, "unknown provider `antropic`", "did you mean `anthropic`")],
    "44_unknown_provider_config": [(17, "unknown provider `antropic`", "did you mean `anthropic`")],
    "45_temperature_out_of_range": [(12, "`temperature`: input should be less than or equal to 2")],
    "46_temperature_wrong_type": [(18, "`temperature`: input should be a valid number")],
    "47_wrong_schema_version": [(1, "unsupported schema_version '2.0'", 'schema_version: "1.0"')],
    "48_no_edge_from_start": [(12, "no edge leaves START", "{from: START, to: write}")],
    "49_unclosed_bracket": [(11, "malformed YAML")],                # the `[` opens on line 11
    "50_inputs_unknown_field": [(12, "undefined state field `topc`", "did you mean `topic`")],
    "51_provider_defaults_unknown": [(19, "unknown provider `olama`", "did you mean `ollama`")],
    "52_provider_defaults_key_typo": [(20, "unknown field `api_bse`", "did you mean `api_base`")],
    "53_route_condition_key_typo": [
        (20, "unknown field `logc`", "did you mean `logic`"),
        (20, "missing required field `logic`"),
    ],
    "54_state_type_not_a_string": [(9, "string")],
    "55_unhashable_key": [(4, "key")],
    "56_recursive_alias": [(4, "")],
    "57_output_schema_field_type": [(17, "unknown type `integer`", "did you mean `int`")],
    "58_execution_value": [(19, "`max_concurrency`: input should be greater than 0")],
    # -- several mistakes at once -----------------------------------------------------------
    "59_multi_nodes_and_prompts": [
        (11, "unknown field `promt`", "did you mean `prompt`"),
        (14, "undefined state field `anser`", "did you mean `answer`"),
        (15, "a node with several outputs needs an object output_schema", "type: object"),
        (16, "`temperature`: input should be less than or equal to 2"),
        (21, "edge to unknown node `writ`", "did you mean `write`"),
    ],
    "60_multi_state_and_outputs": [
        (6, "unknown type `text`", "str int float bool"),
        (8, "default 'abc' is not a valid `int`"),
        (12, "output `answr` is not declared in state.fields", "did you mean `answer`"),
        (15, "undefined state field `cont`", "did you mean `count`"),
    ],
    "61_multi_graph": [
        (1, "unsupported schema_version '1.1'", 'schema_version: "1.0"'),
        (13, "duplicate node id `write`"),
        (16, "node `lonely` is unreachable from START"),
        (21, "a function call is not allowed"),
        (23, "edge to unknown node `finish`", "nodes: write"),
    ],
    "62_condition_too_deep": [(15, "condition `")],
    # YAML 1.1 reads the key `on` as the boolean True: say so, and suggest quoting it.
    "63_yaml_boolean_key": [(8, "True", "quot")],
    # Two unrelated mistakes: an unknown target after `review`, and `archive`, a dead end.
    "64_unknown_target_and_dead_end": [
        (15, "node `archive` has no path to END", "{from: archive, to: END}"),
        (23, "edge to unknown node `writ`", "did you mean `write`"),
    ],
}

MULTI = ["59_multi_nodes_and_prompts", "60_multi_state_and_outputs", "61_multi_graph"]



def _params() -> list:
    return [pytest.param(name, id=name) for name in sorted(EXPECTED)]


def _errors(source, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        agents_magic.load(source, **kwargs)
    return info.value


def _matches(problem: Problem, expected: Expected) -> bool:
    line, message, *hint = expected
    return problem.line == line and message in problem.message and all(h in problem.hint for h in hint)


def _describe(problems: list[Problem]) -> str:
    return "\n".join(f"  {p.line}: {p.message!r} (hint {p.hint!r})" for p in problems)


def test_table_covers_every_fixture():
    on_disk = {p.stem for p in BAD.glob("*.yaml")}
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 34
    for name in MULTI:
        assert len(EXPECTED[name]) > 1


@pytest.mark.parametrize("name", _params())
def test_fixture_reports_exactly_the_expected_problems(name: str):
    problems = _errors(BAD / f"{name}.yaml").problems
    expected = list(EXPECTED[name])
    unmatched = list(problems)
    missing = []
    for exp in expected:
        hit = next((p for p in unmatched if _matches(p, exp)), None)
        if hit is None:
            missing.append(exp)
        else:
            unmatched.remove(hit)
    assert not missing and not unmatched, (
        f"{name}:\n missing {missing}\n extra:\n{_describe(unmatched)}\n all reported:\n{_describe(problems)}"
    )
    # Every problem points somewhere and is sorted by position.
    assert all(p.line is not None for p in problems)
    assert problems == sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


@pytest.mark.parametrize("name", MULTI)
def test_several_mistakes_reported_together_in_line_order(name: str):
    err = _errors(BAD / f"{name}.yaml")
    assert [p.line for p in err.problems] == [e[0] for e in EXPECTED[name]]
    assert str(err).startswith(f"{len(EXPECTED[name])} problems")


@pytest.mark.parametrize("name", _params())
def test_loading_never_raises_anything_but_config_error(name: str):
    path = BAD / f"{name}.yaml"
    for source, kwargs in ((path, {}), (str(path), {}), (path.read_text(), {"line_offset": 3})):
        try:
            agents_magic.load(source, **kwargs)
        except ConfigError as exc:
            assert exc.problems, "a ConfigError must carry at least one problem"
        except BaseException as exc:  # noqa: BLE001 - that is the point of the test
            pytest.fail(f"{name}: raw {type(exc).__name__} escaped the loader: {exc!s:.200}\n"
                        + "".join(traceback.format_exception(exc)[-3:]))
        else:
            pytest.fail(f"{name}: loaded without error")


@pytest.mark.parametrize("name", _params())
def test_line_offset_shifts_every_line_by_one(name: str):
    text = (BAD / f"{name}.yaml").read_text()
    plain = _errors(text).problems
    shifted = _errors(text, line_offset=1).problems
    assert [(p.message, p.column, p.path, p.hint, p.snippet) for p in plain] == [
        (p.message, p.column, p.path, p.hint, p.snippet) for p in shifted
    ]
    assert [p.line + 1 for p in plain] == [p.line for p in shifted]


@pytest.mark.parametrize("name", _params())
def test_windows_line_endings_give_the_same_lines(name: str):
    text = (BAD / f"{name}.yaml").read_text()
    plain = [(p.line, p.message) for p in _errors(text).problems]
    crlf = [(p.line, p.message) for p in _errors(text.replace("\n", "\r\n")).problems]
    assert crlf == plain


def test_line_offset_matches_a_notebook_cell():
    # The magic line `%%workflow demo` is line 1 of the cell, so the YAML starts on line 2.
    text = (BAD / "17_unknown_state_field_in_prompt.yaml").read_text()
    cell = "%%workflow demo\n" + text
    (problem,) = _errors(text, line_offset=1).problems
    assert problem.line == 13
    assert cell.splitlines()[problem.line - 1].strip() == "Write three lines about {state.topc}."
    assert problem.snippet == "Write three lines about {state.topc}."


def test_render_traceback_is_a_header_and_one_entry_per_problem():
    err = _errors(BAD / "59_multi_nodes_and_prompts.yaml")
    rendered = err._render_traceback_()
    assert isinstance(rendered, list) and all(isinstance(line, str) for line in rendered)
    assert rendered[0].startswith("ConfigError: 5 problems")
    assert "59_multi_nodes_and_prompts.yaml" in rendered[0]
    assert len(rendered) == 1 + len(err.problems)
    for entry, problem in zip(rendered[1:], err.problems):
        assert entry.lstrip().startswith(f"line {problem.line}:{problem.column}: {problem.message}")
        if problem.hint:
            assert f"hint: {problem.hint}" in entry
    text = "\n".join(rendered)
    for noise in ("Traceback", 'File "', "most recent call last", "pydantic", "ValidationError",
                  "yaml.", "site-packages"):
        assert noise not in text
    assert err.report() == text


def test_render_traceback_singular_header_from_text():
    err = _errors((BAD / "40_duplicate_node_ids.yaml").read_text())
    rendered = err._render_traceback_()
    assert rendered[0] == "ConfigError: 1 problem"
    assert len(rendered) == 2
    assert "line 12:" in rendered[1] and "duplicate node id `write`" in rendered[1]


@pytest.mark.parametrize("text, line, message", [
    ("just a string", 1, "must be a YAML mapping"),
    ("[1, 2, 3]", 1, "must be a YAML mapping"),
    ("\n\n42\n", 3, "must be a YAML mapping"),
    ("# only a comment\n", None, "must be a YAML mapping"),
    ("a: 1\n---\nb: 2\n", 2, "malformed YAML"),
])
def test_documents_that_are_not_a_workflow(text: str, line: int | None, message: str):
    (problem,) = _errors(text).problems
    assert problem.line == line
    assert message in problem.message


def test_unreadable_path_is_a_config_error(tmp_path: Path):
    err = _errors(tmp_path / "missing.yaml")
    (problem,) = err.problems
    assert "cannot read" in problem.message and "missing.yaml" in problem.message
    assert str(problem) == f"cannot read `{tmp_path / 'missing.yaml'}`: No such file or directory"
    assert str(err).splitlines()[1].strip() == str(problem)  # no "(no position)" filler
