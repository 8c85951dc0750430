"""What the magics do once their arguments are parsed: load, plan, run, validate, export, list.

Imported on first use of a magic, never at ``%load_ext``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from IPython.core.error import UsageError

from ..config._loader import load
from ..display._notes import Note, Plan
from ..errors import ProviderError
from . import _namespace

if TYPE_CHECKING:
    import pandas as pd

    from .._result import RunResult
    from .._workflow import Workflow

CELL_LINE_OFFSET = 1  # the %%workflow line sits above the YAML


def load_cell(text: str, name: str | None) -> Workflow:
    """The cell's workflow; ConfigError lines count the magic line, as the user sees them."""
    return load(text, line_offset=CELL_LINE_OFFSET, name=name)  # type: ignore[no-any-return]


def load_file(path: str) -> Workflow:
    if Path(path).expanduser().suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"`{path}` is not a .yaml/.yml file")
    return load(Path(path).expanduser())  # type: ignore[no-any-return]


def read_inputs(words: list[str], namespace: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return _namespace.parse_inputs(words, namespace)


def typed_inputs(workflow: Workflow, values: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    return _namespace.coerce(values, raw, workflow.spec.state.fields)


def llm_overrides(workflow: Workflow, model: str | None, provider: str | None) -> tuple[str | None, str | None]:
    """Cell flags win; else ``%config AgentsMagic.default_*`` for a workflow that names no LLM."""
    if model or provider:
        return model, provider
    spec = workflow.spec
    layers = [spec.config.llm, *(node.llm for node in spec.nodes)]
    if any(layer is not None and (layer.provider or layer.model) for layer in layers):
        return None, None
    from .. import _settings

    return _settings.settings.default_model, _settings.settings.default_provider


def resolve_targets(workflow: Workflow, model: str | None, provider: str | None) -> dict[str, Any]:
    """Every node's LLM, resolved as a run would, without calling any (nor importing LangGraph)."""
    from ..engine import _llm

    spec = workflow.spec
    execution = spec.config.execution
    overrides = {k: v for k, v in {"model": model, "provider": provider}.items() if v}
    targets: dict[str, Any] = {}
    # The same mistake (say, a missing API key) usually hits every node: report it once.
    problems: dict[tuple[str, str, str, str], list[str]] = {}
    for node in spec.nodes:
        if node.prompt is None:
            key = ("code nodes need the sandbox, which this version does not include", "config", "", "")
            problems.setdefault(key, []).append(node.id)
            continue
        try:
            targets[node.id] = _llm.resolve(node.llm, spec.config.llm, overrides,
                                            timeout=execution.timeout,
                                            max_retries=execution.max_retries, node_id=node.id)
        except ProviderError as exc:
            problems.setdefault((exc.cause, exc.kind, exc.provider, exc.model), []).append(node.id)
    if len(problems) == 1:
        (cause, kind, prov, mod), nodes = next(iter(problems.items()))
        raise ProviderError(cause, node="`, `".join(nodes), provider=prov, model=mod, kind=kind)
    if problems:
        raise ProviderError("; ".join(
            f"{', '.join(f'`{n}`' for n in nodes)} ({prov or '?'}/{mod or '?'}): {kind}: {cause}"
            for (cause, kind, prov, mod), nodes in problems.items()), kind="config")
    return targets


def _llm_summary(targets: dict[str, Any]) -> str:
    labels = {node: f"{t.provider}/{t.model}" for node, t in targets.items()}
    distinct = sorted(set(labels.values()))
    if len(distinct) == 1:
        return f"{distinct[0]} (all {len(labels)} node{'s' if len(labels) != 1 else ''})"
    return ", ".join(f"{node}: {label}" for node, label in labels.items())


def _input_summary(workflow: Workflow, inputs: dict[str, Any]) -> str:
    required = workflow.required_inputs
    missing = [n for n in required if n not in inputs]
    if missing:
        return f"inputs: needs {', '.join(f'`{n}`' for n in missing)} to run"
    if inputs:
        workflow.initial_state(inputs)  # InputError if a value has the wrong type
        return f"inputs: ok ({', '.join(f'`{n}`' for n in inputs)})"
    return "inputs: none required"


def _checked_lines(workflow: Workflow, inputs: dict[str, Any], model: str | None,
                   provider: str | None, counts: dict[str, int]) -> list[str]:
    model, provider = llm_overrides(workflow, model, provider)
    targets = resolve_targets(workflow, model, provider)
    spec = workflow.spec
    return [
        f"nodes: {len(spec.nodes)} · edges: {len(spec.edges)} · conditional edges: "
        f"{counts['conditional']} · parallel fan-outs: {counts['parallel']} · loops: {counts['loops']}",
        f"LLM: {_llm_summary(targets)}",
        _input_summary(workflow, inputs),
    ]


def plan(workflow: Workflow, inputs: dict[str, Any], *, model: str | None, provider: str | None) -> Plan:
    """``--dry-run``: every check a run makes before its first call, and the graph."""
    from ..display._graph import WorkflowGraph

    graph = WorkflowGraph(workflow)
    lines = _checked_lines(workflow, inputs, model, provider, graph.counts)
    return Plan("\n".join([f"`{workflow.name}` is valid · dry run, no LLM was called", *lines]), graph)


def validation(workflow: Workflow, *, model: str | None = None, provider: str | None = None) -> Note:
    from ..display._graph import WorkflowGraph

    lines = _checked_lines(workflow, {}, model, provider, WorkflowGraph(workflow).counts)
    source = "" if workflow.source == "<string>" else f" ({workflow.source})"
    return Note("\n".join([f"✓ `{workflow.name}`{source} is valid", *lines]), kind="ok")


def defined_note(workflow: Workflow, name: str, missing: list[str], *, ran: bool) -> Note:
    nodes = len(workflow.spec.nodes)
    example = " ".join(f"{n}=..." for n in missing) or "k=v"
    py_example = ", ".join(f"{n}=..." for n in missing)
    why = "not run: it needs " + ", ".join(f"`{n}`" for n in missing) if ran else "not run (--no-run)"
    return Note(f"Defined workflow `{name}` ({nodes} node{'s' if nodes != 1 else ''}); {why}.\n"
                f"Run it with `%workflow run {name} {example}` or `{name}.run({py_example})`.")


@contextlib.contextmanager
def _cache_disabled(disabled: bool) -> Iterator[None]:
    """``--no-cache`` for one run: the shared settings say so while it lasts."""
    from .. import _settings

    settings = _settings.settings
    old = settings.cache
    settings.cache = old and not disabled
    try:
        yield
    finally:
        settings.cache = old


def execute(workflow: Workflow, inputs: dict[str, Any], *, model: str | None = None,
            provider: str | None = None, no_cache: bool = False, progress: str = "update") -> RunResult:
    """Run with progress lines; bad inputs raise InputError before anything is shown."""
    from ..display._fallback import TextProgress
    from ._kernel_loop import run_in_kernel

    model, provider = llm_overrides(workflow, model, provider)
    workflow.initial_state(inputs)
    resolve_targets(workflow, model, provider)  # the engine checks too; this message is shorter
    sink = TextProgress(workflow.name, progress)
    with _cache_disabled(no_cache):
        return run_in_kernel(workflow, inputs, sinks=[sink], refresh=sink.refresh,
                             model=model, provider=provider)


def export(workflow: Workflow, path: str, *, force: bool = False) -> Note:
    target = Path(path).expanduser()
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"export writes YAML: give a .yaml or .yml file name, got `{path}`")
    if target.exists() and not force:
        raise UsageError(f"`{target}` already exists; add --force to overwrite it")
    text = workflow.yaml if workflow.yaml.endswith("\n") else workflow.yaml + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return Note(f"Wrote workflow `{workflow.name}` to {target} ({len(text.splitlines())} lines).",
                kind="ok")


def listing(workflows: dict[str, Workflow]) -> pd.DataFrame:
    import pandas as pd

    rows = [{"name": name, "nodes": len(wf.spec.nodes), "edges": len(wf.spec.edges),
             "required_inputs": ", ".join(wf.required_inputs),
             "description": wf.spec.flow.description or "",
             "source": "cell" if wf.source == "<string>" else wf.source, "hash": wf.hash}
            for name, wf in workflows.items()]
    return pd.DataFrame(rows, columns=["name", "nodes", "edges", "required_inputs", "description",
                                       "source", "hash"])

