"""A built-in tool's `config:` checked when the tool is made (unknown keys and bad values are a
`ToolError` naming the key, with a "did you mean"), and its arguments checked at each call
(a `ToolArgumentsError`: the model's mistake, which it is always told)."""
from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError

S = TypeVar("S", bound="Settings")


class Settings(BaseModel):
    """Base of every built-in tool's configuration: frozen, no extra keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def settings(tool: str, model: type[S], config: dict[str, Any]) -> S:
    """``config`` validated as ``model``; every problem is reported at once."""
    from agents_magic.config._validate import did_you_mean

    known = list(model.model_fields)
    problems = []
    for key in config:
        if key not in known:
            hint = did_you_mean(key, known) or f"known: {', '.join(known)}"
            problems.append(f"unknown config key `{key}` ({hint})")
    if not problems:
        try:
            return model(**config)
        except ValidationError as error:
            for item in error.errors():
                where = ".".join(str(p) for p in item["loc"]) or "config"
                problems.append(f"config `{where}`: {item['msg']}")
    raise ToolError(f"{tool}: " + "; ".join(problems))


def arguments_checked(tool: Tool) -> Tool:
    """``tool`` with its arguments validated against its function's signature before each call
    (missing, unknown and mistyped arguments, values outside a ``Literal``), by pydantic's
    ``validate_call`` over a stand-in, so that nothing the tool itself raises is mistaken for a
    bad argument."""
    from pydantic import validate_call

    function = tool.function
    check = validate_call(functools.wraps(function)(lambda *args, **kwargs: (args, kwargs)))

    def validated(arguments: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        try:
            return check(**arguments)
        except ValidationError as error:
            raise ToolArgumentsError.of(tool.name, error) from None

    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_call(**arguments: Any) -> Any:
            args, kwargs = validated(arguments)
            return await function(*args, **kwargs)
        return dataclasses.replace(tool, function=async_call)

    @functools.wraps(function)
    def call(**arguments: Any) -> Any:
        args, kwargs = validated(arguments)
        return function(*args, **kwargs)
    return dataclasses.replace(tool, function=call)


def arguments(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """A built-in tool's argument schema: an object of ``properties``, ``required`` ones named,
    no others accepted."""
    return {"type": "object", "properties": properties,
            **({"required": list(required)} if required else {}), "additionalProperties": False}


def clip(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def os_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (sync or async) with operating-system failures reported as a `ToolError`."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except OSError as error:
                raise _tool_error(error) from None
        return async_wrapper

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OSError as error:
            raise _tool_error(error) from None
    return wrapper


def _tool_error(error: OSError) -> ToolError:
    where = f": {error.filename}" if error.filename else ""
    return ToolError(f"{error.strerror or error}{where}")
