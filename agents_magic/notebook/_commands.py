"""What the magics do once their arguments are parsed: load, plan, run, validate, export, list,
estimate, and the reports over the run store.

Imported on first use of a magic, never at ``%load_ext``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from IPython.core.error import UsageError

from .._workflow import load
from ..display._notes import Estimate, Note, Plan, RunDetail
from ..errors import InputError
from . import _namespace

if TYPE_CHECKING:
    import pandas as pd

    from .._result import RunResult
    from .._settings import Settings
    from .._workflow import Workflow

CELL_LINE_OFFSET = 1  # the %%workflow line sits above the YAML
STORE_OFF = ("The run store is off, so there are no recorded runs to report on. Turn it on with "
             "`%config AgentsMagic.store = True` (or AGENTS_MAGIC_STORE=1), then run a workflow.")
NEEDS_PLOTLY = "The chart needs `pip install 'agents_magic[plotly]'`; here is the table only."
NO_CHARTS = ("A terminal draws no charts: `import agents_magic; agents_magic.{draw}(_).show()` "
             "opens this one in a web browser.")
FLUSH_TIMEOUT = 30.0  # seconds to wait for the store's writer before reading the store


def load_cell(text: str, name: str | None, namespace: Mapping[str, Any] | None = None) -> Workflow:
    """The cell's workflow; ConfigError lines count the magic line, as the user sees them.
    Tools not built in are the notebook's functions of those names (looked up at each run)."""
    return load(text, line_offset=CELL_LINE_OFFSET, name=name,  # type: ignore[no-any-return]
                tools=namespace)


def load_file(path: str, namespace: Mapping[str, Any] | None = None) -> Workflow:
    if Path(path).expanduser().suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"`{path}` is not a .yaml/.yml file")
    return load(Path(path).expanduser(), tools=namespace)  # type: ignore[no-any-return]


def read_inputs(words: list[str], namespace: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    return _namespace.parse_inputs(words, namespace)


def typed_inputs(workflow: Workflow, values: dict[str, Any], raw: dict[str, str]) -> dict[str, Any]:
    return _namespace.coerce(values, raw, workflow.spec.state.fields)


def resolve_targets(workflow: Workflow, model: str | None, provider: str | None,
                    settings: Settings) -> dict[str, Any]:
    """Every node's LLM, resolved as a run would, without calling any (nor importing LangGraph)."""
    from ..engine import _llm

    overrides = {k: v for k, v in {"model": model, "provider": provider}.items() if v}
    return _llm.resolve_nodes(workflow.spec, overrides, settings.llm_fallback)


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
                   provider: str | None, counts: dict[str, int], settings: Settings) -> list[str]:
    targets = resolve_targets(workflow, model, provider, settings)
    spec = workflow.spec
    return [
        f"nodes: {len(spec.nodes)} · edges: {len(spec.edges)} · conditional edges: "
        f"{counts['conditional']} · parallel fan-outs: {counts['parallel']} · loops: {counts['loops']}",
        f"LLM: {_llm_summary(targets)}",
        _input_summary(workflow, inputs),
    ]


def plan(workflow: Workflow, inputs: dict[str, Any], *, model: str | None, provider: str | None,
         settings: Settings) -> Plan:
    """``--dry-run``: every check a run makes before its first call, and the graph."""
    from ..display._graph import WorkflowGraph

    graph = WorkflowGraph(workflow)
    lines = _checked_lines(workflow, inputs, model, provider, graph.counts, settings)
    return Plan("\n".join([f"`{workflow.name}` is valid · dry run, no LLM was called", *lines]), graph)


def validation(workflow: Workflow, *, model: str | None = None, provider: str | None = None,
               settings: Settings) -> Note:
    from ..display._graph import WorkflowGraph

    lines = _checked_lines(workflow, {}, model, provider, WorkflowGraph(workflow).counts, settings)
    source = "" if workflow.source == "<string>" else f" ({workflow.source})"
    return Note("\n".join([f"✓ `{workflow.name}`{source} is valid", *lines]), kind="ok")


def defined_note(workflow: Workflow, name: str, missing: list[str], *, ran: bool) -> Note:
    nodes = len(workflow.spec.nodes)
    example = " ".join(f"{n}=..." for n in missing) or "k=v"
    py_example = ", ".join(f"{n}=..." for n in missing)
    why = ("not run: it needs " + ", ".join(f"`{n}`" for n in missing)) if ran else "not run (--no-run)"
    return Note(f"Defined workflow `{name}` ({nodes} node{'s' if nodes != 1 else ''}); {why}.\n"
                f"Run it with `%workflow run {name} {example}` or `{name}.run({py_example})`.")


def execute(workflow: Workflow, inputs: dict[str, Any], *, model: str | None = None,
            provider: str | None = None, no_cache: bool = False, progress: str = "update",
            settings: Settings, shown: Any = None) -> RunResult:
    """Run with the live view (or progress lines), drawn in place of ``shown`` (a
    :func:`~agents_magic.display._live.placeholder`); bad inputs raise InputError before
    anything is shown."""
    from ..display._live import progress as live
    from .. import _api

    workflow.initial_state(inputs)
    budget = workflow.spec.config.execution.budget_usd
    sink = live(workflow, progress, shown, budget=settings.budget_usd if budget is None else budget)
    options: dict[str, Any] = {"model": model, "provider": provider, "settings": settings,
                               "stream": sink.stream}  # the live view shows streamed text
    if no_cache:
        options["cache"] = False  # otherwise the session setting decides
    return _api.run(workflow, inputs, sinks=[sink], refresh=sink.refresh, **options)


def resume(run_id: str | None, workflow: Workflow | None, *, model: str | None = None,
           provider: str | None = None, no_cache: bool = False, progress: str = "update",
           settings: Settings, tools: Mapping[str, Any] | None = None) -> RunResult:
    """Resume a recorded run (default: the last one) with the live view or progress lines."""
    from ..display._fallback import TextProgress
    from ..display._live import progress as live
    from .. import _api
    from .._reports import show_run
    from .._workflow import load

    record = show_run(run_id, url=settings.resolved_storage_url)
    shown = workflow or (load(record["yaml"], name=record["workflow"]) if record["yaml"] else None)
    sink = live(shown, progress) if shown is not None else TextProgress(record["workflow"], progress)
    options: dict[str, Any] = {"model": model, "provider": provider, "settings": settings,
                               "tools": tools,  # the notebook's functions, for `tools:`
                               "stream": sink.stream}
    if no_cache:
        options["cache"] = False
    return _api.resume(record["run_id"], workflow, sinks=[sink], refresh=sink.refresh, **options)


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



def cost_estimate(workflow: Workflow, inputs: dict[str, Any], *, model: str | None = None,
                  provider: str | None = None, settings: Settings) -> Estimate:
    """``%workflow estimate``: the cost range of a run, without calling any LLM."""
    from .._estimate import estimate

    _check_known_inputs(workflow, inputs)
    return Estimate(estimate(workflow, inputs, model=model, provider=provider, settings=settings))


def _check_known_inputs(workflow: Workflow, inputs: dict[str, Any]) -> None:
    """Type-check the inputs given; missing ones are fine here (the estimate counts them empty)."""
    if all(name in inputs for name in workflow.required_inputs):
        workflow.initial_state(inputs)
        return
    from ..config._validate import did_you_mean

    fields = workflow.spec.state.fields
    problems = []
    for name in inputs:
        if name not in fields:
            hint = did_you_mean(name, fields)
            problems.append(f"unknown input `{name}`" + (f" ({hint})" if hint else ""))
    if problems:
        raise InputError(f"{len(problems)} input problem{'s' if len(problems) > 1 else ''} for "
                         f"`{workflow.name}`: " + "; ".join(problems))


def _store_off(settings: Settings) -> Note | None:
    """A note when the run store is off; otherwise wait until the runs so far are written."""
    if not settings.store:
        return Note(STORE_OFF, kind="warn")
    # Runs are written by a background sink; a report straight after a run must include it.
    # If the sinks module was never imported, no run has opened a sink: nothing to wait for.
    sinks = sys.modules.get("agents_magic.sinks")
    if sinks is not None:
        sinks.flush_sinks(FLUSH_TIMEOUT, kind="store")  # reports read the store, not MLflow
    return None


def _chart(draw: Callable[[Any], Any], frame: pd.DataFrame, charts: bool) -> Any:
    """A plotly figure of ``frame``, or a note: how to install plotly, or how to see the chart
    from a terminal (where showing a figure would open a web browser unasked)."""
    if not charts:
        return Note(NO_CHARTS.format(draw=draw.__name__))
    try:
        import plotly.graph_objects  # noqa: F401
    except ImportError:
        return Note(NEEDS_PLOTLY, kind="warn")
    return draw(frame)


def run_history(settings: Settings, *, name: str | None = None, last: int | None = None,
                status: str | None = None, everything: bool = False,
                show: Callable[[Any], None] | None = None) -> pd.DataFrame | Note:
    """``%workflow runs``: the recorded runs, newest first, in columns that fit a cell; this
    session's runs unless a workflow is named or ``everything`` is asked for (an empty session
    ``show``s where the earlier runs are)."""
    off = _store_off(settings)
    if off is not None:
        return off
    from .. import _reports

    process = None if everything or name else _reports.this_session()
    frame = _reports.compact(_reports.runs(name=name, last=last, status=status, process=process,
                                           url=settings.resolved_storage_url))
    if frame.empty and process is not None and show is not None:
        show(Note("No runs in this session yet" + (f" with status `{status}`" if status else "")
                  + "; `%workflow runs --all` lists every recorded run."))
    return frame


def costs(settings: Settings, by: str, since: str | None, show: Callable[[Any], None], *,
          charts: bool = True, everything: bool = False) -> pd.DataFrame | Note:
    """``%workflow cost``: shows a bar chart and returns the table (this session's runs unless
    ``everything``)."""
    off = _store_off(settings)
    if off is not None:
        return off
    from .. import _reports

    frame = _reports.cost_report(by=by, since=since, url=settings.resolved_storage_url,
                                 process=None if everything else _reports.this_session())
    if frame.empty:
        show(Note("No LLM calls are recorded" + (f" since {since}" if since else "")
                  + (" yet." if everything else
                     " in this session yet; `%workflow cost --all` covers every recorded run.")))
    else:
        show(_chart(_reports.cost_figure, frame, charts))
    return frame


def run_profile(settings: Settings, run_id: str | None, threshold: float,
                show: Callable[[Any], None], *, charts: bool = True) -> pd.DataFrame | Note:
    """``%workflow profile``: shows a timeline (bottlenecks in red) and returns the table."""
    off = _store_off(settings)
    if off is not None:
        return off
    from .. import _reports

    frame = _reports.profile(run_id, threshold=threshold, url=settings.resolved_storage_url)
    if not frame.empty:
        show(_chart(_reports.profile_figure, frame, charts))
        spread = _reports.node_percentiles(frame.attrs["workflow"], url=settings.resolved_storage_url)
        show(spread)  # p50/p95/p99 per node across the workflow's runs
        show(_chart(_reports.percentile_figure, spread, charts))
    return frame


def run_detail(settings: Settings, run_id: str | None) -> RunDetail | Note:
    """``%workflow show-run``: one recorded run with every node's prompt and response."""
    off = _store_off(settings)
    if off is not None:
        return off
    from .. import _reports

    return RunDetail(_reports.show_run(run_id, url=settings.resolved_storage_url))


def mlflow_note(settings: Settings) -> Note:
    """``%workflow mlflow``: whether runs are logged to MLflow, and how to open its UI."""
    from ..sinks import mlflow_ui_command

    state = ("MLflow logging is on: every run is logged to the tracking store below."
             if settings.mlflow else
             "MLflow logging is off: turn it on with `%config AgentsMagic.mlflow = True`.")
    return Note(f"{state}\nTo open the MLflow UI on it, run this in a terminal:\n"
                f"`{mlflow_ui_command(settings)}`", kind="ok" if settings.mlflow else "info")


def _memory_scope(args: Any) -> str:
    """The entries ``%workflow memory list`` asked for, in words: ``scope workflow `chat```."""
    scope = f"scope {args.scope}" if args.scope else "any scope"
    names = [f"workflow `{args.workflow}`" if args.workflow else "", f"node `{args.node}`" if args.node else ""]
    return ", ".join([scope, *(n for n in names if n)])


def memory_command(args: Any, settings: Settings, namespace: Mapping[str, Any]) -> Any:
    """``%workflow memory ACTION``: entries as a DataFrame, one value, or a note of the change."""
    from .. import _memory_api as mem

    url = settings.resolved_storage_url
    action, key = args.action, args.key
    where = {"scope": args.scope, "workflow": args.workflow, "node": args.node}
    if action == "list":
        frame = mem.memory(**where, url=url)
        if frame.empty:
            return Note(f"no memory entries ({_memory_scope(args)})")
        return frame
    if action == "reads":
        return mem.reads(key, url=url)
    if action == "clear":
        if not args.all and args.scope is None:
            raise UsageError("clear what? give --scope global|workflow|node (with --workflow W "
                             "and --node N), or --all for every entry")
        count = mem.clear(**where, everything=args.all, url=url)
        return Note(f"removed {count} memory entr{'y' if count == 1 else 'ies'}", kind="ok")
    if not key:
        raise UsageError(f"`%workflow memory {action}` needs a KEY")
    scope = mem.infer_scope(args.scope, args.workflow, args.node)
    label = f"{scope} memory" + (f" of `{args.workflow}`" if scope != "global" else "") + (
        f" node `{args.node}`" if scope == "node" else "")
    if action == "get":
        return mem.get(key, **where, url=url)
    if action == "delete":
        found = mem.delete(key, **where, url=url)
        return Note(f"deleted `{key}` from {label}" if found else f"`{key}` is not in {label}",
                    kind="ok" if found else "warn")
    if args.value is None:
        raise UsageError("`%workflow memory set` needs a KEY and a VALUE (a JSON/YAML literal, "
                         "or $var from the notebook)")
    values, _ = _namespace.parse_inputs([f"value={args.value}"], namespace)
    mem.set_value(key, values["value"], **where, ttl=args.ttl, url=url)
    ttl = f" for {args.ttl:g} s" if args.ttl else ""
    return Note(f"stored `{key}` in {label}{ttl}", kind="ok")
