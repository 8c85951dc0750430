"""The whole dialect: configurable-agents files, braces in prompts, errors that read well."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import agents_magic as am
from agents_magic.config import _template
from agents_magic.errors import AgentsMagicWarning, ConfigError

COMPAT = Path(__file__).parents[1] / "fixtures" / "configurable_agents"


def _load_quietly(text_or_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workflow = am.load(text_or_path)
    return workflow, [str(w.message) for w in caught if issubclass(w.category, AgentsMagicWarning)]


# -- configurable-agents files ------------------------------------------------------------------


def test_every_key_of_the_configurable_agents_schema_loads_and_keeps_its_meaning():
    workflow, _ = _load_quietly(COMPAT / "every_key.yaml")
    spec = workflow.spec
    assert spec.flow.tags == ["research", "writing"] and spec.flow.author == "Configurable Agents Team"
    researcher = spec.nodes[0]
    assert researcher.name == "Research the topic"
    assert researcher.inputs == {"topic": "{state.topic}"}
    assert researcher.mlflow is not None and researcher.optimize is not None
    (parallel,) = [e.parallel for e in spec.edges if e.parallel]
    assert (parallel.items_field, parallel.target_node, parallel.collect_field) == (
        "sections", "section_writer", "drafts")
    assert spec.config.mlflow is not None and spec.config.gates is not None
    assert spec.webhook is not None and spec.memory is not None
    assert spec.config.execution.timeout == 60


def serper_search(query: str) -> list[str]:
    """Search the web."""
    return [query]


def web_reader(url: str, timeout: float = 30) -> str:
    """Read a page."""
    return f"{url} within {timeout}s"


def test_a_configurable_agents_workflow_runs_with_the_mock_provider():
    text = (COMPAT / "every_key.yaml").read_text()
    workflow, _ = _load_quietly(text)
    with pytest.raises(ConfigError, match="unknown tool `serper_search`"):
        am.run(workflow, {"topic": "tea"}, provider="mock")  # its tools are not built in
    result = am.run(workflow, {"topic": "tea"}, provider="mock",
                    tools=[serper_search, web_reader])
    assert result.status == "succeeded", result.error
    assert len(result.outputs["drafts"]) == 2


@pytest.mark.parametrize(("yaml_path", "key"), [
    ("flow", "owner"), ("nodes[0]", "color"), ("edges[0]", "weight"), ("config", "telemetry"),
    ("", "deployment"),
])
def test_a_key_nobody_defines_is_a_warning_naming_its_line(yaml_path, key):
    text = _inject((COMPAT / "every_key.yaml").read_text(), yaml_path, key)
    workflow, shown = _load_quietly(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if f"{key}:" in row)
    note = next(w for w in workflow.warnings if f"`{key}`" in w or f".{key}`" in w)
    assert note.startswith(f"line {line}:") and "ignored" in note
    assert any(key in message for message in shown)


def _inject(text: str, yaml_path: str, key: str) -> str:
    anchors = {"flow": "  name: every_key\n", "nodes[0]": "    name: Research the topic\n",
               "edges[0]": "  - {from: START, to: researcher}\n", "config": "  execution: {timeout: 60",
               "": "optimization: {"}
    anchor = anchors[yaml_path]
    indent = {"flow": "  ", "nodes[0]": "    ", "config": "  ", "": ""}.get(yaml_path)
    if yaml_path == "edges[0]":
        return text.replace(anchor, f"  - {{from: START, to: researcher, {key}: 3}}\n")
    return text.replace(anchor, f"{indent}{key}: 1\n{anchor}", 1)


@pytest.mark.parametrize(("old", "new", "typo", "suggestion"), [
    ("  author: Configurable", "  autor: Configurable", "autor", "author"),
    ("    name: Research the topic", "    nmae: Research the topic", "nmae", "name"),
    ("    log_prompts: true", "    log_prompt: true", "log_prompt", "log_prompts"),
    ("    parallel: {items_field", "    paralel: {items_field", "paralel", "parallel"),
    ("    loop: {max_iterations", "    lop: {max_iterations", "lop", "loop"),
    ("{items_field: sections", "{items_feild: sections", "items_feild", "items_field"),
    ("  mlflow: {experiment: every_key_opt", "  mlfow: {experiment: every_key_opt", "mlfow", "mlflow"),
    ("webhook:", "webhok:", "webhok", "webhook"),
    ("    topic: {type: str, requried: true", "    topic: {type: str, requried: true", "requried",
     "required"),
    ("  llm: {provider: google, model: gemini-1.5-flash, temperature: 0.7",
     "  llm: {provider: google, modle: gemini-1.5-flash, temperature: 0.7", "modle", "model"),
    ("  execution: {timeout: 60", "  execution: {timeot: 60", "timeot", "timeout"),
])
def test_a_misspelt_key_in_every_section_is_still_an_error(old, new, typo, suggestion):
    text = (COMPAT / "every_key.yaml").read_text()
    if "requried" in new:
        old, new = "{type: str, required: true, description: What", "{type: str, requried: true, description: What"
    assert old in text
    with pytest.raises(ConfigError) as caught:
        am.load(text.replace(old, new, 1))
    (problem,) = [p for p in caught.value.problems if f"`{typo}`" in p.message]
    assert problem.line and f"did you mean `{suggestion}`" in problem.hint


def test_inputs_with_and_without_braces_both_work():
    text = (COMPAT / "every_key.yaml").read_text().replace('inputs: {topic: "{state.topic}"}',
                                                           "inputs: {topic: topic}")
    workflow, _ = _load_quietly(text)
    assert am.run(workflow, {"topic": "tea"}, provider="mock", tools=[serper_search, web_reader]).ok


@pytest.mark.parametrize("name", ["no_schema_version.yaml", "json_schema_state.yaml"])
def test_files_configurable_agents_rejects_get_line_numbered_errors(name):
    with pytest.raises(ConfigError) as caught:
        am.load(COMPAT / name)
    assert caught.value.problems and all(p.line for p in caught.value.problems)


# -- braces in prompts --------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "expected"), [
    ('Reply as {"weather": "sunny"} about {topic}', 'Reply as {"weather": "sunny"} about cats'),
    ('Nested {"a": {"b": [1, {"c": 2}]}} ok', 'Nested {"a": {"b": [1, {"c": 2}]}} ok'),
    ("Empty { } and code: def f(x) { return x; }", "Empty { } and code: def f(x) { return x; }"),
    ('Template {"city": "{state.city}"}', 'Template {"city": "Oslo"}'),
    ("Escaped {{topic}} and {{ {topic} }}", "Escaped {topic} and { cats }"),
    ('Escaped JSON {{"a": {{"b": 1}}}}', 'Escaped JSON {"a": {"b": 1}}'),
    ("Unbalanced } and { alone", "Unbalanced } and { alone"),
    ("{not a placeholder!} {1st}", "{not a placeholder!} {1st}"),
])
def test_braces_that_cannot_start_a_placeholder_are_literal(template, expected):
    assert _template.render(template, {"topic": "cats", "city": "Oslo"}) == expected


def test_a_prompt_with_a_json_example_loads_and_runs():
    text = """\
flow: {name: weather}
state: {fields: {city: {type: str, required: true}, report: {type: str, default: ""}}}
nodes:
  - id: report
    prompt: |
      Reply in JSON like {"weather": "sunny", "temp": {"c": 20}} for {city}.
      Code: if (x) { return {}; }
    outputs: [report]
edges: [{from: START, to: report}, {from: report, to: END}]
config: {llm: {provider: mock}}
"""
    from agents_magic.engine.events import NodeFinished

    events: list = []
    result = am.run(am.load(text), {"city": "Oslo"}, sinks=[events.append])
    assert result.ok
    (finished,) = [e for e in events if isinstance(e, NodeFinished)]
    assert finished.prompt == ('Reply in JSON like {"weather": "sunny", "temp": {"c": 20}} for Oslo.\n'
                               "Code: if (x) { return {}; }\n")


def test_an_unknown_placeholder_inside_json_is_still_an_error():
    text = """\
flow: {name: weather}
state: {fields: {city: {type: str, required: true}, report: {type: str, default: ""}}}
nodes:
  - {id: report, prompt: 'Reply like {"city": "{ctiy}"}', outputs: [report]}
edges: [{from: START, to: report}, {from: report, to: END}]
"""
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    (problem,) = caught.value.problems
    assert "undefined state field `ctiy`" in problem.message and "did you mean `city`" in problem.hint


# -- errors that read well ----------------------------------------------------------------------


def test_str_of_a_config_error_lists_every_problem_with_its_line():
    text = """\
flow: {name: x}
state: {fields: {a: {type: strr}}}
nodes: [{id: n, promt: "hi", outputs: [a]}]
edges: [{from: START, to: n}, {from: n, to: END}]
"""
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    message = str(caught.value)
    assert message.splitlines()[0].startswith(f"{len(caught.value.problems)} problems")
    for problem in caught.value.problems:
        assert f"line {problem.line}:{problem.column}: {problem.message}" in message
    assert "did you mean `prompt`" in message and "did you mean `str`" in message


@pytest.mark.parametrize(("text", "line", "message", "hint"), [
    ("flow:\n  name: x\n    description: y\n", 3, "this line is indented more than the one above it",
     "indent"),
    ("nodes:\n  - id: a\n    prompt: x\n   outputs: [b]\n", 4, "indented less than the one above it",
     "indent"),
    ("nodes:\n  - id: a\n    prompt: Answer: yes\n", 3, "a second `: ` in this value", "quotes"),
    ("flow:\n  name: x\nprompt: {state.topic} is cool\n", 3, "a value starting with `{` is read as YAML",
     "quotes"),
    ('flow: {name: x}\nprompt: "abc" def\n', 2, "more text after a value that has ended", "quotes"),
    ("a: [1, 2\nb: 3\n", 1, "the `[` opened here is never closed", "close it"),
    ('a: "abc\nb: 2\n', 1, "this quoted text is never closed", "closing quote"),
    ("a:\n\tb: 1\n", 2, "a tab is used for indentation", "spaces"),
    ("a: @x\n", 1, "a value cannot start with `@`", "quotes"),
    ("a: 1\n---\nb: 2\n", 2, "a second YAML document starts here", "---"),
])
def test_yaml_syntax_errors_in_plain_words(text, line, message, hint):
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    (problem,) = caught.value.problems
    assert problem.line == line and message in problem.message and hint in problem.hint
    for jargon in ("<block", "expected", "token", "scalar"):
        assert jargon not in problem.message


def test_broken_yaml_is_never_described_in_parser_tokens():
    import random

    base = (Path(am.__file__).parent / "examples" / "summarize.yaml").read_text().splitlines()
    rng = random.Random(11)
    edits = [lambda s: "  " + s, lambda s: s[1:], lambda s: s + ": x", lambda s: s + ' "',
             lambda s: s.replace(": ", ": {", 1), lambda s: s.replace(": ", ": [", 1),
             lambda s: "\t" + s, lambda s: s.replace(": ", ": @", 1), lambda s: "- " + s]
    for _ in range(300):
        lines = list(base)
        index = rng.randrange(len(lines))
        lines[index] = rng.choice(edits)(lines[index])
        try:
            _load_quietly("\n".join(lines))
        except ConfigError as exc:
            for problem in exc.problems:
                assert problem.line is not None
                for jargon in ("<block", "<document", "expected", "token", "scalar"):
                    assert jargon not in problem.message, problem.message


def test_configurable_agents_code_nodes_load_and_run():
    workflow, _ = _load_quietly(COMPAT / "code_nodes.yaml")
    assert [n.kind for n in workflow.spec.nodes] == ["code", "code"]
    result = am.run(workflow, {"values": [4, 5, 6]}, persist=False)
    assert result.ok, result.error
    assert (result.outputs["total"], result.outputs["report"]) == (15, "the total is 15")


@pytest.mark.parametrize(("key", "setting"), [("model", "model"), ("modle", "model"),
                                              ("temperature", "temperature"),
                                              ("max_token", "max_tokens"), ("provider", "provider")])
def test_an_llm_setting_on_the_node_itself_says_it_goes_under_llm(key, setting):
    text = _inject((COMPAT / "every_key.yaml").read_text(), "nodes[0]", key)
    where = f"`{setting}` is an LLM setting: put it under the node's `llm:`"
    try:
        workflow, _ = _load_quietly(text)
    except ConfigError as caught:  # a near miss of a node field is an error...
        (problem,) = [p for p in caught.problems if f"`{key}`" in p.message]
        assert problem.hint == where
    else:  # ...any other key is ignored with a warning
        (note,) = [w for w in workflow.warnings if f".{key}`" in w]
        assert note.endswith(f"is ignored ({where})")


def test_a_typo_of_a_node_field_keeps_its_did_you_mean():
    text = _inject((COMPAT / "every_key.yaml").read_text(), "nodes[0]", "outptus")
    with pytest.raises(ConfigError) as caught:
        am.load(text)
    (problem,) = [p for p in caught.value.problems if "`outptus`" in p.message]
    assert problem.hint == "did you mean `outputs`?"
