"""A typed, documented Python function as a :class:`Tool`: the argument schema from its type hints
(through pydantic), the descriptions from its docstring, and its arguments validated before it
is called.

Such a tool is the user's own code and runs in the kernel (``in_kernel=True``): nothing confines
it, as nothing confines any other cell.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from ._tool import Tool, ToolArgumentsError

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args)\s*:?\s*$", re.I)
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_ENDS = re.compile(r"^\s*(Returns?|Yields?|Raises|Examples?|Notes?|See Also|References|"
                   r"Attributes|Warnings?)\s*:?\s*$", re.I)
_GOOGLE_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?::\s*(.*))?$")
_REST_ARG = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class FunctionTool(Tool):
    """A tool made from a Python function; ``original`` is that function, ``bound`` the keyword
    arguments fixed by configuration (hidden from the model)."""

    original: Callable[..., Any] | None = field(default=None, repr=False)
    bound: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __call__(self, *args: Any, **arguments: Any) -> Any:
        """Call as the function itself would be called (positional arguments too)."""
        if args and self.original is not None:
            arguments = dict(inspect.signature(self.original).bind_partial(*args, **arguments)
                             .arguments)
        return super().__call__(**arguments)

    def configured(self, config: Mapping[str, Any] | None) -> FunctionTool:
        """The same function with ``config`` as fixed keyword arguments."""
        if not config or self.original is None:
            return self
        return from_function(self.original, name=self.name, description=self.description,
                             bound={**self.bound, **config})


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(summary, {argument: description})`` from a Google, numpydoc or reST docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line) or line.lstrip().startswith(":"):
            break
        summary.append(line.strip())
    args: dict[str, str] = {}
    current: str | None = None
    section = False
    numpy = False
    for i, line in enumerate(lines):
        rest = _REST_ARG.match(line)
        if rest:
            current, section = rest.group(1), False
            args[current] = rest.group(2).strip()
            continue
        if _SECTION.match(line):
            section, current = True, None
            numpy = i + 1 < len(lines) and bool(_UNDERLINE.match(lines[i + 1]))
            continue
        if _ENDS.match(line) or (line.strip().startswith(":") and not rest):
            section, current = False, None
            continue
        if not section or _UNDERLINE.match(line) or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = (_NUMPY_ARG if numpy else _GOOGLE_ARG).match(line.strip())
        if match and indent <= (0 if numpy else 4):
            current = match.group(1).lstrip("*")
            args[current] = "" if numpy else (match.group(3) or "").strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(summary), args


def _arguments_model(function: Callable[..., Any], name: str, docs: Mapping[str, str],
                     bound: Mapping[str, Any]) -> Any:
    from pydantic import ConfigDict, Field, create_model

    try:
        hints = get_type_hints(function)
    except Exception:  # a hint that cannot be resolved is checked as "anything"
        hints = {}
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in bound:
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(f"tool `{name}`: positional-only argument `{param.name}` cannot be "
                            "passed by name")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=docs.get(param.name) or None))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def _strip_titles(schema: Any) -> Any:
    """pydantic's ``title`` keys repeat the names; the model does not need them."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def from_function(function: Callable[..., Any], *, name: str | None = None,
                  description: str | None = None, bound: Mapping[str, Any] | None = None
                  ) -> FunctionTool:
    """Make a :class:`Tool` of a typed, documented function (sync or async).

    Parameters
    ----------
    function
        Its type hints give the JSON schema of the arguments; its docstring's first paragraph
        is the description and its ``Args:``/``Parameters`` section describes each argument.
    name, description
        Override the function's name and docstring summary.
    bound
        Keyword arguments fixed by configuration, hidden from the model.

    Calls validate the arguments first (coercing as pydantic does); invalid arguments raise
    :class:`ToolArgumentsError`, which the tool loop sends back to the model.
    """
    if isinstance(function, Tool):
        raise TypeError(f"`{function.name}` is already a Tool")
    if not callable(function):
        raise TypeError(f"a tool must be a function, got {type(function).__name__}")
    name = name or getattr(function, "__name__", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name or ""):
        raise TypeError(f"tool name {name!r} must be 1-64 letters, digits, `_` or `-`")
    bound = dict(bound or {})
    summary, docs = parse_docstring(inspect.getdoc(function))
    unknown = [k for k in bound if k not in inspect.signature(function).parameters]
    if unknown:
        raise TypeError(f"tool `{name}` has no argument{'s' if len(unknown) > 1 else ''} "
                        + ", ".join(f"`{k}`" for k in unknown) + " to configure")
    try:
        model = _arguments_model(function, name, docs, bound)
        schema = _strip_titles(model.model_json_schema())
    except TypeError:
        raise
    except Exception as exc:  # a type pydantic cannot describe
        raise TypeError(f"tool `{name}`: cannot build an argument schema: {exc}") from None
    parameters = {"type": "object", "properties": schema.get("properties", {}), **(
        {"required": schema["required"]} if schema.get("required") else {}), **(
        {"$defs": schema["$defs"]} if schema.get("$defs") else {})}

    def validated(arguments: Mapping[str, Any]) -> dict[str, Any]:
        from pydantic import ValidationError

        try:
            checked = model.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ToolArgumentsError.of(name, exc) from None
        return {**{k: getattr(checked, k) for k in type(checked).model_fields}, **bound}

    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def call(**arguments: Any) -> Any:
            return await function(**validated(arguments))
    else:
        @functools.wraps(function)
        def call(**arguments: Any) -> Any:
            return function(**validated(arguments))

    return FunctionTool(name, description or summary or name, parameters, call, in_kernel=True,
                        original=function, bound=bound)


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Decorator: the function becomes a :class:`Tool` (still callable with keywords).

    Examples
    --------
    ::

        @agents_magic.tool
        def population(city: str) -> int:
            \"\"\"How many people live in a city.

            Args:
                city: The city's English name.
            \"\"\"
            return POPULATIONS[city]

    Use it in a workflow cell as ``tools: [population]``.
    """
    if function is None:
        return lambda f: from_function(f, name=name, description=description)
    return from_function(function, name=name, description=description)
