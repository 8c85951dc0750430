"""A/B variants: named sets of overrides applied to the workflow's YAML.

From Python, ``{"A": {}, "B": {"nodes.summarize.prompt": "...", "config.llm.model": "..."}}``:
dotted paths into the YAML document, where a segment after ``nodes`` is a node id. From the
workflow, ``config.ab_test`` in the configurable-agents form: ``variants: [{name, prompt,
node_id, config_overrides}]`` and ``run_count`` (the repeats).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config._validate import did_you_mean
from ..errors import AgentsMagicError, AgentsMagicWarning, InputError

if TYPE_CHECKING:
    from .._workflow import Workflow

BASELINE = "baseline"


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]
    workflow: Workflow


def from_config(workflow: Workflow) -> tuple[dict[str, dict[str, Any]] | None, int | None]:
    """The variants and run count of ``config.ab_test`` (None when it declares none)."""
    ab = workflow.spec.config.ab_test
    if ab is None:
        return None, None
    data = ab.model_dump()
    if data.get("enabled") is False:
        return None, None
    llm_nodes = [n.id for n in workflow.spec.nodes if n.kind == "llm"]
    variants: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(data.get("variants") or []):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InputError(f"config.ab_test.variants[{i}] needs a `name`")
        node = entry.get("node_id") or (llm_nodes[0] if len(llm_nodes) == 1 else None)
        overrides: dict[str, Any] = {}
        if entry.get("prompt") is not None:
            if node is None:
                raise InputError(f"config.ab_test.variants[{i}] (`{entry['name']}`) sets a prompt: "
                                 "name the node with `node_id`")
            overrides[f"nodes.{node}.prompt"] = entry["prompt"]
        for key, value in (entry.get("config_overrides") or {}).items():
            path = key if "." in key else (f"nodes.{node}.llm.{key}" if entry.get("node_id")
                                           else f"config.llm.{key}")
            overrides[path] = value
        variants[str(entry["name"])] = overrides
    run_count = data.get("run_count")
    return (variants or None), (int(run_count) if run_count else None)


def build(workflow: Workflow, variants: dict[str, dict[str, Any]] | None) -> list[Variant]:
    """One :class:`Variant` per entry (the workflow as it is when none are given); every
    variant's workflow is loaded and validated here, before any call."""
    if not variants:
        return [Variant(BASELINE, {}, workflow)]
    if not isinstance(variants, dict):
        raise InputError(f"variants must be a dict of name -> overrides, got {type(variants).__name__}")
    out = []
    for name, overrides in variants.items():
        if not isinstance(overrides, dict):
            raise InputError(f"variant `{name}`: overrides must be a dict of dotted path -> value")
        out.append(Variant(str(name), dict(overrides), apply(workflow, overrides, str(name))))
    return out


def apply(workflow: Workflow, overrides: dict[str, Any], name: str = "") -> Workflow:
    """The workflow with ``overrides`` applied to its own text (comments and layout kept; the
    same object when there are none)."""
    if not overrides:
        return workflow
    import yaml

    from .._workflow import load
    from ._yamledit import set_path

    text, expected = workflow.yaml, copy.deepcopy(yaml.safe_load(workflow.yaml))
    for path, value in overrides.items():
        check_path(str(path), name)
        try:
            text = set_path(text, str(path), value)
        except InputError as exc:
            raise InputError(f"variant `{name}`: {exc}") from None
        _set(expected, str(path), value, name)
    if yaml.safe_load(text) != expected:  # a corner the text edit does not cover: re-dump
        warnings.warn(f"variant `{name}`: the workflow's formatting could not be kept",
                      AgentsMagicWarning, stacklevel=2)
        text = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=100)
    try:
        variant = load(text, name=workflow.name)
    except AgentsMagicError as exc:
        raise InputError(f"variant `{name}` makes an invalid workflow: {exc}") from None
    variant.source = workflow.source
    return variant


def check_path(path: str, name: str = "") -> None:
    """Check a dotted override path against the workflow schema's keys (did-you-mean), before
    any call; free-form sections (``config.ab_test``, ``state.fields``, ...) are not checked."""
    from pydantic import BaseModel

    from ..config._schema import WorkflowSpec, _Open

    model: Any = WorkflowSpec
    parts = path.split(".")
    skip_id = False
    for i, part in enumerate(parts):
        if skip_id:
            skip_id = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or issubclass(model, _Open):
            return
        fields = {f.alias or n: f.annotation for n, f in model.model_fields.items()}
        if part not in fields:
            where = ".".join(parts[:i]) or "the workflow"
            hint = did_you_mean(part, fields)
            raise InputError(f"variant `{name}`: `{path}`: `{part}` is not a key of {where}"
                             + (f" ({hint})" if hint else f"; keys: {', '.join(fields)}"))
        model, skip_id = _inner(fields[part])


def _inner(annotation: Any) -> tuple[Any, bool]:
    """The model a field holds (and whether it is a list of them, addressed by id)."""
    import typing

    from pydantic import BaseModel

    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, False
        if typing.get_origin(arg) is list:
            item = typing.get_args(arg)[0] if typing.get_args(arg) else None
            if isinstance(item, type) and issubclass(item, BaseModel):
                return item, True
    return None, False


def _set(data: Any, path: str, value: Any, name: str) -> None:
    parts = path.split(".")
    here = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(here, list):  # nodes: pick the node by id
            ids = [n.get("id") for n in here if isinstance(n, dict)]
            if part not in ids:
                hint = did_you_mean(part, [str(x) for x in ids])
                raise InputError(f"variant `{name}`: `{path}` names no node `{part}`"
                                 + (f" ({hint})" if hint else ""))
            node = here[ids.index(part)]
            if last:
                raise InputError(f"variant `{name}`: `{path}` must name a node's key, such as "
                                 f"`{path}.prompt`")
            here = node
            continue
        if not isinstance(here, dict):
            raise InputError(f"variant `{name}`: `{'.'.join(parts[:i])}` is not a mapping in `{path}`")
        if last:
            here[part] = value
        else:
            if here.get(part) is None:
                here[part] = {}
            here = here[part]
