"""Predict what a run will cost before any call is made: a minimum and a maximum in USD.

Per node, the prompt (with the system message that asks for structured output) is counted
with tiktoken when it is installed, else at :data:`CHARS_PER_TOKEN` characters a token
(LiteLLM is never imported for it; the mock provider counts words, exactly as it does when it
runs). State fields that an earlier node writes are not
known yet: the minimum counts them as empty, the maximum as long as that node's longest reply.

- **minimum**: the cheapest way through the graph: each router takes its cheapest branch,
  loops exit at once, every node on the way runs once and replies with one token;
- **maximum**: every reachable node runs, nodes in a loop run ``loop.max_iterations`` times
  (nested loops multiply; ``config.execution.max_iterations`` caps any node, and is the bound
  of a cycle built from plain conditions), and every reply is ``max_tokens`` long — the node's
  or the workflow's ``llm.max_tokens``, else :data:`DEFAULT_MAX_TOKENS` (an assumption: the
  provider's own limit is usually far higher).

A map (``parallel:`` edge) multiplies its target's calls by the number of items when the list
is known from the inputs or a default ("× n"); otherwise it counts one item and says so. A node
with ``tools`` makes one call when the model answers at once and up to ``max_tool_steps + 1``
when it keeps calling tools: the minimum counts one, the maximum all of them.

Not included: the one repair request a structured node makes when its reply does not fit the
schema, retries after errors (billed only when a provider charges failed calls), and the tool
results and calls that the later calls of a tool loop carry in their prompts.
Prices come from LiteLLM's local price table; local providers and the mock cost $0; a model
without a known price counts $0 and is listed under ``unpriced``.
"""

from __future__ import annotations

import itertools
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ._settings import Settings, resolve
from .config._schema import END, START
from .config._template import placeholders, reference, render

if TYPE_CHECKING:
    from ._workflow import Workflow

#: Characters per token when tiktoken is not installed (English prose averages about four).
CHARS_PER_TOKEN = 4
#: Model names tiktoken may not know yet that use the o200k encoding.
O200K = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")
#: Completion tokens assumed for a call whose ``max_tokens`` is not set.
DEFAULT_MAX_TOKENS = 1024
#: Router choices enumerated exactly for the minimum before falling back to a greedy choice.
MAX_COMBINATIONS = 4096
NODE_COLUMNS = ["node_id", "provider", "model", "prompt_tokens_min", "prompt_tokens_max",
                "completion_tokens_max", "calls_min", "calls_max", "input_usd_per_token",
                "output_usd_per_token", "min_usd", "max_usd", "priced"]


def _workflow(workflow: Any) -> Workflow:
    from ._workflow import Workflow

    if isinstance(workflow, Workflow):
        return workflow
    from ._workflow import load

    loaded: Workflow = load(workflow)
    return loaded


def _target(workflow: Workflow, node: Any, overrides: dict[str, Any],
            fallback: dict[str, str]) -> tuple[str, str, int | None]:
    """(provider, model, max_tokens) of a node, without insisting on an API key."""
    from .engine import _llm
    from .errors import ProviderError

    spec = workflow.spec
    try:
        target = _llm.resolve(node.llm, spec.config.llm, overrides,
                              timeout=spec.config.execution.timeout,
                              max_retries=spec.config.execution.max_retries, node_id=node.id,
                              fallback=fallback)
        return target.provider, target.model, target.max_tokens
    except ProviderError:
        merged = _llm.merge(fallback, spec.config.llm, node.llm, overrides)
        model = str(merged.get("model") or "")
        provider = merged.get("provider") or (model.split("/", 1)[0] if "/" in model else "")
        if provider and model.startswith(f"{provider}/"):
            model = model.split("/", 1)[1]
        return str(provider), model, merged.get("max_tokens")


class _Counter:
    """Token counts per (provider, model) without importing LiteLLM (seconds of import for a
    number): the mock counts words as it does when it runs; other models are counted with
    tiktoken (OpenAI's encodings; close for other providers) using the encoding files LiteLLM
    ships, so nothing is downloaded; without tiktoken, :data:`CHARS_PER_TOKEN` characters make
    a token."""

    def __init__(self) -> None:
        self.method = ""  # how the last non-mock count was made, for the assumptions

    def __call__(self, provider: str, model: str, messages: list[dict[str, str]]) -> int:
        if provider == "mock":
            from .engine.providers._mock import _words

            return sum(_words(str(m.get("content", ""))) for m in messages)
        encoding = _encoding(model)
        if encoding is None:
            self.method = f"about {CHARS_PER_TOKEN} characters a token (tiktoken is not installed)"
            text = sum(len(str(v)) for m in messages for v in m.values())
            return -(-text // CHARS_PER_TOKEN) + 3 * len(messages) + 3
        self.method = f"tiktoken's {encoding.name} encoding"
        # OpenAI's count for chat messages: 3 tokens of framing per message, 3 to prime the reply.
        return sum(3 + sum(len(encoding.encode(str(v))) for v in m.values()) for m in messages) + 3


@lru_cache(maxsize=32)
def _encoding(model: str) -> Any:
    """tiktoken's encoding for ``model`` (o200k for the GPT-4o family, else cl100k), or None."""
    import importlib.util
    import os

    if importlib.util.find_spec("tiktoken") is None:
        return None
    bundled = importlib.util.find_spec("litellm")
    if bundled is not None and bundled.submodule_search_locations and "TIKTOKEN_CACHE_DIR" not in os.environ:
        folder = Path(list(bundled.submodule_search_locations)[0]) / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():  # the encodings LiteLLM ships, so tiktoken needs no download
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    import tiktoken

    bare = model.rsplit("/", 1)[-1]
    try:
        try:
            return tiktoken.encoding_for_model(bare)
        except KeyError:
            return tiktoken.get_encoding("o200k_base" if bare.startswith(O200K) else "cl100k_base")
    except Exception:  # no encoding file and no network: count characters instead
        return None


def _edges_by_source(spec: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for edge in spec.edges:
        out.setdefault(edge.from_, []).append(edge)
    return out


def _choices(edges: list[Any]) -> list[list[str]]:
    """The alternative sets of successors a node can hand over to (all of a set run)."""
    from .config._graph import split_edges

    plain, routed = split_edges(edges)
    if not routed:
        return [plain]
    options: list[list[str]] = []
    for edge in routed:
        if edge.loop is not None:
            options.append([edge.loop.exit_to])
            options.append([edge.to if isinstance(edge.to, str) else edge.from_])
        elif edge.condition is not None:
            options.append(list(edge.to) if isinstance(edge.to, list) else [edge.to])
        for route in edge.routes or []:
            options.append([route.to])
    if plain:
        options.append(plain)
    unique: list[list[str]] = []
    for option in options:
        if option not in unique:
            unique.append(option)
    return unique


def _reached(start: list[str], pick: dict[str, list[str]], choices: dict[str, list[list[str]]]
             ) -> set[str]:
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        if node == END:
            continue
        queue.extend(pick.get(node) or (choices.get(node) or [[]])[0])
    return seen


def _cheapest_path(spec: Any, cost: dict[str, float]) -> list[str]:
    """The set of nodes of the cheapest run (each once), in graph order."""
    by_source = _edges_by_source(spec)
    choices = {source: _choices(edges) for source, edges in by_source.items()}
    routers = [s for s, c in choices.items() if len(c) > 1]
    best: tuple[float, int, set[str]] | None = None
    combos = 1
    for r in routers:
        combos *= len(choices[r])
    candidates: Iterable[tuple[list[str], ...]]
    if combos <= MAX_COMBINATIONS:
        candidates = itertools.product(*(choices[r] for r in routers))
    else:  # too many routers: take each router's first exit-like choice
        candidates = iter([tuple(choices[r][0] for r in routers)])
    for combo in candidates:
        pick = dict(zip(routers, combo))
        reached = _reached([START], pick, choices)
        if END not in reached:
            continue
        nodes = reached - {START, END}
        total = sum(cost.get(n, 0.0) for n in nodes)
        if best is None or (total, len(nodes)) < best[:2]:
            best = (total, len(nodes), nodes)
    chosen = best[2] if best else {n.id for n in spec.nodes}
    return [n.id for n in spec.nodes if n.id in chosen]


def _iteration_bounds(spec: Any) -> dict[str, int]:
    """How often each node can run at most."""
    from .config._graph import reachable, reverse
    from .engine._compile import cyclic_nodes, successors

    cap = spec.config.execution.max_iterations
    succ = successors(spec)
    pred = reverse(succ)

    cyclic = cyclic_nodes(spec)
    bounds = {n.id: 1 for n in spec.nodes}
    looped: dict[str, int] = {}
    for edge in spec.edges:
        if edge.loop is None:
            continue
        back = edge.to if isinstance(edge.to, str) else edge.from_
        members = (reachable(succ, [back]) & reachable(pred, [edge.from_])) | {edge.from_}
        for member in members - {START, END}:
            looped[member] = looped.get(member, 1) * edge.loop.max_iterations
    for node in cyclic:
        bounds[node] = min(cap, looped.get(node, cap))
    return bounds


def estimate(workflow: Any, inputs: dict[str, Any] | None = None, *,
             model: str | None = None, provider: str | None = None,
             default_max_tokens: int = DEFAULT_MAX_TOKENS,
             settings: Settings | None = None) -> dict[str, Any]:
    """Predict the cost range of running ``workflow`` with ``inputs``, without calling a model.

    Parameters
    ----------
    workflow
        A :class:`~agents_magic.Workflow`, YAML text or a path.
    inputs
        Known inputs; missing ones count as empty (and are listed under ``missing_inputs``).
    model, provider
        The same run-wide overrides :func:`agents_magic.run` takes.
    default_max_tokens
        Reply length assumed for calls without ``max_tokens``.
    settings
        Session settings supplying the default provider/model (default: the session's).

    Returns
    -------
    dict
        ``min_usd``, ``max_usd``, ``min_tokens``, ``max_tokens``, ``min_path`` (the nodes of the
        cheapest run), ``nodes`` (a DataFrame, one row per node), ``unpriced``,
        ``missing_inputs`` and ``assumptions`` (what the numbers rest on, in words).

    Examples
    --------
    ::

        %workflow estimate summarize --input text=@article
    """
    import pandas as pd

    from .engine import _cost
    from .engine._structured import OutputSpec

    wf = _workflow(workflow)
    spec = wf.spec
    overrides = {k: v for k, v in {"model": model, "provider": provider}.items() if v}
    inputs = dict(inputs or {})
    fields = spec.state.fields
    written: dict[str, list[str]] = {}
    for node in spec.nodes:
        for out in node.outputs:
            written.setdefault(out, []).append(node.id)
    known = {name: inputs.get(name, f.default) for name, f in fields.items()
             if name not in written}
    missing = [name for name, f in fields.items()
               if f.required and name not in inputs and name not in written]

    counter = _Counter()
    fallback = resolve(settings).llm_fallback
    targets = {n.id: _target(wf, n, overrides, fallback) for n in spec.nodes if n.prompt is not None}
    completion_max = {nid: int(t[2] or default_max_tokens) for nid, t in targets.items()}
    bounds = _iteration_bounds(spec)
    map_items = _map_items(spec, known)
    rows: dict[str, dict[str, Any]] = {}
    unpriced: list[str] = []
    for node in spec.nodes:
        if node.prompt is None:
            continue
        node_provider, node_model, _ = targets[node.id]
        renames = {local: reference(ref) for local, ref in (node.inputs or {}).items()}
        system = OutputSpec.of(node).instructions()
        items = map_items.get(node.id)
        base = 0
        for index, item in enumerate(items or [None]):  # a map's longest item prompt
            prompt = render(node.prompt, {**known, "item": item, "index": index}, renames)
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}]
            base = max(base, counter(node_provider, node_model, messages))
        per_run = len(items) if items is not None else 1
        extra = 0
        for holder in placeholders(node.prompt):
            ref = holder.path
            if ref and ref[0] in renames and not holder.text.strip("{} ").startswith("state."):
                ref = renames[ref[0]] + ref[1:]
            writers = written.get(ref[0]) if ref else None
            if writers:
                extra += max(completion_max.get(w, default_max_tokens) for w in writers)
        free = node_provider in _cost.FREE_PROVIDERS
        info = None if free else _cost.model_info(node_provider, node_model)
        if not free and info is None:
            unpriced.append(f"{node_provider}/{node_model}")
        price_in = float((info or {}).get("input_cost_per_token") or 0.0)
        price_out = float((info or {}).get("output_cost_per_token") or 0.0)
        # A tool loop: one call per round of tool calls, plus the one that answers.
        tool_calls = node.max_tool_steps + 1 if node.tools else 1
        calls = bounds.get(node.id, 1) * per_run * tool_calls
        rows[node.id] = {
            "node_id": node.id, "provider": node_provider, "model": node_model,
            "prompt_tokens_min": base, "prompt_tokens_max": base + extra,
            "completion_tokens_max": completion_max[node.id], "calls_min": 0,
            "calls_max": calls, "input_usd_per_token": price_in,
            "output_usd_per_token": price_out,
            "min_usd": 0.0,
            "max_usd": calls * ((base + extra) * price_in + completion_max[node.id] * price_out),
            "priced": free or info is not None}
    once = {nid: r["prompt_tokens_min"] * r["input_usd_per_token"] + r["output_usd_per_token"]
            for nid, r in rows.items()}
    path = _cheapest_path(spec, {nid: cost + 1e-12 for nid, cost in once.items()})
    for nid in path:
        if nid in rows:
            items = map_items.get(nid)
            count = len(items) if items is not None else 1
            rows[nid]["calls_min"] = count
            rows[nid]["min_usd"] = count * once[nid]
    frame = pd.DataFrame(list(rows.values()), columns=NODE_COLUMNS)
    min_tokens = sum(rows[n]["calls_min"] * (rows[n]["prompt_tokens_min"] + 1) for n in path if n in rows)
    max_tokens = sum(r["calls_max"] * (r["prompt_tokens_max"] + r["completion_tokens_max"])
                     for r in rows.values())
    assumptions = [
        "minimum: the cheapest route through the graph, each node once, replies of 1 token",
        "maximum: every node, loops at their max_iterations, replies of max_tokens",
        f"max_tokens not set → {default_max_tokens} completion tokens assumed per call",
        "state written by an earlier node: empty in the minimum, that node's longest reply "
        "in the maximum",
        "not included: the one repair request after an invalid structured reply, retries",
    ]
    for node in spec.nodes:
        if node.tools and node.id in rows:
            assumptions.append(
                f"tools: `{node.id}` makes 1 call if the model answers at once, up to "
                f"max_tool_steps + 1 = {node.max_tool_steps + 1} if it keeps calling tools; the "
                "tool results those later calls carry are not counted")
    if counter.method:
        assumptions.append(f"prompt tokens counted with {counter.method}")
    for edge in spec.edges:
        if edge.parallel is not None:
            m, items = edge.parallel, map_items.get(edge.parallel.target_node)
            assumptions.append(f"map: `{m.target_node}` runs once per item of `{m.items_field}`: "
                               + (f"× {len(items)}" if items is not None else
                                  "the list is not known before the run, counted as 1 item"))
    if missing:
        assumptions.append(f"inputs not given (counted as empty): {', '.join(missing)}")
    if unpriced:
        assumptions.append(f"no price known for {', '.join(sorted(set(unpriced)))}: counted as $0")
    return {"workflow": wf.name, "min_usd": float(frame["min_usd"].sum()),
            "max_usd": float(frame["max_usd"].sum()), "min_tokens": int(min_tokens),
            "max_tokens": int(max_tokens), "min_path": path, "nodes": frame,
            "unpriced": sorted(set(unpriced)), "missing_inputs": missing,
            "assumptions": assumptions, "default_max_tokens": default_max_tokens,
            "map_items": {t: (len(v) if v is not None else None) for t, v in map_items.items()}}


def _map_items(spec: Any, known: dict[str, Any]) -> dict[str, list[Any] | None]:
    """Each map target's items when the list is known before the run (inputs, defaults)."""
    out: dict[str, list[Any] | None] = {}
    for edge in spec.edges:
        if edge.parallel is not None:
            items = known.get(edge.parallel.items_field)
            out[edge.parallel.target_node] = list(items) if isinstance(items, (list, tuple)) else None
    return out
