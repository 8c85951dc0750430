"""One definition of each shared piece: the edge split, START/END/loop prefix, the ``k=v``
parser, ``load`` above ``config/``; and graph facts for validation without a drawing."""

from __future__ import annotations

from pathlib import Path

import pytest

import agents_magic
from agents_magic.config._graph import split_edges
from agents_magic.config._schema import END, LOOP_PREFIX, START, Edge


def chain(size: int) -> str:
    nodes = "".join(f"  - {{id: n{i}, prompt: 'step {{state.x}}', outputs: [x]}}\n" for i in range(size))
    edges = "".join(f"  - {{from: n{i}, to: n{i + 1}}}\n" for i in range(size - 1))
    return (f"flow: {{name: chain}}\nstate: {{fields: {{x: {{type: str, default: ''}}}}}}\n"
            f"nodes:\n{nodes}edges:\n  - {{from: START, to: n0}}\n{edges}"
            f"  - {{from: n{size - 1}, to: END}}\nconfig: {{llm: {{provider: mock}}}}\n")


def edge(**fields) -> Edge:
    return Edge.model_validate(fields)


def test_split_edges_separates_plain_targets_from_routed_edges():
    plain = [edge(**{"from": "a", "to": ["b", "c"]}), edge(**{"from": "a", "to": "d"})]
    routed = [edge(**{"from": "a", "to": "e", "condition": "x > 1"}),
              edge(**{"from": "a", "routes": [{"condition": "default", "to": "f"}]}),
              edge(**{"from": "a", "loop": {"condition_field": "done", "max_iterations": 2,
                                            "exit_to": "g"}})]
    assert split_edges(plain + routed) == (["b", "c", "d"], routed)
    assert all(e.routed for e in routed) and not any(e.routed for e in plain)


def test_start_end_and_loop_prefix_have_one_definition():
    from agents_magic.config import _conditions, _template, _validate
    from agents_magic.display import _graph

    assert (_graph.START, _graph.END) == (START, END)
    assert _validate.LOOP_PREFIX is _conditions.LOOP_PREFIX is _template.LOOP_PREFIX is LOOP_PREFIX
    for module in (_graph, _validate, _conditions, _template):
        text = Path(module.__file__).read_text()
        assert '"_loop_iteration_"' not in text and 'START, END = ' not in text


def test_cli_and_magics_share_one_key_value_parser():
    from agents_magic import _inputs, cli
    from agents_magic.notebook import _namespace

    words = ["n=3", "xs=[1, 2]", "t=a: b", "e=", "zip=007", "m={a: 1}"]
    values, raw = cli.parse_inputs(words)
    assert _namespace.parse_inputs(words, {}) == (values, raw)
    assert values == {"n": 3, "xs": [1, 2], "t": "a: b", "e": "", "zip": 7, "m": {"a": 1}}
    fields = {"zip": type("Field", (), {"type": "str"})()}
    assert _inputs.coerce(values, raw, fields)["zip"] == "007"
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _inputs.split("no-equals")


def test_load_lives_above_config():
    import agents_magic._workflow as workflow_module
    from agents_magic.config import _loader

    assert agents_magic.load is workflow_module.load
    assert not hasattr(_loader, "load")
    for path in Path(_loader.__file__).parent.glob("*.py"):
        assert "_workflow" not in path.read_text(), path
    assert workflow_module.load.__annotations__["return"] == "Workflow"


def test_graph_counts_need_no_layout_and_big_graphs_have_no_recursion_limit():
    from agents_magic.display._graph import WorkflowGraph

    graph = WorkflowGraph(agents_magic.load(chain(3000)))
    assert graph.counts == {"conditional": 0, "parallel": 0, "loops": 0}
    assert not graph._laid_out
    assert graph.layout()._laid_out


def test_graph_counts_loops():
    from agents_magic.display._graph import WorkflowGraph

    looped = agents_magic.load(Path(agents_magic.__file__).parent / "examples" / "loop.yaml")
    counts = WorkflowGraph(looped).counts
    assert counts["loops"] >= 1
