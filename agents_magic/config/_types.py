"""The dialect's type strings (``str``, ``list[int]``, ``dict[str, float]``, ``object``).

Each type string becomes a Python annotation for pydantic (validation and coercion) and a
JSON schema for structured LLM output.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

SCALARS: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}
TYPE_NAMES = [*SCALARS, "list", "dict", "object", "any"]
_JSON = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_GENERIC = re.compile(r"^(list|dict)\s*\[(.*)\]$")
MAX_NESTING = 20


class TypeSyntaxError(ValueError):
    """A type string that is not part of the dialect."""


def _split_args(inner: str) -> list[str]:
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(inner):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return parts


def check(type_str: Any) -> None:
    """Raise :class:`TypeSyntaxError` unless ``type_str`` is a valid type string."""
    annotation(type_str, None)


def annotation(type_str: Any, schema: Any = None) -> Any:
    """The Python annotation for a type string (``object`` with ``schema`` → a model)."""
    if not isinstance(type_str, str):
        raise TypeSyntaxError(f"a type must be a string such as `str`, not {type_str!r}")
    text = type_str.strip()
    if text.count("[") > MAX_NESTING:
        raise TypeSyntaxError(f"`{text[:40]}…` nests more than {MAX_NESTING} types")
    if text in SCALARS:
        return SCALARS[text]
    if text in ("object", "any"):
        return _object_model(schema) if text == "object" and schema else Any
    if text in ("list", "dict"):
        return list if text == "list" else dict
    match = _GENERIC.match(text)
    if not match:
        raise TypeSyntaxError(f"unknown type `{text}`")
    kind, args = match.group(1), _split_args(match.group(2))
    if kind == "list":
        if len(args) != 1:
            raise TypeSyntaxError(f"`{text}`: list takes one type, e.g. `list[str]`")
        return list[annotation(args[0], schema)]  # type: ignore[misc]
    if len(args) != 2:
        raise TypeSyntaxError(f"`{text}`: dict takes two types, e.g. `dict[str, int]`")
    return dict[annotation(args[0]), annotation(args[1], schema)]  # type: ignore[misc]


def schema_fields(schema: Any) -> dict[str, dict[str, Any]]:
    """Normalise a nested ``schema`` (``{name: type}`` or ``{name: {type, description}}``)."""
    if not isinstance(schema, dict):
        raise TypeSyntaxError("`schema` must map field names to types")
    out = {}
    for name, spec in schema.items():
        out[str(name)] = {"type": spec} if isinstance(spec, str) else dict(spec or {})
        out[str(name)].setdefault("type", "str")
    return out


def _object_model(schema: Any) -> type[BaseModel]:
    return _object_model_cached(_freeze(schema))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: _thaw(v) for k, v in value}
    return value


@lru_cache(maxsize=256)
def _object_model_cached(frozen: Any) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, spec in schema_fields(_thaw(frozen)).items():
        fields[name] = (
            annotation(spec["type"], spec.get("schema")),
            Field(description=spec.get("description")),
        )
    return create_model("Object", __config__=ConfigDict(extra="allow"), **fields)


def json_schema(type_str: str, schema: Any = None, description: str | None = None) -> dict[str, Any]:
    """JSON schema for a type string (used for structured output)."""
    text = type_str.strip()
    out: dict[str, Any]
    if text in _JSON:
        out = {"type": _JSON[text]}
    elif text == "object" and schema:
        props = {
            name: json_schema(spec["type"], spec.get("schema"), spec.get("description"))
            for name, spec in schema_fields(schema).items()
        }
        out = {"type": "object", "properties": props, "required": list(props),
               "additionalProperties": False}
    elif text in ("object", "dict", "any"):
        out = {"type": "object"}
    elif text == "list":
        out = {"type": "array"}
    else:
        match = _GENERIC.match(text)
        if not match:
            raise TypeSyntaxError(f"unknown type `{text}`")
        args = _split_args(match.group(2))
        if match.group(1) == "list":
            out = {"type": "array", "items": json_schema(args[0], schema)}
        else:
            out = {"type": "object", "additionalProperties": json_schema(args[1], schema)}
    if description:
        out["description"] = description
    return out


@lru_cache(maxsize=512)
def _adapter(type_str: str, frozen: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation(type_str, _thaw(frozen)))


def adapter(type_str: str, schema: Any = None) -> TypeAdapter[Any]:
    """A cached pydantic TypeAdapter for a type string."""
    return _adapter(type_str, _freeze(schema))


def to_plain(value: Any) -> Any:
    """Models produced by ``object`` schemas become dicts again for the state."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
