"""Tools by name: the built-ins, and the functions a workflow may use (from the notebook's
namespace or passed from Python), bound to each node's ``tools:`` entries.

A name in ``tools:`` is a built-in when :data:`BUILTINS` has it (built-in names are reserved);
otherwise it names a function given with ``tools=`` or defined in the notebook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._function import FunctionTool, from_function
from ._tool import Tool, ToolError
from .builtin import BUILTINS

if TYPE_CHECKING:
    from ..config._schema import WorkflowSpec
    from ..config._sourcemap import SourceMap
    from ..errors import Problem


class UnknownToolError(ToolError, KeyError):
    """No built-in tool has that name."""

    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str, **config: Any) -> Tool:
    """The built-in tool ``name``, configured with ``config`` (what a node's ``config:`` holds).

    Examples
    --------
    ::

        read = agents_magic.tools.get("file_read", roots=["data/"])
        read(path="notes.txt")  # relative paths start at the first root: data/notes.txt
    """
    from ..config._validate import did_you_mean

    factory = BUILTINS.get(name)
    if factory is None:
        hint = did_you_mean(name, BUILTINS)
        known = ", ".join(sorted(BUILTINS)) or "none yet"
        raise UnknownToolError(f"unknown built-in tool `{name}`" + (f"; {hint}" if hint else "")
                               + f" (built-in tools: {known})")
    return factory(**config)


def functions_of(tools: Mapping[str, Any] | Iterable[Any] | None) -> Mapping[str, Any]:
    """``tools=`` as a name → function mapping: a mapping as is (a notebook's namespace stays
    live), a list keyed by each tool's (or function's) name."""
    if tools is None:
        return {}
    if isinstance(tools, Mapping):
        return tools
    out: dict[str, Any] = {}
    for item in tools:
        name = item.name if isinstance(item, Tool) else getattr(item, "__name__", None)
        if not name or not callable(item):
            raise TypeError(f"tools=[...] takes functions and Tools, got {item!r}")
        out[name] = item
    return out


@dataclass(frozen=True)
class NodeTool:
    """A tool as one node uses it: the tool, and whether its errors fail the node."""

    tool: Tool
    on_error: str = "continue"  # continue: the error goes back to the model | fail


def _from_value(value: Any, name: str, config: Mapping[str, Any] | None) -> Tool:
    if isinstance(value, FunctionTool):
        tool = value.configured(config)
    elif isinstance(value, Tool):
        if config:
            raise TypeError(f"`{name}` is a ready-made Tool; `config` applies to built-in tools "
                            "and plain functions")
        tool = value
    else:
        tool = from_function(value, name=name, bound=config)
    # The model knows the tool by the name the workflow gives it.
    return tool if tool.name == name else _renamed(tool, name)


def _renamed(tool: Tool, name: str) -> Tool:
    import dataclasses

    return dataclasses.replace(tool, name=name)


def bind(spec: WorkflowSpec, smap: SourceMap, functions: Mapping[str, Any] | None
         ) -> tuple[dict[str, list[NodeTool]], list[Problem]]:
    """Every LLM node's tools, with a problem (line, column, hint) for each entry that cannot be
    made. With ``functions=None`` names that are not built in are left out unreported (they may
    be given when the workflow runs)."""
    from ..config._validate import did_you_mean

    bound: dict[str, list[NodeTool]] = {}
    problems: list[Problem] = []
    for i, node in enumerate(spec.nodes):
        if not node.tools or node.kind != "llm":
            continue
        for j, entry in enumerate(node.tool_refs):
            path: tuple[Any, ...] = ("nodes", i, "tools", j)
            name_path = path if isinstance(node.tools[j], str) else (*path, "name")
            made: Tool | None = None
            try:
                if entry.name in BUILTINS:
                    made = get(entry.name, **(entry.config or {}))
                elif functions is not None and entry.name in functions:
                    value = functions[entry.name]
                    if not callable(value):
                        problems.append(smap.problem(name_path, f"tool `{entry.name}` is a "
                                        f"{type(value).__name__} in the notebook, not a function"))
                        continue
                    made = _from_value(value, entry.name, entry.config)
                elif functions is not None:
                    callables = [k for k, v in functions.items()
                                 if callable(v) and not k.startswith("_") and not isinstance(v, type)]
                    hint = did_you_mean(entry.name, [*BUILTINS, *callables])
                    problems.append(smap.problem(
                        name_path, f"unknown tool `{entry.name}`: not a built-in tool, and no "
                        "function of that name was given",
                        hint or f"define a function `{entry.name}` in the notebook (or pass "
                        f"tools={{'{entry.name}': f}}); built-in tools: "
                        f"{', '.join(sorted(BUILTINS)) or 'none'}"))
                    continue
            except (TypeError, ValueError, ToolError) as exc:
                where = (*path, "config") if entry.config else name_path
                said = str(exc).removeprefix(f"{entry.name}: ")  # a built-in's own prefix
                problems.append(smap.problem(where, f"tool `{entry.name}`: {said}"))
                continue
            if made is not None:
                bound.setdefault(node.id, []).append(NodeTool(made, entry.on_error))
    return bound, problems


def node_tools(workflow: Any, functions: Mapping[str, Any] | None) -> dict[str, list[NodeTool]]:
    """Bind ``workflow``'s tools for a run, or raise ConfigError before any call."""
    from ..config._sourcemap import SourceMap
    from ..errors import ConfigError

    source = workflow.source if workflow.source != "<string>" else ""
    smap = workflow.source_map or SourceMap(workflow.yaml)
    bound, problems = bind(workflow.spec, smap, functions or {})
    if problems:
        raise ConfigError(problems, source)
    return bound

