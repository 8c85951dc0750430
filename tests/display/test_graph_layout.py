"""The Sugiyama layout (grandalf) behind `%workflow graph`, the static picture and the live view."""

from __future__ import annotations

import agents_magic
from agents_magic.display._graph import WorkflowGraph

WIDE = """\
schema_version: "1.0"
flow: {name: wide}
state:
  fields:
    text: {type: str, required: true}
    a: {type: str, default: ""}
    b: {type: str, default: ""}
    c: {type: str, default: ""}
    d: {type: str, default: ""}
    long: {type: str, default: ""}
    out: {type: str, default: ""}
nodes:
  - {id: a, prompt: "A {state.text}", outputs: [a]}
  - {id: b, prompt: "B {state.text}", outputs: [b]}
  - {id: c, prompt: "C {state.text}", outputs: [c]}
  - {id: d, prompt: "D {state.text}", outputs: [d]}
  - {id: first, prompt: "1 {state.a}", outputs: [long]}
  - {id: second, prompt: "2 {state.long}", outputs: [long]}
  - {id: third, prompt: "3 {state.long} {state.b} {state.c} {state.d}", outputs: [out]}
edges:
  - {from: START, to: [a, b, c, d]}
  - {from: a, to: first}
  - {from: first, to: second}
  - {from: second, to: third}
  - {from: b, to: third}
  - {from: c, to: third}
  - {from: d, to: third}
  - {from: third, to: END}
config:
  llm: {provider: mock}
"""


def laid_out(text: str) -> WorkflowGraph:
    return WorkflowGraph(agents_magic.load(text)).layout()


def boxes(g: WorkflowGraph) -> list:
    return [n for n in g.nodes.values() if n.kind != "dummy"]


def test_fan_out_branches_sit_side_by_side_without_overlap() -> None:
    g = laid_out(WIDE)
    branches = sorted((g.nodes[n] for n in "abcd"), key=lambda n: n.x)
    assert len({n.layer for n in branches}) == 1 and len({n.y for n in branches}) == 1
    for left, right in zip(branches, branches[1:]):
        assert right.x - left.x >= (left.w + right.w) / 2, (left.id, right.id)
    fork = next(n for n in g.nodes.values() if n.kind == "fork")
    assert branches[0].x < fork.x < branches[-1].x  # the fork bar is above its branches


def test_layers_go_down_and_long_edges_pass_beside_the_nodes_they_skip() -> None:
    g = laid_out(WIDE)
    for e in g.edges:
        if not e.back:
            assert g.nodes[e.src].y < g.nodes[e.dst].y, (e.src, e.dst)
    long = [e for e in g.edges if len(e.path) > 2]
    assert long, "edges from b, c and d to the join skip the layers of first and second"
    for e in long:
        for via in (g.nodes[p] for p in e.path[1:-1]):
            assert via.kind == "dummy"
            for box in boxes(g):
                beside = abs(via.x - box.x) >= box.w / 2
                assert beside or not (box.y <= via.y + via.h / 2 <= box.bottom), (e.src, e.dst, box.id)


def test_every_drawn_node_appears_once_in_the_svg_with_its_layout_position() -> None:
    g = laid_out(WIDE)
    for n in boxes(g):
        if n.kind in ("llm", "code"):
            assert g.svg.count(f'data-node="{n.id}"') == 1
            assert f'x="{n.x - n.w / 2:.1f}" y="{n.y:.1f}"' in g.svg
