"""The graph drawing: well-formed local SVG showing conditions, parallel branches and loops."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from am_nb_helpers import LOOP, PARALLEL, SUMMARIZE

import agents_magic
from agents_magic.display._graph import WorkflowGraph, short_condition

SVG = "{http://www.w3.org/2000/svg}"


def graph(text: str) -> WorkflowGraph:
    return WorkflowGraph(agents_magic.load(text))


def parsed(g: WorkflowGraph) -> ET.Element:
    return ET.fromstring(g.svg)


@pytest.mark.parametrize("text", [SUMMARIZE, PARALLEL, LOOP])
def test_svg_is_well_formed_and_self_contained(text):
    g = graph(text)
    root = parsed(g)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    # No network: the only URL is the SVG namespace; markers are local references.
    assert re.findall(r"https?://[^\"']+", g.svg) == ["http://www.w3.org/2000/svg"]
    assert "<script" not in g.svg
    nodes = {el.get("data-node") for el in root.iter(f"{SVG}g") if el.get("data-node")}
    assert nodes == {n.id for n in agents_magic.load(text).spec.nodes}


def test_nodes_do_not_overlap():
    for text in (SUMMARIZE, PARALLEL, LOOP):
        g = graph(text)
        g.layout()
        boxes = [n for n in g.nodes.values() if n.kind != "dummy"]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart_x = abs(a.x - b.x) >= (a.w + b.w) / 2
                apart_y = a.y + a.h <= b.y or b.y + b.h <= a.y
                assert apart_x or apart_y, (a.id, b.id)


def test_flow_goes_down_from_start_to_end():
    g = graph(SUMMARIZE)
    g.layout()
    y = {n: g.nodes[n].y for n in ("START", "summarize", "rate", "polish", "END")}
    assert y["START"] < y["summarize"] < y["rate"] < y["polish"] < y["END"]


def test_conditions_are_labelled():
    g = graph(SUMMARIZE)
    labels = {(e.src, e.dst): (e.kind, e.label) for e in g.edges}
    assert labels[("rate", "polish")] == ("cond", "score < 7")
    assert labels[("rate", "END")] == ("else", "otherwise")
    assert ">score &lt; 7<" in g.svg and ">otherwise<" in g.svg
    assert g.counts == {"conditional": 2, "parallel": 0, "loops": 0}
    assert short_condition("{state.score} >= 7 and {state.kind} in ['a','b']") == \
        "score >= 7 and kind in ['a','b']"


def test_parallel_branches_go_through_fork_and_join_bars():
    g = graph(PARALLEL)
    kinds = {n.kind for n in g.nodes.values()}
    assert {"fork", "join"} <= kinds
    parallel = sorted(e.dst for e in g.edges if e.kind == "parallel")
    assert parallel == ["fact_check", "style_check"]
    join = next(n for n in g.nodes.values() if n.kind == "join")
    assert sorted(e.src for e in g.edges if e.dst == join.id) == ["fact_check", "style_check"]
    g.layout()
    assert g.nodes["style_check"].y == g.nodes["fact_check"].y  # side by side
    assert g.counts["parallel"] == 1
    assert "==>" in g.mermaid and "am-edge-parallel" in g.svg


def test_loops_and_routes():
    g = graph(LOOP)
    edges = {(e.src, e.dst, e.kind): e for e in g.edges}
    loop = edges[("improve", "improve", "loop")]
    assert loop.label == "until good · max 3"
    assert edges[("improve", "finish", "exit")].label == "when good"
    assert edges[("classify", "reject", "cond")].label == "kind == 'spam'"
    assert edges[("classify", "improve", "else")].label == "default"
    g.layout()
    assert loop.back  # drawn as a loop beside the node, not as a forward edge
    assert g.counts["loops"] == 1
    assert "am-edge-loop" in g.svg and "until good · max 3" in g.svg


def test_a_back_edge_with_a_condition_is_drawn_as_a_loop():
    text = SUMMARIZE.replace("  - {from: polish, to: END}",
                             "  - {from: polish, to: rate}").replace(
        "  - {from: rate, to: END}", "  - {from: rate, to: END}\n")
    g = graph(text)
    g.layout()
    back = [e for e in g.edges if e.back]
    assert [(e.src, e.dst) for e in back] == [("polish", "rate")]
    assert g.counts["loops"] == 1


def test_mermaid_text():
    text = graph(SUMMARIZE).mermaid
    assert text.splitlines()[0] == "flowchart TD"
    assert 'rate -->|"score < 7"| polish' in text
    assert "START([START])" in text and "END([END])" in text


def test_user_text_is_escaped():
    text = SUMMARIZE.replace("{state.score} < 7", "{state.score} < 7 and '<b>' != {state.summary}")
    g = graph(text)
    assert "<b>" not in g.svg
    parsed(g)
