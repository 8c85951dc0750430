"""Valid workflows load into the model with every section parsed and kept."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

import agents_magic
from agents_magic import ConfigError
from agents_magic.config import _template, _types
from agents_magic.config._schema import Edge, Route, WorkflowSpec
from agents_magic.errors import AgentsMagicWarning

EXAMPLES = Path(agents_magic.__file__).parent / "examples"

BASE: dict[str, Any] = {
    "schema_version": "1.0",
    "flow": {"name": "demo"},
    "state": {"fields": {
        "topic": {"type": "str", "required": True},
        "answer": {"type": "str", "default": ""},
    }},
    "nodes": [{"id": "write", "prompt": "Write about {state.topic}", "outputs": ["answer"]}],
    "edges": [{"from": "START", "to": "write"}, {"from": "write", "to": "END"}],
    "config": {"llm": {"provider": "mock"}},
}


def doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of BASE with top-level sections replaced."""
    out = copy.deepcopy(BASE)
    out.update(copy.deepcopy(changes))
    return out


def load(data: dict[str, Any], **kwargs: Any):
    return agents_magic.load(yaml.safe_dump(data, sort_keys=False), **kwargs)


def fields(**extra: Any) -> dict[str, Any]:
    return {"fields": {**copy.deepcopy(BASE["state"]["fields"]), **extra}}


FULL = """\
schema_version: "1.0"
flow:
  name: research_report
  description: Plan, research in parallel, write, judge, polish in a loop, count words.
  version: "1.2"
state:
  fields:
    topic: {type: str, required: true, description: What to write about}
    plan: {type: str, default: ""}
    facts: {type: "list[str]", default: []}
    style: {type: str, default: ""}
    draft: {type: str, default: ""}
    score: {type: int, default: 0}
    kind: {type: str, default: a}
    done: {type: bool, default: false}
    words: {type: int, default: 0}
    final: {type: str, default: ""}
nodes:
  - id: plan
    description: Make a plan
    prompt: "Plan a report on {state.topic}"
    outputs: [plan]
    llm: {provider: ollama, model: llama3.2, temperature: 0.2, max_tokens: 256, api_base: "http://localhost:11434"}
  - id: research
    prompt: "Find facts for: {plan}"
    outputs: [facts]
    output_schema: {type: "list[str]"}
    tools: [{name: web_search, config: {endpoint: "http://127.0.0.1:9/search", allowed_hosts: ["127.0.0.1:9"]}},
            {name: file_read, config: {roots: ["."]}, on_error: fail}]
  - id: styler
    prompt: "Pick a style for {state.topic}"
    outputs: [style]
    memory: {read: {style: preferred_style}, write: [style]}
  - id: write
    prompt: |
      Write about {subject} in the style {{ {look} }}.
      Facts: {state.facts}
    inputs: {subject: state.topic, look: "{state.style}"}
    outputs: [draft]
  - id: judge
    prompt: "Judge: {state.draft}"
    outputs: [score, kind]
    output_schema:
      type: object
      fields:
        - {name: score, type: int, description: 1 to 10}
        - {name: kind, type: str}
  - id: polish
    prompt: "Polish (pass {_loop_iteration_polish}): {state.draft}"
    outputs: [draft, done]
    output_schema:
      type: object
      fields: [{name: draft, type: str}, {name: done, type: bool}]
  - id: count
    code: "result = {'words': len(inputs['draft'].split())}"
    sandbox: {preset: low, timeout: 5}
    outputs: [words]
  - id: finish
    prompt: "Finalise: {state.draft}"
    outputs: [final]
edges:
  - {from: START, to: plan}
  - {from: plan, to: [research, styler]}
  - {from: research, to: write}
  - {from: styler, to: write}
  - {from: write, to: judge}
  - from: judge
    routes:
      - condition: {logic: "{state.score} >= 7 and {state.kind} in ['a', 'b']"}
        to: count
      - {condition: {logic: default}, to: polish}
  - from: polish
    loop: {condition_field: done, max_iterations: 3, exit_to: count}
  - {from: count, to: finish, condition: "words > 10"}
  - {from: count, to: END}
  - {from: finish, to: END}
config:
  llm:
    provider: mock
    model: mock-1
    temperature: 0.7
    providers:
      ollama: {api_base: "http://localhost:11434", timeout: 60}
      openai: {model: gpt-4o-mini}
  execution: {timeout: 30, max_retries: 2, retry_backoff: 0.1, max_concurrency: 4, max_iterations: 10, budget_usd: 0.5}
  storage: {url: "sqlite:///runs.db"}
  observability:
    mlflow: {enabled: true, tracking_uri: "file:./mlruns", experiment: research}
  memory: {enabled: true, default_ttl: 3600}
  profiling: {bottleneck_threshold: 0.5}
  sandbox: {preset: medium, workers: 2}
  ab_test:
    variants:
      - {name: short, node: write, prompt: "Be brief about {subject}"}
      - {name: warm, node: write, llm: {temperature: 1.0}}
  gates:
    - {metric: cost_usd_avg, max: 0.01, action: warn}
    - {metric: accuracy_avg, min: 0.8, action: fail}
optimization: {enabled: false}
"""


@pytest.fixture(scope="module")
def full():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every section of the full dialect is acted on
        return agents_magic.load(FULL)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def test_load_from_text_str_path_and_pathlike(tmp_path: Path):
    text = yaml.safe_dump(BASE, sort_keys=False)
    for suffix in (".yaml", ".yml"):
        path = tmp_path / f"flow{suffix}"
        path.write_text(text, encoding="utf-8")
        from_path = agents_magic.load(path)
        from_str = agents_magic.load(str(path))
        assert from_path.source == from_str.source == str(path)
        assert from_path.spec == from_str.spec
    from_text = agents_magic.load(text)
    assert from_text.source == "<string>"
    assert from_text.yaml == text
    assert from_text.spec == from_path.spec
    assert from_text.hash == from_path.hash
    assert isinstance(from_text.spec, WorkflowSpec)


def test_load_the_bundled_example():
    wf = agents_magic.load(EXAMPLES / "summarize.yaml")
    assert wf.name == "summarize"
    assert wf.node_ids == ["summarize", "rate", "polish"]
    assert wf.required_inputs == ["text"]
    assert wf.spec.edges[2].condition == "{state.score} < 7"


def test_name_override_and_line_offset_on_valid_text():
    wf = load(BASE, name="renamed", line_offset=5)
    assert wf.name == "renamed"
    assert wf.spec.flow.name == "demo"
    assert "renamed" in repr(wf)


def test_minimal_workflow_defaults():
    data = doc()
    del data["schema_version"], data["config"]
    spec = load(data).spec
    assert spec.schema_version == "1.0"
    assert spec.config.llm is None
    ex = spec.config.execution
    assert (ex.timeout, ex.max_retries, ex.max_concurrency, ex.max_iterations) == (120, 3, 16, 25)
    assert ex.budget_usd is None
    node = spec.nodes[0]
    assert node.output_schema.type == "str" and node.llm is None and node.inputs is None


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------

TYPES = [
    ("str", "hello", ["x"]),
    ("int", 3, "3x"),
    ("float", 2.5, "abc"),
    ("bool", True, "maybe"),
    ("list[str]", ["a", "b"], [{"a": 1}]),
    ("dict[str,int]", {"a": 1}, {"a": "x"}),
    ("dict[str, int]", {"a": 1, "b": 2}, ["a"]),
    ("list[dict[str, list[int]]]", [{"a": [1, 2]}, {"b": []}], [{"a": ["x"]}]),
    ("list", [1, "a"], "not a list"),
    ("dict", {"k": [1]}, [1]),
    ("object", {"anything": 1}, None),
]


@pytest.mark.parametrize("type_, default, bad", TYPES, ids=[t[0] for t in TYPES])
def test_every_state_type_with_a_default(type_: str, default: Any, bad: Any):
    wf = load(doc(state=fields(value={"type": type_, "default": default, "description": "d"})))
    field = wf.spec.state.fields["value"]
    assert field.type == type_ and field.default == default and field.description == "d"
    assert wf.initial_state({"topic": "t"})["value"] == default
    adapter = _types.adapter(type_)
    assert adapter.validate_python(default) == default
    if bad is not None:
        with pytest.raises(pydantic.ValidationError):
            adapter.validate_python(bad, strict=True)


def test_object_with_nested_schema():
    user = {
        "type": "object",
        "required": True,
        "schema": {
            "name": "str",
            "age": {"type": "int", "description": "years"},
            "address": {"type": "object", "schema": {"city": "str", "zip": "int"}},
            "tags": "list[str]",
        },
    }
    data = doc(state=fields(user=user), nodes=[{
        "id": "write", "outputs": ["answer"],
        "prompt": "Hi {state.user.name} ({state.user.age}) from {state.user.address.city}",
    }])
    wf = load(data)
    field = wf.spec.state.fields["user"]
    assert field.schema_ == user["schema"]
    assert wf.required_inputs == ["topic", "user"]
    state = wf.initial_state({"topic": "t", "user": {
        "name": "Ann", "age": "30", "address": {"city": "Oslo", "zip": 1234}, "tags": []}})
    assert state["user"] == {"name": "Ann", "age": 30, "address": {"city": "Oslo", "zip": 1234},
                             "tags": []}
    schema = _types.json_schema("object", field.schema_)
    assert schema["properties"]["address"]["properties"]["zip"] == {"type": "integer"}
    assert schema["properties"]["age"]["description"] == "years"


def test_object_default_matching_schema():
    user = {"type": "object", "schema": {"name": "str", "age": "int"},
            "default": {"name": "Ann", "age": 3}}
    wf = load(doc(state=fields(user=user)))
    assert wf.spec.state.fields["user"].default == {"name": "Ann", "age": 3}
    assert wf.initial_state({"topic": "t"})["user"] == {"name": "Ann", "age": 3}


def test_defaults_are_accepted_and_kept():
    extra = {
        "n": {"type": "int", "default": 0},
        "ratio": {"type": "float", "default": 1},       # an int is a valid float
        "flag": {"type": "bool", "default": False},
        "empty": {"type": "list[int]", "default": []},
        "text": {"type": "str", "default": ""},
        "opt": {"type": "str"},                          # no default: None
    }
    wf = load(doc(state=fields(**extra)))
    state = wf.initial_state({"topic": "t"})
    assert state["n"] == 0 and state["ratio"] == 1 and state["flag"] is False
    assert state["empty"] == [] and state["text"] == "" and state["opt"] is None
    assert wf.required_inputs == ["topic"]


def test_yaml_native_scalars_as_defaults():
    text = yaml.safe_dump(doc(), sort_keys=False).replace(
        "      default: ''\n",
        "      default: ''\n    enabled:\n      type: bool\n      default: yes\n"
        "    big:\n      type: float\n      default: 1.0e+3\n",
    )
    wf = agents_magic.load(text)
    assert wf.spec.state.fields["enabled"].default is True
    assert wf.spec.state.fields["big"].default == 1000.0


def test_defaults_are_coerced_to_the_declared_type():
    wf = load(doc(state=fields(ratio={"type": "float", "default": 1})))
    value = wf.initial_state({"topic": "t"})["ratio"]
    assert value == 1.0 and isinstance(value, float)


def test_inputs_are_coerced_to_the_declared_type():
    wf = load(doc(state=fields(ratio={"type": "float", "default": 0.5},
                               n={"type": "int", "default": 0})))
    state = wf.initial_state({"topic": "t", "ratio": 2, "n": "7"})
    assert state["ratio"] == 2.0 and isinstance(state["ratio"], float)
    assert state["n"] == 7


# ---------------------------------------------------------------------------------------------
# Prompts and placeholders
# ---------------------------------------------------------------------------------------------


def test_all_placeholder_styles(full):
    prompt = full.spec.nodes[3].prompt
    found = [(p.text, p.path) for p in _template.placeholders(prompt)]
    assert found == [("{subject}", ("subject",)), ("{look}", ("look",)), ("{state.facts}", ("facts",))]
    styles = ("Dotted {state.topic}, spaced { state.topic }, bare {topic}, nested {state.user.name}, "
              "escaped {{literal}}, loop {_loop_iteration_write}")
    data = doc(state=fields(user={"type": "object", "schema": {"name": "str"}, "default": {"name": "Ann"}}),
               nodes=[{"id": "write", "prompt": styles, "outputs": ["answer"]}])
    wf = load(data)
    assert wf.spec.nodes[0].prompt == styles
    rendered = _template.render(styles, {"topic": "cats", "user": {"name": "Ann"},
                                         "_loop_iteration_write": 2})
    assert rendered == ("Dotted cats, spaced cats, bare cats, nested Ann, escaped {literal}, loop 2")


def test_inputs_renames_used_as_bare_placeholders(full):
    write = full.spec.nodes[3]
    assert write.inputs == {"subject": "state.topic", "look": "{state.style}"}
    renames = {k: _template.reference(v) for k, v in write.inputs.items()}
    assert renames == {"subject": ("topic",), "look": ("style",)}
    text = _template.render(write.prompt, {"topic": "cats", "style": "dry", "facts": ["a"]}, renames)
    assert text == 'Write about cats in the style { dry }.\nFacts: ["a"]\n'


def test_inputs_rename_to_a_nested_field():
    data = doc(state=fields(user={"type": "object", "schema": {"name": "str"}}),
               nodes=[{"id": "write", "prompt": "Hello {who}", "inputs": {"who": "state.user.name"},
                       "outputs": ["answer"]}])
    node = load(data).spec.nodes[0]
    assert node.inputs == {"who": "state.user.name"}


# ---------------------------------------------------------------------------------------------
# LLM settings
# ---------------------------------------------------------------------------------------------


def test_node_llm_override(full):
    llm = full.spec.nodes[0].llm
    assert (llm.provider, llm.model, llm.temperature, llm.max_tokens, llm.api_base) == (
        "ollama", "llama3.2", 0.2, 256, "http://localhost:11434")


@pytest.mark.parametrize("llm", [
    {"provider": "openai", "model": "gpt-4o-mini"},
    {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "temperature": 0},
    {"provider": "google", "model": "gemini-1.5-flash", "temperature": 2},
    {"model": "groq/llama3-8b-8192"},
    {"provider": "mock", "responses": ["one", {"answer": "two"}]},
    {"provider": "ollama", "api_key_env": "MY_KEY", "timeout": 5, "max_retries": 0,
     "params": {"top_p": 0.9}},
])
def test_llm_settings_variants(llm: dict[str, Any]):
    node = {**BASE["nodes"][0], "llm": llm}
    parsed = load(doc(nodes=[node])).spec.nodes[0].llm
    assert parsed.model_dump(exclude_none=True) == llm


def test_workflow_llm_defaults_and_per_provider_defaults(full):
    llm = full.spec.config.llm
    assert (llm.provider, llm.model, llm.temperature) == ("mock", "mock-1", 0.7)
    assert llm.providers["ollama"].api_base == "http://localhost:11434"
    assert llm.providers["ollama"].timeout == 60
    assert llm.providers["openai"].model == "gpt-4o-mini"


def test_per_provider_defaults_alone():
    config = {"llm": {"provider": "mock", "providers": {"ollama": {"api_base": "http://127.0.0.1:11434"}}}}
    spec = load(doc(config=config)).spec
    assert spec.config.llm.providers["ollama"].api_base == "http://127.0.0.1:11434"


# ---------------------------------------------------------------------------------------------
# Edges
# ---------------------------------------------------------------------------------------------


def test_linear_edges():
    nodes = [{"id": n, "prompt": f"{n}: {{state.topic}}", "outputs": ["answer"]} for n in ("a", "b", "c")]
    edges = [{"from": "START", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "c"},
             {"from": "c", "to": "END"}]
    spec = load(doc(nodes=nodes, edges=edges)).spec
    assert [(e.from_, e.to) for e in spec.edges] == [("START", "a"), ("a", "b"), ("b", "c"), ("c", "END")]
    assert all(e.condition is None and e.routes is None and e.loop is None for e in spec.edges)
    assert [e.targets for e in spec.edges] == [["a"], ["b"], ["c"], ["END"]]


def test_fan_out_and_join(full):
    fan = full.spec.edges[1]
    assert fan.from_ == "plan" and fan.to == ["research", "styler"]
    assert fan.targets == ["research", "styler"]
    assert [e.to for e in full.spec.edges if e.from_ in ("research", "styler")] == ["write", "write"]


def test_condition_edge(full):
    edge = full.spec.edges[7]
    assert (edge.from_, edge.to, edge.condition) == ("count", "finish", "words > 10")


def test_structured_routes(full):
    edge = full.spec.edges[5]
    assert edge.to is None and edge.condition is None
    assert [r.logic for r in edge.routes] == ["{state.score} >= 7 and {state.kind} in ['a', 'b']", "default"]
    assert [r.to for r in edge.routes] == ["count", "polish"]
    assert edge.targets == ["count", "polish"]


def test_routes_with_plain_string_conditions():
    nodes = [BASE["nodes"][0], {"id": "review", "prompt": "Review {state.answer}", "outputs": ["answer"]}]
    edges = [BASE["edges"][0],
             {"from": "write", "routes": [{"condition": "{state.answer} == ''", "to": "review"},
                                          {"condition": "default", "to": "END"}]},
             {"from": "review", "to": "END"}]
    edge = load(doc(nodes=nodes, edges=edges)).spec.edges[1]
    assert all(isinstance(r, Route) for r in edge.routes)
    assert [r.logic for r in edge.routes] == ["{state.answer} == ''", "default"]


def test_loop_edge(full):
    edge = full.spec.edges[6]
    assert edge.from_ == "polish" and edge.to is None
    assert (edge.loop.condition_field, edge.loop.max_iterations, edge.loop.exit_to) == ("done", 3, "count")
    assert edge.targets == ["count", "polish"]


def test_loop_edge_with_explicit_to():
    edges = [BASE["edges"][0],
             {"from": "write", "to": "write", "loop": {"condition_field": "done", "max_iterations": 2,
                                                        "exit_to": "END"}}]
    spec = load(doc(state=fields(done={"type": "bool", "default": False}), edges=edges)).spec
    assert spec.edges[1].targets == ["write", "END"]


def test_conditional_self_loop_and_loop_iteration_field():
    edges = [BASE["edges"][0],
             {"from": "write", "to": "write", "condition": "_loop_iteration_write < 3 and {state.answer} == ''"},
             {"from": "write", "to": "END"}]
    spec = load(doc(edges=edges)).spec
    assert isinstance(spec.edges[1], Edge) and spec.edges[1].condition.startswith("_loop_iteration_write")


# ---------------------------------------------------------------------------------------------
# config and later features
# ---------------------------------------------------------------------------------------------


def test_execution_values(full):
    ex = full.spec.config.execution
    assert (ex.timeout, ex.max_retries, ex.retry_backoff, ex.max_concurrency, ex.max_iterations,
            ex.budget_usd) == (30, 2, 0.1, 4, 10, 0.5)


def _extra(section: Any) -> dict[str, Any]:
    return dict(section.model_extra or {})


def test_later_feature_config_sections_are_kept(full):
    cfg = full.spec.config
    assert _extra(cfg.storage) == {"url": "sqlite:///runs.db"}
    assert _extra(cfg.observability) == {
        "mlflow": {"enabled": True, "tracking_uri": "file:./mlruns", "experiment": "research"}}
    assert cfg.observability.mlflow["experiment"] == "research"
    assert (cfg.memory.enabled, cfg.memory.default_ttl) == (True, 3600)
    assert _extra(cfg.profiling) == {"bottleneck_threshold": 0.5}
    assert _extra(cfg.sandbox) == {"preset": "medium", "workers": 2}
    assert [v["name"] for v in cfg.ab_test.variants] == ["short", "warm"]
    assert cfg.gates == [{"metric": "cost_usd_avg", "max": 0.01, "action": "warn"},
                         {"metric": "accuracy_avg", "min": 0.8, "action": "fail"}]
    assert _extra(full.spec.optimization) == {"enabled": False}


def test_later_feature_node_keys_are_kept(full):
    by_id = {n.id: n for n in full.spec.nodes}
    assert [(t.name, t.config, t.on_error) for t in by_id["research"].tool_refs] == [
        ("web_search", {"endpoint": "http://127.0.0.1:9/search", "allowed_hosts": ["127.0.0.1:9"]},
         "continue"),
        ("file_read", {"roots": ["."]}, "fail")]
    assert by_id["research"].output_schema.type == "list[str]"
    assert by_id["styler"].memory.read == {"style": "preferred_style"}
    assert by_id["styler"].memory.write == ["style"]
    count = by_id["count"]
    assert count.prompt is None
    assert count.code == "result = {'words': len(inputs['draft'].split())}"
    assert count.sandbox == {"preset": "low", "timeout": 5}
    judge = by_id["judge"]
    assert judge.output_schema.type == "object"
    assert [(f.name, f.type, f.description) for f in judge.output_schema.fields] == [
        ("score", "int", "1 to 10"), ("kind", "str", None)]


def test_full_workflow_shape(full):
    assert full.name == "research_report"
    assert full.spec.flow.description.startswith("Plan, research")
    assert full.spec.flow.version == "1.2"
    assert full.node_ids == ["plan", "research", "styler", "write", "judge", "polish", "count", "finish"]
    assert full.required_inputs == ["topic"]
    assert full.initial_state({"topic": "x"})["facts"] == []


def test_the_model_is_immutable(full):
    with pytest.raises(pydantic.ValidationError):
        full.spec.flow.name = "other"  # type: ignore[misc]


def test_mutating_a_valid_workflow_makes_it_invalid():
    # Sanity check that the positive tests are not passing because nothing is validated.
    data = doc(nodes=[{"id": "write", "prompt": "Write about {state.topc}", "outputs": ["answer"]}])
    with pytest.raises(ConfigError):
        load(data)


# ---------------------------------------------------------------------------------------------
# Sections parsed but not acted on yet
# ---------------------------------------------------------------------------------------------


def test_unimplemented_sections_warn_once_naming_each_line():
    text = FULL.replace("config:\n", "config:\n  tools: {http: true}\n", 1)
    line = text.splitlines().index("  tools: {http: true}") + 1
    assert agents_magic.load(text).warnings == [
        f"line {line}: `config.tools` is not implemented yet and is ignored"]
    with pytest.warns(AgentsMagicWarning) as caught:
        agents_magic.load(text, line_offset=1)
    (warning,) = caught
    assert "`research_report`" in str(warning.message)
    assert f"line {line + 1}: `config.tools`" in str(warning.message)
    assert warning.filename == __file__  # attributed to the caller of load()


def test_config_tools_warns_and_a_plain_workflow_does_not(recwarn):
    assert load(BASE).warnings == []
    assert not recwarn.list
    with pytest.warns(AgentsMagicWarning, match=r"`config.tools`"):
        wf = load(doc(config={"llm": {"provider": "mock"}, "tools": {"http": True}}))
    assert len(wf.warnings) == 1

