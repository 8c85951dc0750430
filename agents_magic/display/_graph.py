"""Draw a workflow's graph locally, as inline SVG (and mermaid text): no network, no JavaScript.

The drawing is a layered ("Sugiyama") layout computed by grandalf: back edges found by a
depth-first search from START become loops drawn on the right; grandalf layers the remaining DAG,
orders each layer to keep crossings down, places nodes (Brandes–Köpf) and gives long edges
waypoints. Fan-outs
(``to: [a, b]``) go through a fork bar and the branches they wait for meet at a join bar, as in
an activity diagram, so parallel branches are visible at a glance.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from ..config._schema import END, START
from ._html import NO_MATH

# kind -> (stroke colour, dash pattern, legend text)
EDGE_STYLE = {
    "plain": ("#6e7781", "", ""),
    "cond": ("#9a6700", "", "condition"),
    "else": ("#9a6700", "5 4", "otherwise"),
    "parallel": ("#0969da", "", "parallel"),
    "loop": ("#8250df", "", "loop"),
    "exit": ("#8250df", "5 4", "loop exit"),
}
FONT = "ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
LABEL_CHARS = 34
LAYER_GAP = 54
NODE_GAP = 30
MARGIN = 16
DUMMY_WIDTH = 14.0
_PLACEHOLDER = re.compile(r"\{\s*(?:state\.)?([\w.\[\]'\"]+)\s*\}")


@dataclass
class GNode:
    id: str
    kind: str  # start | end | llm | code | fork | join | dummy
    title: str = ""
    subtitle: str = ""
    tooltip: str = ""
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w / 2


@dataclass
class GEdge:
    src: str
    dst: str
    kind: str
    label: str = ""
    tooltip: str = ""
    back: bool = False
    path: list[str] = field(default_factory=list)  # src, waypoints..., dst


def short_condition(text: str) -> str:
    """``{state.score} < 7`` → ``score < 7`` (what a reader needs on an edge)."""
    return " ".join(_PLACEHOLDER.sub(r"\1", text).split())


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_width(text: str, size: float) -> float:
    # Average glyph width of a sans-serif face is ~0.58 em; wide enough for bold ids too.
    return len(text) * size * 0.6


class WorkflowGraph:
    """A workflow's graph: ``_repr_html_`` / SVG in notebooks, mermaid text elsewhere.

    Attributes
    ----------
    nodes, edges
        The drawn graph, including fork/join bars (``kind`` ``fork``/``join``).
    svg
        The drawing as a standalone SVG string.
    mermaid
        The same graph as mermaid ``flowchart`` text.
    """

    def __init__(self, workflow: Any) -> None:
        self.name = str(getattr(workflow, "name", "workflow"))
        self.nodes: dict[str, GNode] = {}
        self.edges: list[GEdge] = []
        self._build(workflow.spec)
        self._svg: str | None = None
        self._laid_out = False

    # -- the model -------------------------------------------------------------------------
    def _add_node(self, node: GNode) -> None:
        self.nodes.setdefault(node.id, node)

    def _build(self, spec: Any) -> None:
        from ..engine._compile import joins

        self._add_node(GNode(START, "start", START))
        default_llm = _llm_label(getattr(spec.config, "llm", None))
        for node in spec.nodes:
            prompt = getattr(node, "prompt", None)
            kind = "code" if getattr(node, "kind", None) == "code" or prompt is None else "llm"
            outputs = ", ".join(node.outputs)
            llm = _llm_label(getattr(node, "llm", None)) or default_llm
            parts = [f"→ {outputs}" if outputs else "", "code" if kind == "code" else llm]
            tip = (node.description or "") + ("\n" if node.description else "")
            tip += (prompt or getattr(node, "code", None) or "").strip()
            self._add_node(GNode(node.id, kind, node.id, " · ".join(p for p in parts if p),
                                 _clip(tip, 400)))
        self._add_node(GNode(END, "end", END))

        waiting = joins(spec)
        consumed = set()
        for join, sources in waiting.items():
            bar = f"__join_{join}"
            self._add_node(GNode(bar, "join", tooltip=f"`{join}` waits for {', '.join(sources)}"))
            for src in sources:
                consumed.add((src, join))
                self.edges.append(GEdge(src, bar, "plain"))
            self.edges.append(GEdge(bar, join, "plain"))

        routed = {e.from_ for e in spec.edges if e.routed}
        for index, edge in enumerate(spec.edges):
            src = edge.from_
            mapped = getattr(edge, "parallel", None)
            if mapped is not None:
                self.edges.append(GEdge(src, mapped.target_node, "parallel",
                                        _clip(f"map over {mapped.items_field}")))
                if getattr(edge, "to", None) is None:
                    continue
            if edge.loop is not None:
                loop = edge.loop
                again = edge.to if isinstance(edge.to, str) else src
                self.edges.append(GEdge(src, again, "loop",
                                        f"until {loop.condition_field} · max {loop.max_iterations}"))
                self.edges.append(GEdge(src, loop.exit_to, "exit", f"when {loop.condition_field}"))
                continue
            if edge.routes:
                for route in edge.routes:
                    logic = route.logic.strip()
                    if logic == "default":
                        self.edges.append(GEdge(src, route.to, "else", "default"))
                    else:
                        text = short_condition(logic)
                        self.edges.append(GEdge(src, route.to, "cond", _clip(text), text))
                continue
            if isinstance(edge.to, list) and len(edge.to) > 1:
                bar = f"__fork_{index}"
                self._add_node(GNode(bar, "fork", tooltip=f"runs {', '.join(edge.to)} in parallel"))
                self.edges.append(GEdge(src, bar, "plain"))
                self.edges.extend(GEdge(bar, target, "parallel") for target in edge.to)
                continue
            targets = edge.to if isinstance(edge.to, list) else [edge.to]
            for target in targets:
                if target is None or (src, target) in consumed:
                    continue
                if edge.condition is not None:
                    text = short_condition(edge.condition)
                    self.edges.append(GEdge(src, target, "cond", _clip(text), text))
                elif src in routed:
                    self.edges.append(GEdge(src, target, "else", "otherwise"))
                else:
                    self.edges.append(GEdge(src, target, "plain"))
        seen = set()
        unique = []
        for e in self.edges:
            key = (e.src, e.dst, e.kind, e.label)
            if key not in seen and e.src in self.nodes and e.dst in self.nodes:
                seen.add(key)
                unique.append(e)
        self.edges = unique

    # -- facts a caller may want -----------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """How many conditional edges, parallel fan-outs and loops the graph has (no layout)."""
        self._mark_back_edges()
        return {
            "conditional": sum(e.kind in ("cond", "else") for e in self.edges),
            "parallel": sum(n.kind == "fork" for n in self.nodes.values()),
            "loops": sum(e.kind == "loop" or e.back for e in self.edges),
        }

    def _mark_back_edges(self) -> None:
        """Set ``back`` on edges that close a cycle (depth-first from START, without recursion)."""
        out: dict[str, list[GEdge]] = {n: [] for n in self.nodes}
        for e in self.edges:
            out[e.src].append(e)
        on_path: set[str] = set()
        seen: set[str] = set()
        for root in [START, *self.nodes]:
            if root in seen:
                continue
            seen.add(root)
            on_path.add(root)
            stack = [(root, iter(out[root]))]
            while stack:
                node, pending = stack[-1]
                e = next(pending, None)
                if e is None:
                    on_path.discard(node)
                    stack.pop()
                elif e.dst in on_path or e.src == e.dst:
                    e.back = True
                elif e.dst not in seen:
                    seen.add(e.dst)
                    on_path.add(e.dst)
                    stack.append((e.dst, iter(out[e.dst])))

    # -- layout ----------------------------------------------------------------------------
    def layout(self) -> WorkflowGraph:
        """Place nodes and route edges (once); sets ``x``/``y`` of nodes and ``back`` of edges."""
        if not self._laid_out:
            self._layout()
            self._laid_out = True
        return self

    def _layout(self) -> None:
        """Sugiyama layout by grandalf: layers, crossing reduction, Brandes–Köpf x positions and
        waypoints for edges spanning layers. Back edges stay out of it: they are drawn as loops."""
        from grandalf.graphs import Edge, Graph, Vertex
        from grandalf.layouts import SugiyamaLayout

        nodes = self.nodes
        self._mark_back_edges()
        for n in nodes.values():
            _size(n)
        vertex = {n: Vertex(n) for n in nodes}
        for n, v in vertex.items():
            v.view = _Box(nodes[n].w, nodes[n].h)
        forward = [e for e in self.edges if not e.back]
        links = {id(e): Edge(vertex[e.src], vertex[e.dst]) for e in forward}
        left = float(MARGIN)
        for part in Graph(list(vertex.values()), list(links.values())).C:  # side by side
            sugiyama = SugiyamaLayout(part)
            sugiyama.xspace, sugiyama.yspace = NODE_GAP, LAYER_GAP
            # Back edges are already left out, so the graph is acyclic: no feedback search
            # (grandalf's is recursive and would overflow on a chain of thousands of nodes).
            sugiyama.init_all(roots=[v for v in part.sV if v.data == START or not v.e_in()],
                              inverted_edges=[])
            for ctrl in sugiyama.ctrls.values():  # a long edge's waypoints need little room
                for r, dummy in ctrl.items():
                    if r not in (min(ctrl), max(ctrl)):
                        dummy.view.w = DUMMY_WIDTH
            sugiyama.draw()
            boxes = [v.view for v in part.sV]
            shift = left - min(b.xy[0] - b.w / 2 for b in boxes)
            for v in part.sV:
                nodes[v.data].x = v.view.xy[0] + shift
                nodes[v.data].y = v.view.xy[1] - v.view.h / 2 + MARGIN
                nodes[v.data].layer = sugiyama.grx[v].rank
            for e in forward:
                waypoints = sugiyama.ctrls.get(links[id(e)], {})
                e.path = [e.src]
                for r in sorted(waypoints)[1:-1]:
                    dummy = GNode(f"__via_{len(nodes)}", "dummy", layer=r, w=DUMMY_WIDTH)
                    dummy.x, dummy.y = waypoints[r].view.xy[0] + shift, waypoints[r].view.xy[1] + MARGIN
                    nodes[dummy.id] = dummy
                    e.path.append(dummy.id)
                e.path.append(e.dst)
            left = max(b.xy[0] + b.w / 2 for b in boxes) + shift + NODE_GAP
        for e in self.edges:
            if e.back:
                e.path = [e.src, e.dst]
        # A waypoint spans its layer's height, so an edge passes straight through it.
        top: dict[int, float] = {}
        bottom: dict[int, float] = {}
        for n in nodes.values():
            if n.kind != "dummy":
                top[n.layer] = min(top.get(n.layer, n.y), n.y)
                bottom[n.layer] = max(bottom.get(n.layer, n.bottom), n.bottom)
        for n in nodes.values():
            if n.kind == "dummy":
                n.y, n.h = top.get(n.layer, n.y), bottom.get(n.layer, n.y) - top.get(n.layer, n.y)
        self._height = max(bottom.values()) + MARGIN

    # -- drawing ---------------------------------------------------------------------------
    @property
    def svg(self) -> str:
        if self._svg is None:
            self._svg = self._draw()
        return self._svg

    def painted(self, paint: dict[str, tuple[str, str, str]]) -> str:
        """The SVG with some nodes recoloured: ``{node: (fill, stroke, tooltip)}``."""
        return self._draw(paint)

    def _draw(self, paint: dict[str, tuple[str, str, str]] | None = None) -> str:
        edges = self.layout().edges
        nodes = self.nodes
        paths: list[str] = []
        labels: list[str] = []
        right = max(n.right for n in nodes.values())
        lanes = 0
        ports = self._ports()
        placed: list[tuple[float, float, float, float]] = []
        for e in edges:
            colour, dash, _ = EDGE_STYLE[e.kind]
            attrs = (f'fill="none" stroke="{colour}" stroke-width="1.4" '
                     f'marker-end="url(#am-arrow-{e.kind})"' + (f' stroke-dasharray="{dash}"' if dash else ""))
            tip = f"<title>{html.escape(e.tooltip or e.label or f'{e.src} → {e.dst}')}</title>"
            a, b = nodes[e.src], nodes[e.dst]
            if e.src == e.dst:
                x, cy = a.right, a.y + a.h / 2
                d = (f"M{x:.1f},{cy + 7:.1f} C{x + 38:.1f},{cy + 26:.1f} "
                     f"{x + 38:.1f},{cy - 26:.1f} {x + 2:.1f},{cy - 7:.1f}")
                lx, ly, anchor = x + 42, cy + 4, "start"
            elif e.back:
                lo, hi = sorted((a.layer, b.layer))
                span = [n.right for n in nodes.values() if lo <= n.layer <= hi]
                lane = max(span) + 22 + 16 * lanes
                lanes += 1
                sy, ty = a.y + a.h / 2, b.y + b.h / 2
                r = min(10.0, abs(sy - ty) / 2)
                step = r if ty > sy else -r
                d = (f"M{a.right:.1f},{sy:.1f} H{lane - r:.1f} Q{lane:.1f},{sy:.1f} {lane:.1f},{sy + step:.1f} "
                     f"V{ty - step:.1f} Q{lane:.1f},{ty:.1f} {lane - r:.1f},{ty:.1f} H{b.right + 2:.1f}")
                lx, ly, anchor = lane + 5, (sy + ty) / 2 + 4, "start"
            else:
                points = []
                for k, n in enumerate(nodes[p] for p in e.path):
                    if n.kind == "dummy":
                        points += [(n.x, n.y), (n.x, n.y + n.h)]
                    elif k == 0:
                        points.append((n.x + ports[(id(e), "out")], n.bottom))
                    else:
                        points.append((n.x + ports[(id(e), "in")], n.y - 2))
                d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
                for (x0, y0), (x1, y1) in zip(points, points[1:]):
                    if abs(x1 - x0) < 0.5:
                        d += f" L{x1:.1f},{y1:.1f}"
                    else:
                        mid = (y1 - y0) / 2
                        d += f" C{x0:.1f},{y0 + mid:.1f} {x1:.1f},{y1 - mid:.1f} {x1:.1f},{y1:.1f}"
                (x0, y0), (x1, y1) = points[0], points[1]
                lx, ly, anchor = (x0 + x1) / 2, (y0 + y1) / 2 + 4, "middle"
            paths.append(f'<path class="am-edge am-edge-{e.kind}" d="{d}" {attrs}>{tip}</path>')
            if e.label:
                width = _text_width(e.label, 10.5) + 8
                bx = lx - width / 2 if anchor == "middle" else lx - 3
                bx = _free_spot(placed, bx, ly - 11, width, 15)
                placed.append((bx, ly - 11, width, 15))
                labels.append(
                    f'<g class="am-edge-label">{tip}<rect x="{bx:.1f}" y="{ly - 11:.1f}" width="{width:.1f}" '
                    f'height="15" rx="3" fill="#ffffff" fill-opacity="0.92"/>'
                    f'<text x="{bx + 4:.1f}" y="{ly:.1f}" font-size="10.5" '
                    f'fill="{colour}">{html.escape(e.label)}</text></g>')
                right = max(right, bx + width)
            right = max(right, lx + 8)
        boxes = [_draw_node(n, (paint or {}).get(n.id)) for n in nodes.values() if n.kind != "dummy"]
        legend, height = self._legend(self._height)
        width = right + MARGIN
        markers = "".join(
            f'<marker id="am-arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for kind, (colour, _, _) in EDGE_STYLE.items())
        title = html.escape(f"workflow {self.name}")
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="am-graph" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" '
            f'role="img" aria-label="{title}"><title>{title}</title><defs>{markers}</defs>'
            f'<rect width="100%" height="100%" rx="6" fill="#ffffff"/>'
            + "".join(paths) + "".join(labels) + "".join(boxes) + legend + "</svg>")

    def _ports(self) -> dict[tuple[int, str], float]:
        """Horizontal offsets so that several edges leaving (entering) a box do not overlap."""
        nodes, ports = self.nodes, {}
        for end, first, near in (("out", 0, 1), ("in", -1, -2)):
            groups: dict[str, list[GEdge]] = {}
            for e in self.edges:
                if not e.back:
                    groups.setdefault(e.path[first], []).append(e)
            for node_id, group in groups.items():
                node = nodes[node_id]
                group.sort(key=lambda e: nodes[e.path[near]].x)
                spread = 0.0
                if len(group) > 1 and node.kind in ("llm", "code", "start", "end"):
                    spread = min(18.0, node.w * 0.5 / (len(group) - 1))
                for k, e in enumerate(group):
                    ports[(id(e), end)] = (k - (len(group) - 1) / 2) * spread
        return ports

    def _legend(self, top: float) -> tuple[str, float]:
        kinds = [k for k in ("cond", "parallel", "loop") if any(e.kind == k for e in self.edges)]
        if not kinds:
            return "", top
        x, items = float(MARGIN), []
        for kind in kinds:
            colour, _, text = EDGE_STYLE[kind]
            items.append(f'<line x1="{x:.0f}" y1="{top + 6:.0f}" x2="{x + 18:.0f}" y2="{top + 6:.0f}" '
                         f'stroke="{colour}" stroke-width="2"/><text x="{x + 23:.0f}" y="{top + 10:.0f}" '
                         f'font-size="10.5" fill="#57606a">{text}</text>')
            x += 40 + _text_width(text, 10.5)
        return f'<g class="am-legend">{"".join(items)}</g>', top + 20

    # -- reprs -----------------------------------------------------------------------------
    @property
    def mermaid(self) -> str:
        """The graph as mermaid ``flowchart TD`` text (fork/join bars folded into edges)."""
        lines = ["flowchart TD"]
        for n in self.nodes.values():
            if n.kind in ("start", "end"):
                lines.append(f"    {n.id}([{n.id}])")
            elif n.kind in ("llm", "code"):
                text = n.title + (f"<br/>{n.subtitle}" if n.subtitle else "")
                lines.append(f'    {n.id}["{_mermaid_text(text)}"]')
        arrows = {"plain": "-->", "cond": "-->", "else": "-.->", "parallel": "==>", "loop": "-->",
                  "exit": "-.->"}
        for e in self.edges:
            src, dst = e.src, e.dst
            if self.nodes[dst].kind in ("fork", "join"):
                continue
            sources = [src]
            if self.nodes[src].kind in ("fork", "join"):
                sources = [x.src for x in self.edges if x.dst == src]
            label = e.label or ("parallel" if e.kind == "parallel" else "")
            for s in sources:
                arrow = arrows[e.kind] + (f'|"{_mermaid_text(label)}"|' if label else "")
                lines.append(f"    {s} {arrow} {dst}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.mermaid

    def _repr_html_(self) -> str:
        return f'<div class="am-graph-view {NO_MATH}" style="overflow-x:auto">{self.svg}</div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.mermaid, "text/html": self._repr_html_(), "image/svg+xml": self.svg}


class _Box:
    """What grandalf places: a vertex's size in, its centre ``xy`` out."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _llm_label(llm: Any) -> str:
    if llm is None:
        return ""
    provider, model = getattr(llm, "provider", None), getattr(llm, "model", None)
    if provider and model:
        return model if model.startswith(f"{provider}/") else f"{provider}/{model}"
    return str(provider or model or "")


def _size(n: GNode) -> None:
    if n.kind in ("start", "end"):
        n.w, n.h = 66.0, 26.0
    elif n.kind in ("fork", "join"):
        n.w, n.h = 90.0, 6.0
    elif n.kind == "dummy":
        n.w, n.h = DUMMY_WIDTH, 0.0
    else:
        n.w = max(90.0, _text_width(n.title, 13) + 28, _text_width(n.subtitle, 11) + 24)
        n.h = 46.0 if n.subtitle else 32.0


def _free_spot(placed: list[tuple[float, float, float, float]], x: float, y: float, w: float,
               h: float) -> float:
    """An x near ``x`` where a label box does not cover one already placed (slides sideways)."""
    for _ in range(len(placed) + 1):
        hit = next((p for p in placed if x < p[0] + p[2] and p[0] < x + w
                    and y < p[1] + p[3] and p[1] < y + h), None)
        if hit is None:
            return x
        x = hit[0] + hit[2] + 2 if x + w / 2 >= hit[0] + hit[2] / 2 else hit[0] - w - 2
    return x


def _draw_node(n: GNode, paint: tuple[str, str, str] | None = None) -> str:
    left, top = n.x - n.w / 2, n.y
    text = paint[2] if paint else n.tooltip or n.title
    tip = f"<title>{html.escape(text)}</title>" if text else ""
    if n.kind in ("fork", "join"):
        return (f'<g class="am-node am-{n.kind}">{tip}<rect x="{left:.1f}" y="{top:.1f}" '
                f'width="{n.w:.1f}" height="{n.h:.1f}" rx="2" fill="#24292f"/></g>')
    if n.kind in ("start", "end"):
        return (f'<g class="am-node am-{n.kind}">{tip}<rect x="{left:.1f}" y="{top:.1f}" '
                f'width="{n.w:.1f}" height="{n.h:.1f}" rx="{n.h / 2:.1f}" fill="#24292f"/>'
                f'<text x="{n.x:.1f}" y="{top + n.h / 2 + 4:.1f}" text-anchor="middle" font-size="11" '
                f'font-weight="600" fill="#ffffff">{n.id}</text></g>')
    fill = "#ffffff" if n.kind == "llm" else "#f6f8fa"
    fill, stroke = paint[:2] if paint else (fill, "#8c959f")
    title_y = top + (19 if n.subtitle else n.h / 2 + 5)
    sub = (f'<text x="{n.x:.1f}" y="{top + 36:.1f}" text-anchor="middle" font-size="11" '
           f'fill="#57606a">{html.escape(n.subtitle)}</text>') if n.subtitle else ""
    return (f'<g class="am-node am-{n.kind}" data-node="{html.escape(n.id)}">{tip}'
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{n.w:.1f}" height="{n.h:.1f}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
            f'<text x="{n.x:.1f}" y="{title_y:.1f}" text-anchor="middle" font-size="13" '
            f'font-weight="600" fill="#24292f">{html.escape(n.title)}</text>{sub}</g>')
