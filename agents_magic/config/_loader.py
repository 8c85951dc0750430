"""Read and validate workflow text into a :class:`WorkflowSpec` and its source map, or raise
ConfigError. A workflow's text is at most ``MAX_TEXT_CHARS`` characters of UTF-8.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Problem
from . import _validate
from ._schema import WorkflowSpec
from ._sourcemap import SourceMap, StructureError, format_path, parse
from ._syntax import explain

MAX_TEXT_CHARS = 4_000_000
UNIMPLEMENTED = ("tools",)  # config sections parsed and kept, not yet acted on
# configurable-agents memory keys that are accepted and not acted on.
MEMORY_UNUSED = ("max_entries", "extract_facts", "extraction_model")
_MESSAGES = {
    "missing": "missing required field `{key}`",
    "extra_forbidden": "unknown field `{key}`",
}


def read_source(text_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(text, source_label)``: a path is read, YAML text is used as is."""
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and "\n" not in text_or_path
        and text_or_path.strip().endswith((".yaml", ".yml"))
    ):
        path = Path(text_or_path)
        try:
            size = path.stat().st_size
            if size > 4 * MAX_TEXT_CHARS:  # more bytes than the cap allows characters
                raise ConfigError([_too_long(size, "bytes")], str(path))
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError([Problem(f"cannot read `{path}`: {exc.strerror}")], str(path)) from None
        try:
            return data.decode("utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise ConfigError([_not_utf8(data, exc.start)], str(path)) from None
    return str(text_or_path), "<string>"


def _too_long(size: int, unit: str) -> Problem:
    return Problem(f"the workflow is {size:,} {unit} long; the limit is {MAX_TEXT_CHARS:,} characters",
                   hint="pass large texts as inputs instead of writing them into the YAML")


def _not_utf8(data: bytes, offset: int) -> Problem:
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return Problem(f"the file is not UTF-8 text: byte 0x{data[offset]:02x} cannot be decoded",
                   data.count(b"\n", 0, offset) + 1, column, hint="save the file as UTF-8")


def parse_spec(text: str, *, line_offset: int = 0, source: str = "") -> tuple[WorkflowSpec, SourceMap]:
    """Parse and validate ``text``; every problem is collected into one ConfigError."""
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError([_too_long(len(text), "characters")], source)
    try:
        data, smap = parse(text, line_offset)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        raise ConfigError([Problem(f"malformed YAML: character {exc.character!r} is not allowed",
                                   line + line_offset, column, hint="remove it or write it as an "
                                   "escape in a double-quoted string")], source) from None
    except StructureError as exc:  # valid YAML that cannot be a workflow: already in plain words
        mark = exc.problem_mark
        line = mark.line + 1 + line_offset if mark else None
        raise ConfigError([Problem(f"malformed YAML: {exc.problem}", line, mark.column + 1 if mark else None,
                                   hint="check indentation, colons and quotes",
                                   snippet=SourceMap(text, line_offset).snippet(line))],
                          source) from None
    except yaml.MarkedYAMLError as exc:
        plain = explain(exc, text)
        line = plain.line + line_offset if plain.line else None
        raise ConfigError([Problem(plain.message, line, plain.column, hint=plain.hint,
                                   snippet=SourceMap(text, line_offset).snippet(line))],
                          source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(f"malformed YAML: {exc}")], source) from None
    if not isinstance(data, dict):
        raise ConfigError([smap.problem((), "a workflow must be a YAML mapping with `flow`, "
                                        "`state`, `nodes` and `edges`")], source)
    smap.ignored = _drop_unknown(data, WorkflowSpec, (), smap)
    problems: list[Problem] = []
    spec = None
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, data, smap)
    problems += _validate.check(data, smap)
    if problems or spec is None:
        raise ConfigError(_dedupe(problems), source)
    return spec, smap


def _drop_unknown(value: Any, annotation: Any, path: tuple[Any, ...], smap: SourceMap) -> list[str]:
    """Remove keys no version of the dialect defines, one note each with its line.

    configurable-agents' own validator ignores such keys, so a workflow written for it must load
    here too. A key close to a known one stays, to be reported as a typo with a did-you-mean.
    """
    notes: list[str] = []
    model = _model_of(annotation)
    if model is not None and isinstance(value, dict):
        if model.model_config.get("extra") == "allow":
            return notes
        allowed = [f.alias or name for name, f in model.model_fields.items()]
        for key in list(value):
            if isinstance(key, str) and key not in allowed and not _validate.did_you_mean(key, allowed):
                hint = _llm_key_hint((*path, key))
                notes.append(f"line {smap.where((*path, key), key=True)[0]}: `{format_path((*path, key))}` "
                             "is not a field of the workflow dialect and is ignored"
                             + (f" ({hint})" if hint else ""))
                del value[key]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in list(children):
        sub = _descend(annotation, key)
        if sub is not None and isinstance(child, (dict, list)):
            notes += _drop_unknown(child, sub, (*path, key), smap)
    return notes


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One problem per place (pydantic and the checks may both see it); keep the one with a hint."""
    best: dict[tuple[object, ...], Problem] = {}
    for p in problems:
        key = (p.line, p.column, p.path)
        if key not in best or (p.hint and not best[key].hint):
            best[key] = p
    return list(best.values())


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the union-member tags pydantic puts in ``loc``; keep the real data path."""
    path: list[Any] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            path.append(next(k for k in data if k == part))  # pydantic reports a True key as 1
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            path.append(part)
            data = data[part]
        elif isinstance(data, dict) and isinstance(part, str) and part.rstrip("_") in data:
            path.append(part.rstrip("_"))  # aliases: from_ → from, schema_ → schema
            data = data[path[-1]]
    return tuple(path)


def _llm_key_hint(path: tuple[Any, ...]) -> str:
    """For an LLM setting (or a near miss of one) written on a node itself: where it goes."""
    if len(path) != 3 or path[0] != "nodes":
        return ""
    settings = _allowed_keys(("nodes", path[1], "llm"))
    key = str(path[-1])
    name = key if key in settings else next(iter(difflib.get_close_matches(key, settings, 1, 0.8)), "")
    return f"`{name}` is an LLM setting: put it under the node's `llm:`" if name else ""


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """Field names (by alias) accepted at ``path`` in the schema."""
    current: Any = WorkflowSpec
    for part in path:
        current = _descend(current, part)
        if current is None:
            return []
    model = _model_of(current)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if _model_of(arg):
                return _model_of(arg)
    return None


def _descend(annotation: Any, part: Any) -> Any:
    model = _model_of(annotation)
    if model is not None and isinstance(part, str):
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    for arg in typing.get_args(annotation) or ():
        origin = typing.get_origin(arg) or arg
        if isinstance(part, int) and origin is list:
            return typing.get_args(arg)[0]
        if isinstance(part, str) and origin is dict:
            return typing.get_args(arg)[1]
    origin = typing.get_origin(annotation)
    if origin is list and isinstance(part, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _pydantic_problems(exc: ValidationError, data: Any, smap: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    seen_paths: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        loc, kind = tuple(err["loc"]), err["type"]
        path = _data_path(loc, data)
        if any(isinstance(part, bool) for part in path):
            continue  # a key YAML read as a boolean: the checks explain it with a hint
        if kind == "missing":
            key = loc[-1].rstrip("_") if isinstance(loc[-1], str) else loc[-1]
            parent = _data_path(loc[:-1], data)
            out.append(smap.problem(parent, _MESSAGES["missing"].format(key=key),
                                    f"add `{key}:` to {format_path(parent) or 'the document'}"))
            continue
        if kind == "extra_forbidden":
            key = path[-1]
            allowed = _allowed_keys(path[:-1])
            out.append(smap.problem(path, _MESSAGES["extra_forbidden"].format(key=key),
                                    _llm_key_hint(path) or _validate.did_you_mean(key, allowed)
                                    or f"allowed here: {', '.join(allowed)}", key=True))
            continue
        if path in seen_paths:  # one report per place for union types
            continue
        seen_paths.add(path)
        message = err["msg"].removeprefix("Value error, ")
        if kind == "literal_error" and path == ("schema_version",):
            out.append(smap.problem(path, f"unsupported schema_version {err['input']!r}",
                                    'use schema_version: "1.0"'))
            continue
        name = path[-1] if path and isinstance(path[-1], str) else ""
        if kind.endswith("_type") or kind.endswith("_parsing") or kind.startswith(("greater", "less")):
            message = f"`{name or format_path(path)}`: {message[0].lower()}{message[1:]}, got {err['input']!r}"
        out.append(smap.problem(path, message))
    return out


def unimplemented(spec: WorkflowSpec, smap: SourceMap) -> list[str]:
    """One note per section that is parsed but not acted on yet, with its line."""
    found = [("config", name) for name in UNIMPLEMENTED if getattr(spec.config, name) is not None]
    sections = [(("nodes", i, "memory"), node.memory) for i, node in enumerate(spec.nodes)]
    sections += [(("memory",), spec.memory), (("config", "memory"), spec.config.memory)]
    unused = [(*base, key) for base, section in sections if section is not None
              for key in MEMORY_UNUSED if getattr(section, key) is not None]
    no_network = [f"line {smap.where(('nodes', i, 'sandbox', 'network'), key=True)[0]}: code nodes "
                  "never have network access; `network: true` is ignored"
                  for i, node in enumerate(spec.nodes)
                  if isinstance(node.sandbox, dict) and node.sandbox.get("network") is True]
    return smap.ignored + no_network + [
        f"line {smap.where(path, key=True)[0]}: `{format_path(path)}` is not implemented yet "
        "and is ignored" for path in [*found, *unused]]
