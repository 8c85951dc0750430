"""The validated workflow object users hold: ``wf = agents_magic.load(...)``; ``wf.run(topic=...)``."""

from __future__ import annotations

import hashlib
import html
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .config import _types
from .config._loader import parse_spec, read_source, unimplemented
from .config._schema import WorkflowSpec
from .config._validate import did_you_mean
from .errors import AgentsMagicWarning, ConfigError, InputError

if TYPE_CHECKING:
    from ._result import RunResult
    from .config._sourcemap import SourceMap


def load(text_or_path: str | os.PathLike[str], *, line_offset: int = 0, name: str | None = None,
         tools: Mapping[str, Any] | Iterable[Any] | None = None) -> Workflow:
    """Load a workflow from YAML text or a ``.yaml`` path.

    The text must be UTF-8, at most 4,000,000 characters, with lists and mappings nested at most
    50 levels deep. Sections that are accepted but not acted on (``config.tools``,
    configurable-agents memory keys such as ``extract_facts``) are listed in
    :attr:`Workflow.warnings` and reported once as an
    :class:`~agents_magic.errors.AgentsMagicWarning`.

    Parameters
    ----------
    text_or_path
        YAML text, or the path of a ``.yaml``/``.yml`` file.
    line_offset
        Added to every reported line (a notebook cell's magic line counts as one).
    name
        Overrides ``flow.name``.
    tools
        The functions the nodes' ``tools:`` name (a mapping name → function, or a list of
        functions and :class:`~agents_magic.tools.Tool` objects), kept for every run. With it,
        an unknown tool name is reported here; without it, when the workflow runs (before any
        call), where ``run(..., tools=...)`` may still supply it.

    Raises
    ------
    ConfigError
        Listing every problem found, each with line and column.
    """
    text, source = read_source(text_or_path)
    spec, smap = parse_spec(text, line_offset=line_offset, source=source if source != "<string>" else "")
    workflow = Workflow(spec, text, source=source, name=name, warnings=unimplemented(spec, smap))
    workflow.source_map = smap
    uses_tools = any(node.tools for node in spec.nodes)
    if not uses_tools and (tools is None or isinstance(tools, Mapping)):
        workflow.functions = tools  # as functions_of keeps it, without importing the built-in tools
    else:
        from .tools._registry import bind, functions_of

        workflow.functions = functions_of(tools) if tools is not None else None
        if uses_tools:
            _, problems = bind(spec, smap, workflow.functions)
            if problems:
                raise ConfigError(problems, source if source != "<string>" else "")
    workflow.code_lines = {node.id: smap.block_start(("nodes", i, "code"))[0]
                           for i, node in enumerate(spec.nodes) if node.code is not None}
    if workflow.warnings:
        warnings.warn(f"workflow `{workflow.name}`: " + "; ".join(workflow.warnings),
                      AgentsMagicWarning, stacklevel=2)
    return workflow


class Workflow:
    """A validated workflow: its spec, its YAML text, where it came from and load warnings."""

    __module__ = "agents_magic"

    def __init__(self, spec: WorkflowSpec, text: str, *, source: str = "<string>", name: str | None = None,
                 warnings: Sequence[str] = ()):
        self.spec = spec
        self.yaml = text
        self.source = source
        self.name = name or spec.flow.name
        self.warnings = list(warnings)
        self.code_lines: dict[str, int] = {}  # where each code node's `code` starts in the text
        self.source_map: SourceMap | None = None  # lines of the text's parts, for later problems
        # Where the nodes' tools come from at run time (a mapping or the notebook's namespace).
        self.functions: Mapping[str, Any] | None = None
        self._compiled: dict[Any, Any] = {}

    @property
    def hash(self) -> str:
        """Short content hash of the YAML text."""
        return hashlib.sha256(self.yaml.encode()).hexdigest()[:16]

    @property
    def required_inputs(self) -> list[str]:
        return [n for n, f in self.spec.state.fields.items() if f.required]

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.spec.nodes]

    def initial_state(self, inputs: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults plus ``inputs``, type-checked; every problem is reported in one InputError."""
        inputs = dict(inputs or {})
        fields = self.spec.state.fields
        problems = []
        state: dict[str, Any] = {}
        for name in inputs:
            if name not in fields:
                hint = did_you_mean(name, fields)
                problems.append(f"unknown input `{name}`" + (f" ({hint})" if hint else ""))
        for name, field in fields.items():
            if name in inputs:
                try:
                    value = _types.adapter(field.type, field.schema_).validate_python(inputs[name])
                    state[name] = _types.to_plain(value)
                except Exception as exc:
                    first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
                    problems.append(f"input `{name}` should be `{field.type}`: {first}, got {inputs[name]!r}")
            elif field.required:
                problems.append(f"missing required input `{name}` ({field.type})"
                                + (f": {field.description}" if field.description else ""))
            elif field.default is None:
                state[name] = None
            else:  # validated at load; coercing also gives each run its own copy
                state[name] = _types.to_plain(
                    _types.adapter(field.type, field.schema_).validate_python(field.default))
        if problems:
            raise InputError(f"{len(problems)} input problem{'s' if len(problems) > 1 else ''} for "
                             f"`{self.name}`: " + "; ".join(problems))
        return state

    def run(self, inputs: dict[str, Any] | None = None, /, **input_values: Any) -> RunResult:
        """Run synchronously; inputs by dict and/or keyword (``wf.run(topic="x")``). In a
        notebook the run shows its live view while it goes."""
        from ._api import run
        from ._settings import resolve
        from .display._live import in_kernel, progress

        values = {**(inputs or {}), **input_values}
        if not (in_kernel() and resolve().live_display):
            return run(self, values)
        self.initial_state(values)  # input mistakes are reported before anything is shown
        sink = progress(self)
        return run(self, values, sinks=[sink], refresh=sink.refresh, stream=sink.stream)

    async def arun(self, inputs: dict[str, Any] | None = None, /, **input_values: Any) -> RunResult:
        from ._api import arun

        return await arun(self, {**(inputs or {}), **input_values})

    def __repr__(self) -> str:
        return (f"<Workflow {self.name!r}: {len(self.spec.nodes)} nodes, "
                f"inputs {self.required_inputs or 'none required'}>")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(n.id)}</code></td><td>{html.escape(', '.join(n.outputs))}</td></tr>"
            for n in self.spec.nodes
        )
        return (f"<div><b>Workflow</b> <code>{html.escape(self.name)}</code> — "
                f"{len(self.spec.nodes)} nodes; required inputs: "
                f"{html.escape(', '.join(self.required_inputs) or 'none')}"
                f"<table><tr><th>node</th><th>outputs</th></tr>{rows}</table></div>")
