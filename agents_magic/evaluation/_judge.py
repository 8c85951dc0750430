"""LLM-as-judge: a rubric, the row's input, output and reference go to a judge model, which
answers pass or fail with a reason. Judge calls pass the same process-wide limiter as every
run, are cached like any call, and their cost is kept apart from the workflow's."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from .._workflow import Workflow
    from ..engine._llm import Cache, Target

SCHEMA = {"type": "object", "properties": {"pass": {"type": "boolean"}, "reason": {"type": "string"}},
          "required": ["pass", "reason"], "additionalProperties": False}
FORMAT = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}
SYSTEM = ("You are a strict evaluator. Judge the OUTPUT against the RUBRIC (and the REFERENCE, "
          "when one is given). Reply with JSON: {\"pass\": true|false, \"reason\": \"...\"}.")


@dataclass(frozen=True)
class Verdict:
    passed: bool | None
    reason: str
    cost_usd: float
    cached: bool


def target(workflow: Workflow, llm: dict[str, Any] | str | None, fallback: dict[str, Any] | None,
           metric: str = "llm_judge") -> Target:
    """The judge's LLM: ``llm`` (``provider/model`` or a dict of provider, model, api_base, ...)
    over the workflow's ``config.llm`` and the session's default; an InputError naming the
    ``judge`` parameter when none of them names one."""
    from ..config._schema import LLMSettings
    from ..engine import _llm
    from ..engine._targets import merge

    if isinstance(llm, str):
        llm = target_dict(llm)
    settings = LLMSettings(**{k: v for k, v in (llm or {}).items() if k != "rubric"})
    if not any(merge(fallback, workflow.spec.config.llm, settings).get(k) for k in ("provider", "model")):
        raise InputError(f"`{metric}` needs a judge model and `{workflow.name}` has no config.llm: "
                         "pass judge='provider/model' (or a dict with provider, model, api_base) "
                         "to evaluate(), --judge PROVIDER/MODEL to %workflow eval, or set "
                         "config.llm in the workflow")
    execution = workflow.spec.config.execution
    resolved = _llm.resolve(settings, workflow.spec.config.llm, {}, timeout=execution.timeout,
                            max_retries=execution.max_retries, node_id="judge", fallback=fallback)
    if settings.responses is None and resolved.responses:
        # the workflow's scripted mock answers are not verdicts: the mock synthesises one
        resolved = dataclasses.replace(resolved, responses=())
    return resolved


def target_dict(name: str) -> dict[str, Any]:
    """``provider/model`` (or ``mock``, or a bare model) as LLM settings."""
    provider, _, model = name.partition("/")
    return {"provider": provider, "model": model} if model or provider == "mock" else {"model": name}


def label(llm_target: Target) -> str:
    """``provider/model``, as the summary names the judge."""
    return f"{llm_target.provider}/{llm_target.model}"


def messages(rubric: str, inputs: dict[str, Any], output: Any, reference: Any) -> list[dict[str, str]]:
    parts = [f"RUBRIC: {rubric}", f"INPUT: {json.dumps(inputs, default=str, sort_keys=True)}",
             f"OUTPUT: {output if isinstance(output, str) else json.dumps(output, default=str)}"]
    if reference is not None:
        parts.append(f"REFERENCE: {reference if isinstance(reference, str) else json.dumps(reference)}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


async def judge(llm_target: Target, rubric: str, inputs: dict[str, Any], output: Any, reference: Any,
                cache: Cache | None, max_concurrency: int | None = None) -> Verdict:
    """One verdict; an unreadable reply is a verdict of None with the reason why."""
    from ..engine import _llm

    reply = await _llm.complete(llm_target, messages(rubric, inputs, output, reference),
                                response_format=FORMAT, node_id="judge", cache=cache,
                                max_concurrency=max_concurrency)
    try:
        verdict = json.loads(reply.text)
        passed = verdict["pass"]
        if not isinstance(passed, bool):
            raise TypeError("`pass` is not a boolean")
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict(None, f"unreadable verdict ({exc}): {reply.text[:200]}", reply.cost_usd, reply.cached)
    _llm.remember(cache, reply)
    return Verdict(passed, str(verdict.get("reason", "")), reply.cost_usd, reply.cached)
