"""``%%workflow`` / ``%workflow``: define, run, draw and manage YAML workflows in IPython.

This module is what ``%load_ext agents_magic`` imports, so it imports only the standard library,
IPython and traitlets; the commands import what they need when they first run.

Option precedence, strongest first: cell flags (``--model``), the workflow's ``config:``, the
``%config AgentsMagic.*`` options below (or ``AGENTS_MAGIC_*`` environment variables), defaults.
"""

from __future__ import annotations

import difflib
import keyword
import os
import re
import sys
import weakref
from argparse import ArgumentTypeError
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments
from traitlets import Bool, Float, Int, TraitError, TraitType, Unicode, observe, validate

try:  # IPython >= 8.13
    from IPython.core.magic import output_can_be_silenced
except ImportError:  # pragma: no cover
    def output_can_be_silenced(func: Any) -> Any:
        return func

if TYPE_CHECKING:
    from .._result import RunResult
    from .._settings import Settings
    from .._workflow import Workflow

# The fields of agents_magic._settings.Settings, each a %config option (a test checks).
SETTING_TRAITS = ("default_provider", "default_model", "data_dir", "storage_url", "store", "cache",
                  "mlflow", "mlflow_tracking_uri", "max_concurrency", "budget_usd", "live_display")
SUBCOMMANDS = {
    "list": "the workflows defined in this session, as a DataFrame",
    "show": "a workflow's YAML",
    "graph": "a workflow's graph, drawn here (nodes, conditions, parallel branches, loops)",
    "run": "run a workflow (by name or from a file) with K=V inputs",
    "validate": "check a workflow (schema, graph, LLM settings) without calling any LLM",
    "export": "write a workflow's YAML to a file",
    "estimate": "what a run would cost (min–max USD), worked out without calling any LLM",
    "runs": "the recorded runs, newest first, as a DataFrame",
    "cost": "spend by provider, model, node or workflow: a DataFrame and a bar chart",
    "profile": "where a run's time went: a DataFrame and a timeline, bottlenecks in red",
    "show-run": "one recorded run in full: inputs, outputs, each node's prompt and response",
    "resume": "continue a failed or cancelled run from the node where it stopped",
    "mlflow": "whether runs are logged to MLflow, and the command that opens its UI",
    "memory": "persistent memory: list, get, set, delete or clear entries; what a run read",
    "eval": "run a workflow over a dataset: metrics, variants, percentiles, winner (an EvalResult)",
    "help": "this help, or one subcommand's usage",
}
# The same as agents_magic._reports.COST_BY (a test checks), repeated to keep %load_ext light.
COST_BY = ("provider", "model", "node", "workflow")
RUN_STATUSES = ("succeeded", "failed", "cancelled", "budget_exceeded", "running")
# The same as evaluation._metrics.KINDS (a test checks), repeated to keep %load_ext light.
METRIC_KINDS = ("exact", "contains", "regex", "numeric", "json_field", "schema_valid", "llm_judge")
EVAL_VALUES = {  # what a notebook variable must be to follow each `%workflow eval` option
    "--data": lambda v: type(v).__name__ == "DataFrame" or (isinstance(v, list) and bool(v)
                                                             and isinstance(v[0], dict)),
    "--variants": lambda v: isinstance(v, dict) and bool(v) and all(isinstance(o, dict) for o in v.values()),
    "--metric": lambda v: callable(v) and not isinstance(v, type) and getattr(v, "__module__", "") == "__main__",
}
MEMORY_ACTIONS = ("list", "get", "set", "delete", "clear", "reads")
MEMORY_SCOPES = ("global", "workflow", "node", "agent")  # as config._schema, kept light here
USAGE = """\
%%workflow NAME [-i K=V ...] [--model M] [--provider P] [--no-run] [--dry-run] [--no-cache]
           [--out VAR] [--quiet]
    <YAML>                        define workflow NAME (bound to a Workflow in the notebook),
                                  run it when its required inputs are given
%workflow list                    {list}
%workflow show NAME               {show}
%workflow graph NAME|-f FILE      {graph}
%workflow run NAME|-f FILE [K=V ...] [--model M] [--provider P] [--no-cache] [--out VAR] [--quiet]
                                  {run}
%workflow validate NAME|-f FILE   {validate}
%workflow export NAME FILE.yaml [--force]
                                  {export}
%workflow estimate NAME|-f FILE [K=V ...] [--model M] [--provider P]
                                  {estimate}
%workflow runs [--name N] [--last K] [--status S] [--browse] [--all]
                                  {runs}
%workflow cost [--by provider|model|node|workflow] [--since WHEN] [--all]
                                  {cost}
%workflow profile [RUN_ID] [--threshold 0.5]
                                  {profile}
%workflow show-run [RUN_ID]       {show-run}
%workflow resume [RUN_ID] [--with NAME] [--model M] [--provider P] [--no-cache] [--out VAR] [--quiet]
                                  {resume}
%workflow mlflow                  {mlflow}
%workflow memory list|get KEY|set KEY VALUE|delete KEY|clear|reads [RUN_ID]
           [--scope global|workflow|node] [--workflow W] [--node N] [--ttl S] [--all]
                                  {memory}
%workflow eval NAME|-f FILE --data VAR_OR_PATH [--metric M ...] [--repeats N] [--variants VAR]
               [--concurrency N] [--judge PROVIDER/MODEL] [--name EVAL] [--out VAR] [--quiet]
                                  {eval}
%workflow help [SUBCOMMAND]       {help}

Input values are JSON/YAML literals (n=3, tags='[a, b]', text="two words");
$var or {{var}} takes a variable from the notebook. Options: %config AgentsMagic
Reports read the run store (%config AgentsMagic.store = True). RUN_ID is a run id or its
first characters (default: the last run); WHEN is a date (2026-01-31) or a span (24h, 7d, 2w).
""".format_map(SUBCOMMANDS)


class _FromSettings:
    def __repr__(self) -> str:
        return "<agents_magic settings: AGENTS_MAGIC_* environment or built-in default>"


_FROM_SETTINGS = _FromSettings()


def _setting(trait: TraitType[Any, Any]) -> TraitType[Any, Any]:
    """A ``%config`` option whose value lives in the magics' :class:`Settings`: its default is
    read there (never repeated here), and :meth:`AgentsMagic._write_setting` writes every
    assignment there."""

    def from_settings(magics: AgentsMagic) -> Any:
        value = getattr(magics.settings, str(trait.name))
        return str(value) if isinstance(value, Path) else value

    trait.default = from_settings  # type: ignore[assignment,method-assign]
    # A static default equal to nothing: traitlets compares a first assignment with it, so even
    # one that matches the settings' value notifies the observer.
    trait.default_value = _FROM_SETTINGS
    return trait.tag(config=True)


def _split(line: str) -> list[str]:
    """Shell-like words (see :func:`._namespace.split_words`)."""
    from ._namespace import split_words

    try:
        return split_words(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the magic line: {exc} (close your quotes)") from None


def _parser(prog: str, *arguments: tuple[tuple[str, ...], dict[str, Any]]) -> MagicArgumentParser:
    parser = MagicArgumentParser(prog=prog, description=SUBCOMMANDS.get(prog.split()[-1], ""))
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    return parser


def _usage(parser: MagicArgumentParser, escape: str = "%") -> str:
    # MagicHelpFormatter renders usage as an RST block ("::\n\n  %prog ..."); one line is enough.
    text = " ".join(parser.format_usage().split())
    return escape + re.sub(r"^::\s*%?", "", text)


def _parse(parser: MagicArgumentParser, words: list[str], escape: str = "%") -> Any:
    """argparse, with the usage line added to every mistake (UsageError: no traceback)."""
    try:
        return parser.parse_args(words)
    except UsageError as exc:
        raise UsageError(f"{exc}\nusage: {_usage(parser, escape)}") from None


def _count(text: str) -> int:
    """argparse type of ``--last``: a whole number of runs, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ArgumentTypeError(f"expected a positive whole number of runs, got `{text}`")
    return value


def _share(text: str) -> float:
    """argparse type of ``--threshold``: a share of the run's time, in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ArgumentTypeError(f"expected a share of the run's time in (0, 1], such as 0.5, "
                                f"got `{text}`")
    return value


def _seconds(text: str) -> float:
    """argparse type of ``--ttl``: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ArgumentTypeError(f"expected a positive number of seconds, got `{text}`")
    return value


def _when(text: str) -> str:
    """argparse type of ``--since``: checked now, so a typo gets the usage line."""
    from .._reports import ReportError, _since_ts

    try:
        _since_ts(text)
    except ReportError as exc:
        raise ArgumentTypeError(str(exc)) from None
    return text  # a span such as 24h is measured back from when the report runs


def _identifier(value: str, what: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise UsageError(f"{what} must be a Python identifier (letters, digits, _), got `{value}`")
    return value


_NAME = (("name",), {"nargs": "?", "help": "a workflow defined here (or a Workflow variable)"})
_FILE = (("-f", "--file"), {"metavar": "FILE", "help": "a .yaml workflow file"})
_LLM = [(("--model",), {"help": "use this model for every node"}),
        (("--provider",), {"help": "use this provider for every node (e.g. mock)"})]
_INPUTS = [(("inputs",), {"nargs": "*", "metavar": "K=V", "help": "inputs"}),
           (("-i", "--input"), {"dest": "more_inputs", "action": "append", "default": [],
                                "metavar": "K=V", "help": "an input (repeatable)"})]
_RUN_ID = (("run_id",), {"nargs": "?", "metavar": "RUN_ID",
                         "help": "a run id or its first characters, or {result.run_id} / $var "
                                 "(default: the last run)"})
_RUN_OUTPUT = [(("--no-cache",), {"action": "store_true", "help": "call the LLMs even if cached"}),
               (("--out",), {"metavar": "VAR", "help": "store the RunResult in VAR"}),
               (("--quiet",), {"action": "store_true", "help": "no progress lines or notes"})]
_ALL_HELP = "every recorded run (default: this session's runs, or all runs of --name N)"
PARSERS = {
    "list": _parser("workflow list"),
    "show": _parser("workflow show", (("name",), {"help": "a workflow defined here"})),
    "graph": _parser("workflow graph", _NAME, _FILE),
    "run": _parser("workflow run", _NAME, _FILE, *_INPUTS, *_LLM, *_RUN_OUTPUT),
    "validate": _parser("workflow validate", _NAME, _FILE, *_LLM),
    "export": _parser("workflow export", (("name",), {"help": "a workflow defined here"}),
                      (("file",), {"metavar": "FILE.yaml", "help": "where to write it"}),
                      (("--force",), {"action": "store_true", "help": "overwrite FILE"})),
    "estimate": _parser("workflow estimate", _NAME, _FILE, *_INPUTS, *_LLM),
    "runs": _parser("workflow runs",
                    (("--name",), {"metavar": "N", "help": "only runs of workflow N"}),
                    (("--last",), {"metavar": "K", "type": _count, "help": "only the K latest runs"}),
                    (("--status",), {"metavar": "S", "choices": RUN_STATUSES,
                                     "help": "only runs with this status"}),
                    (("--browse",), {"action": "store_true",
                                     "help": "an interactive table: select runs to see and compare"}),
                    (("--all",), {"action": "store_true", "help": _ALL_HELP})),
    "cost": _parser("workflow cost",
                    (("--by",), {"choices": COST_BY, "default": "provider",
                                 "help": "group by provider (default), model, node or workflow"}),
                    (("--since",), {"metavar": "WHEN", "type": _when,
                                    "help": "only runs started since WHEN (2026-01-31, 24h, 7d)"}),
                    (("--all",), {"action": "store_true", "help": _ALL_HELP})),
    "profile": _parser("workflow profile", _RUN_ID,
                       (("--threshold",), {"type": _share, "default": 0.5, "help": (
                           "a bottleneck takes more than this share of the run (default 0.5)")})),
    "show-run": _parser("workflow show-run", _RUN_ID),
    "resume": _parser("workflow resume", _RUN_ID,
                      (("--with",), {"dest": "name", "metavar": "NAME",
                                     "help": "a fixed workflow defined here (same node ids)"}),
                      *_LLM, *_RUN_OUTPUT),
    "mlflow": _parser("workflow mlflow"),
    "memory": _parser("workflow memory",
                      (("action",), {"choices": MEMORY_ACTIONS, "help": "what to do"}),
                      (("key",), {"nargs": "?", "help": "a memory key (reads: a run id)"}),
                      (("value",), {"nargs": "?", "help": "set: a JSON/YAML literal"}),
                      (("--scope",), {"choices": MEMORY_SCOPES, "help": (
                          "global, workflow or node (default: node with --node, workflow with "
                          "--workflow, else global)")}),
                      (("-w", "--workflow"), {"metavar": "W", "help": "a workflow's name"}),
                      (("--node",), {"metavar": "N", "help": "a node id (with --workflow)"}),
                      (("--ttl",), {"type": _seconds, "metavar": "S",
                                    "help": "set: the entry expires after S seconds"}),
                      (("--all",), {"action": "store_true", "help": "clear: all memory"})),
    "eval": _parser("workflow eval", _NAME, _FILE,
                    (("--data",), {"required": True, "metavar": "VAR_OR_PATH",
                                   "help": "a DataFrame or list of dicts in the notebook, or a "
                                           "CSV/JSONL/Parquet path"}),
                    (("--metric",), {"dest": "metrics", "action": "append", "metavar": "M",
                                     "help": "exact, contains, regex:P, numeric:TOL, json_field:PATH, "
                                             "schema_valid, llm_judge:RUBRIC or a notebook function "
                                             "(repeatable)"}),
                    (("--repeats",), {"type": _count, "metavar": "N", "help": "runs per row and variant"}),
                    (("--variants",), {"metavar": "VAR", "help": "a notebook dict: name -> overrides"}),
                    (("--concurrency",), {"type": _count, "metavar": "N", "help": "rows in flight"}),
                    (("--judge",), {"metavar": "PROVIDER/MODEL", "help": "the llm_judge model "
                                    "(default: the workflow's config.llm)"}),
                    (("--name",), {"dest": "eval_name", "metavar": "EVAL", "help": "the evaluation's name"}),
                    (("--out",), {"metavar": "VAR", "help": "store the EvalResult in VAR"}),
                    (("--quiet",), {"action": "store_true", "help": "no live progress"})),
    "help": _parser("workflow help", (("subcommand",), {"nargs": "?", "help": "a subcommand"})),
}


@magics_class
class AgentsMagic(Magics):
    """Magics for YAML agent workflows; configure them with ``%config AgentsMagic.<option>``."""

    default_provider = _setting(Unicode(allow_none=True, help=(
        "LLM provider for workflows that name none (e.g. 'mock', 'openai', 'ollama').")))
    default_model = _setting(Unicode(allow_none=True, help=(
        "LLM model for workflows that name none (e.g. 'gpt-4o-mini', 'ollama/llama3').")))
    data_dir = _setting(Unicode(help="Directory for the run store, the LLM cache and local MLflow files."))
    storage_url = _setting(Unicode(allow_none=True, help=(
        "SQLAlchemy URL of the run store; unset means SQLite in data_dir.")))
    store = _setting(Bool(help="Record every run in the run store."))
    cache = _setting(Bool(help="Reuse stored LLM replies for identical calls (marked as cached, $0)."))
    mlflow = _setting(Bool(help="Log every run to MLflow."))
    mlflow_tracking_uri = _setting(Unicode(allow_none=True, help=(
        "MLflow tracking URI; unset means a local store in data_dir.")))
    max_concurrency = _setting(Int(allow_none=True, help=(
        "Most LLM calls in flight at once; unset uses each workflow's own limit.")))
    budget_usd = _setting(Float(allow_none=True, help=(
        "Stop a run once it has cost this many US dollars; unset means no limit.")))
    live_display = _setting(Bool(help="Show per-node progress while a workflow runs."))

    def __init__(self, shell: Any = None, workflows: dict[str, Workflow] | None = None,
                 settings: Settings | None = None, **kwargs: Any):
        self._settings = settings  # before the options are configured: they write to it
        super().__init__(shell, **kwargs)
        self.workflows: dict[str, Workflow] = {} if workflows is None else workflows

    @property
    def settings(self) -> Settings:
        """The settings these options read and write: the session's, unless others were given
        (imported on first use, so that ``%load_ext`` stays light)."""
        if self._settings is None:
            from .. import _settings

            self._settings = _settings.resolve()
        return self._settings

    @validate("default_provider", "default_model", "storage_url", "mlflow_tracking_uri")
    def _blank_is_unset(self, proposal: Any) -> str | None:
        value = proposal["value"]
        return (value.strip() or None) if isinstance(value, str) else value

    @validate("data_dir")
    def _check_data_dir(self, proposal: Any) -> str:
        value = os.path.expanduser(str(proposal["value"]).strip())
        if not value:
            raise TraitError("AgentsMagic.data_dir cannot be empty")
        return value

    @validate("max_concurrency")
    def _check_concurrency(self, proposal: Any) -> int | None:
        value = proposal["value"]
        if value is not None and value < 1:
            raise TraitError(f"AgentsMagic.max_concurrency must be at least 1, got {value}")
        return value

    @validate("budget_usd")
    def _check_budget(self, proposal: Any) -> float | None:
        value = proposal["value"]
        if value is not None and value < 0:
            raise TraitError(f"AgentsMagic.budget_usd cannot be negative, got {value}")
        return value

    @observe(*SETTING_TRAITS)
    def _write_setting(self, change: Any) -> None:
        value = Path(change["new"]) if change["name"] == "data_dir" else change["new"]
        setattr(self.settings, change["name"], value)

    # -- the magic -------------------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", help=(
        "the workflow's name; a Workflow of that name is bound in the notebook (default: flow.name)"))
    @argument("-i", "--input", dest="inputs", action="append", nargs="+", default=[], metavar="K=V",
              help="an input; JSON/YAML literal, or $var / {var} from the notebook (repeatable)")
    @argument("--model", help="use this model for every node (e.g. gpt-4o-mini, ollama/llama3)")
    @argument("--provider", help="use this provider for every node (e.g. mock)")
    @argument("--no-run", action="store_true", help="define the workflow only")
    @argument("--dry-run", action="store_true", help="validate and draw the graph; call no LLM")
    @argument("--no-cache", action="store_true", help="call the LLMs even where a cached reply exists")
    @argument("--out", metavar="VAR", help="store the RunResult in VAR instead of showing it")
    @argument("--quiet", action="store_true", help="no progress lines or notes")
    @no_var_expand
    @output_can_be_silenced
    @line_cell_magic
    def workflow(self, line: str, cell: str | None = None) -> Any:
        """Define and run LLM agent workflows written in YAML.

        As a cell magic, ``%%workflow NAME`` validates the YAML below it (every problem is
        reported with its line in the cell), defines workflow NAME for the session, binds a
        ``Workflow`` called NAME in the notebook (``NAME.run(topic="x")`` works from Python)
        and runs it when all its required inputs are given. The RunResult is the cell's value,
        or goes to ``--out VAR``. A kernel interrupt cancels a run (status ``cancelled``).

        As a line magic it manages workflows; ``%workflow help`` lists the subcommands::

            %workflow list | show NAME | graph NAME | run NAME k=v ... | run -f FILE k=v ...
            %workflow validate NAME|-f FILE | export NAME FILE.yaml | estimate NAME k=v ...
            %workflow runs | cost --by node | profile [RUN_ID] | show-run [RUN_ID] | mlflow
            %workflow resume [RUN_ID] | memory list | eval NAME --data VAR_OR_PATH
            %workflow help [SUBCOMMAND]

        The reports (``runs``, ``cost``, ``profile``, ``show-run``) read the run store, which
        records every run while ``%config AgentsMagic.store = True``.

        Examples
        --------
        ::

            %%workflow summarize -i text="Jupyter is an interactive notebook."
            schema_version: "1.0"
            flow: {name: summarize}
            state: {fields: {text: {type: str, required: true}, summary: {type: str}}}
            nodes: [{id: summarize, prompt: "Summarise: {state.text}", outputs: [summary]}]
            edges: [{from: START, to: summarize}, {from: summarize, to: END}]
            config: {llm: {provider: mock}}
        """
        if cell is None:
            return self._line(line)
        return self._cell(_parse(self.workflow.parser, _split(line), escape="%%"), cell)

    def _cell(self, args: Any, cell: str) -> Any:
        from . import _commands

        name = _identifier(args.name, "NAME") if args.name else None
        out = _identifier(args.out, "--out VAR") if args.out else None
        words = [word for group in args.inputs for word in group]
        values, raw = _commands.read_inputs(words, self.shell.user_ns)
        wf = _commands.load_cell(cell, name, self.shell.user_ns)
        if name is None:
            name = _identifier(wf.name, "flow.name (give the cell a NAME instead)")
        inputs = _commands.typed_inputs(wf, values, raw)
        self.workflows[name] = wf
        self.shell.user_ns[name] = wf
        if args.dry_run:
            return _commands.plan(wf, inputs, model=args.model, provider=args.provider,
                                  settings=self.settings)
        missing = [n for n in wf.required_inputs if n not in inputs]
        if args.no_run or (missing and not inputs):
            if not args.quiet:
                self._show(_commands.defined_note(wf, name, missing, ran=not args.no_run))
            return None
        from ..display._live import placeholder

        wf.initial_state(inputs)  # bad or missing inputs are reported before anything is shown
        # Shown once the cell is valid and will run: the first run in a kernel spends seconds
        # importing the engine.
        shown = placeholder(self._progress_mode(args.quiet) == "update", wf.name)
        try:
            return self._run(wf, inputs, args, out, shown)
        finally:
            shown.close()

    # -- line magic: subcommands -----------------------------------------------------------
    def _line(self, line: str) -> Any:
        words = _split(line)
        if not words:
            return self._cmd_help([])
        sub, rest = words[0], words[1:]
        handler: Callable[[list[str]], Any] | None = getattr(
            self, f"_cmd_{sub.replace('-', '_')}", None)
        if sub not in SUBCOMMANDS or handler is None:
            close = difflib.get_close_matches(sub, SUBCOMMANDS, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise UsageError(f"unknown subcommand `{sub}`{hint}; subcommands: "
                             f"{', '.join(SUBCOMMANDS)}\nusage: %workflow SUBCOMMAND ... "
                             "(see %workflow help)")
        return handler(rest)

    def _cmd_help(self, words: list[str]) -> Any:
        from ..display._notes import Help

        args = _parse(PARSERS["help"], words)
        if args.subcommand:
            if args.subcommand not in PARSERS:
                raise UsageError(f"unknown subcommand `{args.subcommand}`; subcommands: "
                                 f"{', '.join(SUBCOMMANDS)}")
            parser = PARSERS[args.subcommand]
            return Help(f"{_usage(parser)}\n\n{SUBCOMMANDS[args.subcommand]}")
        return Help(USAGE)

    def _cmd_list(self, words: list[str]) -> Any:
        from . import _commands

        _parse(PARSERS["list"], words)
        return _commands.listing(self.workflows)

    def _cmd_show(self, words: list[str]) -> Any:
        from ..display._notes import YamlView

        wf = self._named(_parse(PARSERS["show"], words).name)
        return YamlView(wf.name, wf.yaml)

    def _cmd_graph(self, words: list[str]) -> Any:
        from ..display._graph import WorkflowGraph

        return WorkflowGraph(self._target(_parse(PARSERS["graph"], words)))

    def _cmd_run(self, words: list[str]) -> Any:
        args = _parse(PARSERS["run"], words)
        out = _identifier(args.out, "--out VAR") if args.out else None
        wf, inputs = self._target_and_inputs(args)
        return self._run(wf, inputs, args, out)

    def _cmd_validate(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["validate"], words)
        return _commands.validation(self._target(args), model=args.model, provider=args.provider,
                                    settings=self.settings)

    def _cmd_export(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["export"], words)
        return _commands.export(self._named(args.name), self._path(args.file), force=args.force)

    def _cmd_estimate(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["estimate"], words)
        wf, inputs = self._target_and_inputs(args)
        return _commands.cost_estimate(wf, inputs, model=args.model, provider=args.provider,
                                       settings=self.settings)

    def _cmd_runs(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["runs"], words)
        if args.browse:
            from ..display.runs_view import RunsBrowser

            return RunsBrowser(name=args.name, last=args.last or 200,
                               url=self.settings.resolved_storage_url)
        return _commands.run_history(self.settings, name=args.name, last=args.last,
                                     status=args.status, everything=args.all, show=self._show)

    def _cmd_cost(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["cost"], words)
        return _commands.costs(self.settings, args.by, args.since, show=self._show,
                               charts=self._charts(), everything=args.all)

    def _cmd_profile(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["profile"], words)
        return _commands.run_profile(self.settings, self._run_id(args.run_id), args.threshold,
                                     show=self._show, charts=self._charts())

    def _cmd_show_run(self, words: list[str]) -> Any:
        from . import _commands

        run_id = _parse(PARSERS["show-run"], words).run_id
        return _commands.run_detail(self.settings, self._run_id(run_id))

    def _cmd_resume(self, words: list[str]) -> Any:
        from . import _commands

        args = _parse(PARSERS["resume"], words)
        out = _identifier(args.out, "--out VAR") if args.out else None
        fixed = self._target(args) if args.name else None
        result = _commands.resume(self._run_id(args.run_id), fixed, model=args.model, provider=args.provider,
                                  no_cache=args.no_cache, progress=self._progress_mode(args.quiet),
                                  settings=self.settings, tools=self.shell.user_ns)
        return self._kept(result, out, args.quiet)

    def _cmd_memory(self, words: list[str]) -> Any:
        from . import _commands

        return _commands.memory_command(_parse(PARSERS["memory"], words), self.settings,
                                        self.shell.user_ns if self.shell else {})

    def _cmd_mlflow(self, words: list[str]) -> Any:
        from . import _commands

        _parse(PARSERS["mlflow"], words)
        return _commands.mlflow_note(self.settings)

    def _cmd_eval(self, words: list[str]) -> Any:
        from ..evaluation import evaluate
        from ..evaluation._data import from_namespace

        args = _parse(PARSERS["eval"], words)
        out = _identifier(args.out, "--out VAR") if args.out else None
        ns = self.shell.user_ns
        data = from_namespace(args.data if args.data in ns else self._path(args.data), ns)
        metrics = [{"name": m, "fn": ns[m]} if m in ns and callable(ns[m]) else m
                   for m in args.metrics or []] or None
        variants = None
        if args.variants:
            if not isinstance(ns.get(args.variants), dict):
                raise UsageError(f"--variants `{args.variants}` must name a dict in the notebook "
                                 "(variant name -> overrides)")
            variants = ns[args.variants]
        result = evaluate(self._target(args), data, metrics, variants=variants, repeats=args.repeats,
                          concurrency=args.concurrency, name=args.eval_name, judge=args.judge,
                          progress=None if not args.quiet else False, settings=self.settings)
        if out is not None:
            ns[out] = result
            return None
        return result

    # -- helpers ---------------------------------------------------------------------------
    def _run(self, wf: Workflow, inputs: dict[str, Any], args: Any, out: str | None,
             shown: Any = None) -> RunResult | None:
        from . import _commands

        result = _commands.execute(wf, inputs, model=args.model, provider=args.provider,
                                   no_cache=args.no_cache, progress=self._progress_mode(args.quiet),
                                   settings=self.settings, shown=shown)
        return self._kept(result, out, args.quiet)

    def _kept(self, result: RunResult, out: str | None, quiet: bool) -> RunResult | None:
        """``--out VAR`` puts the result in VAR and the cell shows only the run's view (or its
        progress lines), which say how any run ended; under ``--quiet`` nothing else shows it,
        so a run that did not succeed is still the cell's value."""
        if out is None:
            return result
        self.shell.user_ns[out] = result
        return result if not result.ok and self._progress_mode(quiet) == "off" else None

    def _target_and_inputs(self, args: Any) -> tuple[Workflow, dict[str, Any]]:
        """The workflow (NAME or -f FILE) and its typed K=V / -i inputs, as ``run`` reads them."""
        from . import _commands

        if args.name and "=" in args.name:  # `run -f FILE k=v`: the first input landed in NAME
            args.inputs.insert(0, args.name)
            args.name = None
        values, raw = _commands.read_inputs([*args.inputs, *args.more_inputs], self.shell.user_ns)
        wf = self._target(args)
        return wf, _commands.typed_inputs(wf, values, raw)

    def _progress_mode(self, quiet: bool) -> str:
        if quiet or not self.live_display:
            return "off"
        # A kernel redraws one output in place; a terminal can only append lines.
        return "update" if getattr(self.shell, "kernel", None) is not None else "append"

    def _charts(self) -> bool:
        # plotly shows a figure in terminal IPython by opening a web browser; a report should not.
        return type(self.shell).__name__ != "TerminalInteractiveShell"

    def _show(self, obj: Any) -> None:
        from IPython.display import display

        display(obj)

    def _path(self, text: str) -> str:
        """A file argument; ``$var``/``{var}`` name a notebook variable holding the path."""
        from ._namespace import _MISSING, _WHOLE, lookup

        match = _WHOLE.match(text)
        if not match:
            return text
        value = lookup(match.group(1) or match.group(2), self.shell.user_ns)
        if value is _MISSING:
            raise UsageError(f"`{text}` is not defined in the notebook")
        return str(value)

    def _run_id(self, text: str | None) -> str | None:
        """A RUN_ID argument; ``{result.run_id}``/``$rid`` name a notebook value holding it
        (the magic is ``no_var_expand``: its cells hold YAML braces)."""
        return None if text is None else self._path(text)

    def _target(self, args: Any) -> Workflow:
        if getattr(args, "file", None):
            if args.name:
                raise UsageError("give a workflow NAME or -f FILE, not both")
            from . import _commands

            return _commands.load_file(self._path(args.file), self.shell.user_ns)
        if not args.name:
            raise UsageError("which workflow? give its NAME or -f FILE.yaml")
        return self._named(args.name)

    def _named(self, name: str) -> Workflow:
        if name in self.workflows:
            return self.workflows[name]
        value = self.shell.user_ns.get(name)
        if _is_workflow(value):
            return value  # type: ignore[no-any-return]
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise UsageError(f"no workflow named `{name}`.{hint} Defined: {', '.join(known) or 'none yet'} "
                         "(define one with a %%workflow NAME cell, or use -f FILE.yaml)")

    def names(self) -> list[str]:
        """Workflows defined here, then Workflow variables of the notebook."""
        extra = [k for k, v in self.shell.user_ns.items()
                 if not k.startswith("_") and k not in self.workflows and _is_workflow(v)]
        return [*self.workflows, *sorted(extra)]

    # -- tab completion --------------------------------------------------------------------
    def completions(self, line: str) -> list[str] | None:
        """Candidates for the last word of a ``%workflow`` / ``%%workflow`` line, or None."""
        match = re.match(r"\s*(%%?)workflow\s+(.*)$", line, re.S)
        if not match:
            return None
        cell, rest = match.group(1) == "%%", match.group(2)
        words = rest.split()
        token = words.pop() if rest and not rest[-1].isspace() else ""
        if words and words[-1] in ("-f", "--file"):
            return None  # leave paths to IPython's file completer
        if not cell and len(words) > 1 and words[-1].startswith("-"):
            values = self._option_values(words[0], words[-1])
            matches = [v for v in values or () if v.startswith(token)]
            if values is not None and (matches or words[-1] != "--data"):  # else: a file path
                return matches
        if token.startswith("-"):
            if cell:
                options = [o for a in self.workflow.parser._actions for o in a.option_strings]
            else:
                parser = PARSERS.get(words[0]) if words else None
                options = [o for a in parser._actions for o in a.option_strings] if parser else []
            return [o for o in options if o.startswith(token)]
        if cell:
            return [n for n in self.names() if n.startswith(token)] if not words else None
        if not words:
            return [s for s in SUBCOMMANDS if s.startswith(token)]
        positional = [w for w in words[1:] if not w.startswith("-")]
        if words[0] == "help" and not positional:
            return [s for s in SUBCOMMANDS if s.startswith(token)]
        if words[0] in ("show", "graph", "run", "validate", "export", "estimate", "eval") and not positional:
            return [n for n in self.names() if n.startswith(token)]
        return None

    def _option_values(self, sub: str, option: str) -> list[str] | None:
        """What may follow ``option`` of subcommand ``sub`` (``--by`` → provider, model, ...)."""
        if (sub, option) == ("runs", "--name"):
            return self.names()
        if sub == "eval" and option in EVAL_VALUES:
            wanted = EVAL_VALUES[option]
            found = [k for k, v in self.shell.user_ns.items() if not k.startswith("_") and wanted(v)]
            return [*(METRIC_KINDS if option == "--metric" else ()), *found]
        parser = PARSERS.get(sub)
        for action in parser._actions if parser else []:
            if option in action.option_strings and action.choices:
                return [str(choice) for choice in action.choices]
        return None


def _is_workflow(value: Any) -> bool:
    module = sys.modules.get("agents_magic._workflow")  # no Workflow exists before it is imported
    return module is not None and isinstance(value, module.Workflow)


# -- extension entry points ----------------------------------------------------------------
# Kept per shell and outside the Magics instance, so %reload_ext keeps the session's workflows.
_registries: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_loaded: weakref.WeakKeyDictionary[Any, tuple[AgentsMagic, Any]] = weakref.WeakKeyDictionary()


def _make_matcher(magics: AgentsMagic) -> Any:
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="agents_magic.workflow")
    def workflow_matcher(context: Any) -> dict[str, Any]:
        found = magics.completions(context.text_until_cursor)
        if not found:
            return {"completions": []}
        return {"completions": [SimpleCompletion(text, type="workflow") for text in found],
                "suppress": True}

    return workflow_matcher


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, their ``%config`` options and tab completion."""
    if ipython in _loaded:
        return
    magics = AgentsMagic(ipython, workflows=_registries.setdefault(ipython, {}))
    ipython.register_magics(magics)
    matcher = None
    completer = getattr(ipython, "Completer", None)
    if completer is not None and hasattr(completer, "custom_matchers"):
        matcher = _make_matcher(magics)
        completer.custom_matchers.append(matcher)
    _loaded[ipython] = (magics, matcher)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove what :func:`load_ipython_extension` added; workflows stay for a reload."""
    magics, matcher = _loaded.pop(ipython, (None, None))
    if magics is None:
        return
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        if getattr(manager.magics[kind].get("workflow"), "__self__", None) is magics:
            del manager.magics[kind]["workflow"]
    if manager.registry.get(type(magics).__name__) is magics:
        del manager.registry[type(magics).__name__]
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    completer = getattr(ipython, "Completer", None)
    if matcher is not None and completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
    # Write out what the run store and MLflow sinks still hold. Without a run the module was
    # never imported and there is nothing to close, so it is not imported here.
    sinks = sys.modules.get("agents_magic.sinks")
    if sinks is not None:
        sinks.close_sinks()
