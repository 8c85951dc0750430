"""Metrics: each scores one row's outputs and becomes a column of the results.

Given as names (``"exact"``), ``kind:argument`` strings (``"regex:^\\d+$"``,
``"numeric:0.01"``, ``"json_field:answer.city"``, ``"contains:summary"``, ``"llm_judge:Is
it polite?"``), dicts (``{"kind": "regex", "pattern": ..., "field": ..., "name": ...}``) or
Python callables ``(row, outputs) -> bool | float`` (``{"name": ..., "fn": callable}`` names
one). A metric reads one output ``field``: by default each reference field in turn (``exact``
on two references makes ``exact_a`` and ``exact_b``), else the workflow's final output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config._validate import did_you_mean
from ..errors import InputError

if TYPE_CHECKING:
    from .._workflow import Workflow

KINDS = ("exact", "contains", "regex", "numeric", "json_field", "schema_valid", "llm_judge")
NEEDS_REFERENCE = ("exact", "numeric")
ARGUMENT = {"exact": "field", "contains": "field", "regex": "pattern", "numeric": "tolerance",
            "json_field": "path", "schema_valid": "field", "llm_judge": "rubric"}
DEFAULT_TOLERANCE = 1e-6
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Metric:
    """One scoring rule; ``score`` returns a bool (pass/fail), a float, or None (not scorable)."""

    name: str
    kind: str
    field: str | None
    options: dict[str, Any] = field(default_factory=dict)
    fn: Callable[..., Any] | None = None

    @property
    def is_judge(self) -> bool:
        return self.kind == "llm_judge"

    def score(self, record: dict[str, Any], outputs: dict[str, Any],
              references: dict[str, Any], workflow: Workflow) -> bool | float | None:
        if self.fn is not None:
            value = self.fn(record, outputs)
            if value is None or isinstance(value, bool):
                return value
            return float(value)
        out = outputs.get(self.field) if self.field else None
        expected = self.options["value"] if "value" in self.options else references.get(self.field or "")
        return _SCORERS[self.kind](self, out, expected, workflow)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _exact(m: Metric, out: Any, expected: Any, wf: Any) -> bool | None:
    if expected is None:
        return None
    if isinstance(expected, str) or isinstance(out, str):
        a, b = _text(out).strip(), _text(expected).strip()
        return a.lower() == b.lower() if m.options.get("ignore_case") else a == b
    return bool(out == expected)


def _contains(m: Metric, out: Any, expected: Any, wf: Any) -> bool | None:
    if expected is None:
        return None
    needles = expected if isinstance(expected, list) else [expected]
    hay = _text(out)
    if m.options.get("ignore_case"):
        return all(_text(n).lower() in hay.lower() for n in needles)
    return all(_text(n) in hay for n in needles)


def _regex(m: Metric, out: Any, expected: Any, wf: Any) -> bool:
    return re.search(m.options["pattern"], _text(out)) is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _NUMBER.search(str(value)) if value is not None else None
    return float(match.group()) if match else None


def _numeric(m: Metric, out: Any, expected: Any, wf: Any) -> bool | None:
    want = _number(expected)
    if want is None:
        return None
    got = _number(out)
    return got is not None and abs(got - want) <= float(m.options.get("tolerance", DEFAULT_TOLERANCE))


def _at(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _MISSING
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


_MISSING = object()


def _json_field(m: Metric, out: Any, expected: Any, wf: Any) -> bool | None:
    got = _at(out, m.options["path"])
    if "value" not in m.options and isinstance(expected, (dict, list, str)):
        inner = _at(expected, m.options["path"])
        expected = inner if inner is not _MISSING else expected
    if expected is None:
        return got is not _MISSING
    return got is not _MISSING and got == expected


def _schema_valid(m: Metric, out: Any, expected: Any, wf: Workflow) -> bool:
    from ..config import _types

    spec = wf.spec.state.fields[m.field] if m.field else None
    if spec is None or out is None:
        return False
    try:
        _types.adapter(spec.type, spec.schema_).validate_python(out)
    except Exception:
        return False
    return True


_SCORERS: dict[str, Callable[..., Any]] = {
    "exact": _exact, "contains": _contains, "regex": _regex, "numeric": _numeric,
    "json_field": _json_field, "schema_valid": _schema_valid,
}


def final_output(workflow: Workflow) -> str | None:
    """The field a metric reads when nothing names one: the first output of the last node
    that leads to END (else of the last node with outputs)."""
    spec = workflow.spec
    enders = {e.from_ for e in spec.edges if e.to == "END" or (isinstance(e.to, list) and "END" in e.to)}
    nodes = [n for n in spec.nodes if n.outputs]
    for node in reversed(nodes):
        if node.id in enders:
            return node.outputs[0]
    return nodes[-1].outputs[0] if nodes else None


def build(specs: Iterable[Any] | None, workflow: Workflow, reference_fields: list[str]) -> list[Metric]:
    """Metrics from their specs; every mistake reported at once (InputError)."""
    if specs is None:
        specs = ["exact"] if reference_fields else []
    if isinstance(specs, (str, dict)) or callable(specs):
        specs = [specs]
    metrics: list[Metric] = []
    problems: list[str] = []
    for spec in specs:
        try:
            metrics.extend(_one(spec, workflow, reference_fields))
        except InputError as exc:
            problems.append(str(exc))
    names = [m.name for m in metrics]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two metrics are named `{name}`; give one a `name`")
    if problems:
        raise InputError(f"{len(problems)} metric problem{'s' if len(problems) > 1 else ''}: "
                         + "; ".join(problems))
    return metrics


def _one(spec: Any, workflow: Workflow, reference_fields: list[str]) -> list[Metric]:
    if isinstance(spec, dict) and callable(spec.get("fn")):
        spec, label = spec["fn"], spec.get("name")
    else:
        label = None
    if callable(spec) and not isinstance(spec, (str, dict)):
        name = label or getattr(spec, "__name__", None) or type(spec).__name__
        return [Metric(name if name != "<lambda>" else "custom", "callable", None, fn=spec)]
    if isinstance(spec, str):
        kind, _, argument = spec.partition(":")
        options: dict[str, Any] = {ARGUMENT[kind]: argument} if argument and kind in ARGUMENT else {}
        if argument and kind not in ARGUMENT:
            options = {"_": argument}
        spec_dict = {"kind": kind.strip(), **options}
    elif isinstance(spec, dict):
        spec_dict = dict(spec)
    else:
        raise InputError(f"a metric is a name, a dict or a callable, got {type(spec).__name__}")
    kind = str(spec_dict.pop("kind", spec_dict.pop("type", "")))
    if kind not in KINDS:
        hint = did_you_mean(kind, KINDS)
        raise InputError(f"unknown metric `{kind}`" + (f" ({hint})" if hint else "")
                         + f"; metrics: {', '.join(KINDS)} or a Python callable")
    name = spec_dict.pop("name", None)
    fields = workflow.spec.state.fields
    if kind == "numeric" and "tolerance" in spec_dict:
        try:
            spec_dict["tolerance"] = float(spec_dict["tolerance"])
        except ValueError:
            raise InputError(f"numeric: the tolerance must be a number, got "
                             f"`{spec_dict['tolerance']}`") from None
    if kind == "regex":
        try:
            re.compile(spec_dict.get("pattern") or "")
        except re.error as exc:
            raise InputError(f"regex: bad pattern `{spec_dict.get('pattern')}`: {exc}") from None
        if not spec_dict.get("pattern"):
            raise InputError("regex needs a pattern (`regex:PATTERN`)")
    if kind == "json_field" and not spec_dict.get("path"):
        raise InputError("json_field needs a path (`json_field:answer.city`)")
    if kind == "llm_judge" and not spec_dict.get("rubric"):
        raise InputError("llm_judge needs a rubric (`llm_judge:Is the answer polite?`)")
    explicit = spec_dict.pop("field", None)
    if explicit is not None:
        if explicit not in fields:
            hint = did_you_mean(explicit, fields)
            raise InputError(f"{kind}: `{explicit}` is not a state field" + (f" ({hint})" if hint else ""))
        targets = [explicit]
    elif kind in ("exact", "contains", "numeric", "json_field") and reference_fields:
        targets = list(reference_fields)
    else:
        targets = [final_output(workflow)] if final_output(workflow) else []
    if kind in NEEDS_REFERENCE and not reference_fields and "value" not in spec_dict:
        raise InputError(f"`{kind}` compares with a reference: add an `expected_<field>` column")
    if not targets:
        raise InputError(f"`{kind}` has no output field to read; name one with `field`")
    many = len(targets) > 1
    return [Metric(f"{name or kind}_{t}" if many else (name or kind), kind, t, spec_dict)
            for t in targets]
