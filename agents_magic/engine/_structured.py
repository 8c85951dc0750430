"""Structured output: a node's ``output_schema`` as JSON schema, and replies parsed into outputs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..config import _types
from ..config._schema import Node

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


class OutputMismatch(ValueError):
    """The reply does not fit the schema; the message names the field."""


@dataclass(frozen=True)
class OutputSpec:
    """How one node's reply becomes state updates."""

    node: Node
    schema: dict[str, Any] | None  # None: plain text into the single output

    @classmethod
    def of(cls, node: Node) -> OutputSpec:
        out = node.output_schema
        if out.type == "str" and not out.fields:
            return cls(node, None)
        if out.type == "object":
            fields = {f.name: {"type": f.type, "description": f.description, "schema": f.schema_}
                      for f in out.fields or []}
            return cls(node, _types.json_schema("object", fields, out.description))
        key = node.outputs[0] if node.outputs else "value"
        return cls(node, _types.json_schema("object", {key: {"type": out.type,
                                                               "description": out.description}}))

    def response_format(self) -> dict[str, Any] | None:
        if self.schema is None:
            return None
        return {"type": "json_schema",
                "json_schema": {"name": f"{self.node.id}_output", "schema": self.schema, "strict": True}}

    def instructions(self) -> str | None:
        if self.schema is None:
            return None
        return ("Reply with only a JSON object matching this JSON schema, no prose:\n"
                + json.dumps(self.schema, separators=(",", ":")))

    def parse(self, text: str) -> dict[str, Any]:
        """The state updates for ``text``; raise :class:`OutputMismatch` naming the field."""
        node = self.node
        if self.schema is None:
            return {node.outputs[0]: text} if node.outputs else {}
        match = _FENCE.match(text)
        raw = match.group(1) if match else text.strip()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise OutputMismatch(f"reply is not valid JSON ({exc.msg} at char {exc.pos}): {text[:80]!r}") from None
        if node.output_schema.type != "object" and not isinstance(data, dict):
            # a bare value (`7`, `["a", "b"]`) is what models, and users' scripted replies, often
            # give for a one-value schema instead of the `{"score": 7}` they were asked for
            data = {node.outputs[0] if node.outputs else "value": data}
        if not isinstance(data, dict):
            raise OutputMismatch(f"reply is JSON but not an object: {text[:80]!r}")
        out: dict[str, Any] = {}
        if node.output_schema.type == "object":
            specs = {f.name: f for f in node.output_schema.fields or []}
            wanted = node.outputs or list(specs)
            for name in wanted:
                field = specs.get(name)
                out[name] = self._coerce(data, name, field.type if field else "any",
                                         field.schema_ if field else None)
        else:
            key = node.outputs[0] if node.outputs else "value"
            value = self._coerce(data, key, node.output_schema.type, None)
            if node.outputs:
                out[key] = value
        return out

    def _coerce(self, data: dict[str, Any], name: str, type_str: str, schema: Any) -> Any:
        if name not in data:
            raise OutputMismatch(f"field `{name}` is missing from the reply (got keys {sorted(data)})")
        try:
            return _types.to_plain(_types.adapter(type_str, schema).validate_python(data[name]))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise OutputMismatch(
                f"field `{name}` should be `{type_str}`: {first['msg']}, got {data[name]!r}") from None
