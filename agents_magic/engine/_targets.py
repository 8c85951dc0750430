"""Where a node's LLM lives: its settings merged layer by layer into one checked :class:`Target`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ..config._schema import LLMDefaults, LLMSettings
from ..errors import ProviderError

OPENAI_BASE = "https://api.openai.com/v1"
OLLAMA_BASE = "http://127.0.0.1:11434"
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY",
           "gemini": "GEMINI_API_KEY"}
LITELLM_PREFIX = {"google": "gemini", "ollama": "ollama_chat"}
SETTING_NAMES = ("provider", "model", "temperature", "max_tokens", "api_base", "api_key_env",
                 "timeout", "max_retries", "responses", "params", "rpm", "tpm")


@dataclass(frozen=True)
class Target:
    """A node's resolved LLM: where and how to call it. ``api_key`` never leaves this object."""

    provider: str
    model: str
    route: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    max_retries: int = 3
    responses: tuple[Any, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    rpm: int | None = None
    tpm: int | None = None


def merge(*layers: LLMSettings | dict[str, Any] | None) -> dict[str, Any]:
    """Later layers win; ``None`` values never override."""
    out: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        items = layer.items() if isinstance(layer, dict) else ((n, getattr(layer, n, None)) for n in SETTING_NAMES)
        out.update({k: v for k, v in items if v is not None and k in SETTING_NAMES})
    return out


def _read_key(key_env: str | None, node_id: str, provider: str, model: str) -> str | None:
    """The key in ``$key_env``; whitespace or control characters in it are reported here, by
    the variable's name, instead of failing later inside the HTTP client."""
    if key_env:
        from .._secrets import watch_key_env

        watch_key_env(key_env)  # its value is a secret from now on, whatever its name
    key = os.environ.get(key_env) if key_env else None
    if key and (key != key.strip() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in key)):
        raise ProviderError(f"the API key in ${key_env} contains whitespace or control characters "
                            "(a trailing newline?); set it without them", node=node_id,
                            provider=provider, model=model, kind="auth")
    return key


def resolve(node_llm: LLMSettings | None, defaults: LLMDefaults | None, overrides: dict[str, Any],
            *, timeout: float, max_retries: int, node_id: str = "",
            fallback: dict[str, Any] | None = None) -> Target:
    """Merge session fallback ← workflow defaults ← per-provider defaults ← node ← run overrides,
    and check the result can be called."""
    overrides = _provider_from_model(overrides)
    workflow = merge(fallback, defaults, node_llm)
    first = merge(workflow, overrides)
    provider = first.get("provider")
    model = str(first.get("model") or "")
    if not provider and "/" in model:
        provider = model.split("/", 1)[0]
    per_provider = (defaults.providers or {}).get(provider or "") if defaults else None
    s = merge(fallback, defaults, per_provider, node_llm, overrides)
    if (overrides.get("provider") not in (None, workflow.get("provider")) and "api_base" not in overrides
            and not (per_provider and per_provider.api_base)):
        s.pop("api_base", None)  # the workflow's endpoint belongs to the provider being replaced
    provider = s.get("provider") or provider
    model = str(s.get("model") or "")
    if not provider and not model:
        raise ProviderError("no LLM is configured: set config.llm.provider and model "
                            "(or provider: mock to run offline)", node=node_id, kind="config")
    if provider and model.startswith(f"{provider}/"):
        model = model.split("/", 1)[1]
    retries = int(s["max_retries"] if s.get("max_retries") is not None else max_retries)
    if provider == "mock":
        from .providers._mock import check_responses

        responses = tuple(s.get("responses") or ())
        problem = check_responses(responses)
        if problem:
            raise ProviderError(problem, node=node_id, provider="mock", model=model or "mock",
                                kind="config")
        return Target("mock", model or "mock", "mock", timeout=timeout, max_retries=retries,
                      responses=responses,
                      params=tuple((s.get("params") or {}).items()))
    if not model:
        if provider not in (None, "openai", "ollama"):  # an unknown provider is the first problem
            from .providers._litellm import check_provider

            check_provider(SimpleNamespace(provider=str(provider), model=""), node_id)
        raise ProviderError(f"no model given for provider `{provider}`", node=node_id,
                            provider=str(provider), kind="config")
    api_base = s.get("api_base")
    key_env = s.get("api_key_env") or KEY_ENV.get(str(provider))
    api_key = _read_key(key_env, node_id, str(provider or "openai"), model)
    if s.get("api_key_env") and not api_key:
        raise ProviderError(f"missing API key: environment variable ${key_env} is not set",
                            node=node_id, provider=str(provider), model=model, kind="auth")
    if provider in ("openai", "ollama") or (api_base and provider in (None, "openai")):
        route = "http"
        if provider == "ollama":
            base = (api_base or OLLAMA_BASE).rstrip("/")
            api_base = base if base.endswith("/v1") else base + "/v1"
        elif not api_base:
            api_base = OPENAI_BASE
            if not api_key:
                raise ProviderError("missing API key: set $OPENAI_API_KEY (or name another "
                                    "variable with llm.api_key_env)", node=node_id,
                                    provider="openai", model=model, kind="auth")
    else:
        route = "litellm"
        if key_env and not api_key and not api_base and provider in KEY_ENV:
            raise ProviderError(f"missing API key: set ${key_env}", node=node_id,
                                provider=str(provider), model=model, kind="auth")
    return Target(
        provider=str(provider or "openai"), model=model, route=route, api_base=api_base,
        api_key=api_key, temperature=s.get("temperature"), max_tokens=s.get("max_tokens"),
        timeout=float(s.get("timeout") or timeout),
        max_retries=retries, params=tuple((s.get("params") or {}).items()), rpm=s.get("rpm"), tpm=s.get("tpm"),
    )


def resolve_nodes(spec: Any, overrides: dict[str, Any],
                  fallback: dict[str, Any] | None = None) -> dict[str, Target]:
    """Every LLM node's target (code nodes have none), checked before any call; one error names all problems, each
    cause once with the nodes it affects."""
    from .providers._litellm import check_provider

    execution = spec.config.execution
    targets: dict[str, Target] = {}
    problems: dict[tuple[str, str, str, str], list[str]] = {}
    for node in spec.nodes:
        if node.kind == "code":
            continue  # runs in the sandbox: no LLM target
        try:
            target = resolve(node.llm, spec.config.llm, overrides, timeout=execution.timeout,
                             max_retries=execution.max_retries, node_id=node.id, fallback=fallback)
            if target.route == "litellm":
                check_provider(target, node.id)
            targets[node.id] = target
        except ProviderError as exc:
            problems.setdefault((exc.cause, exc.kind, exc.provider, exc.model), []).append(node.id)
    if len(problems) == 1:
        (cause, kind, provider, model), nodes = next(iter(problems.items()))
        raise ProviderError(cause, node="`, `".join(nodes), provider=provider, model=model, kind=kind)
    if problems:
        raise ProviderError("; ".join(
            f"{', '.join(f'`{n}`' for n in nodes)} ({provider or '?'}/{model or '?'}): {kind}: {cause}"
            for (cause, kind, provider, model), nodes in problems.items()), kind="config")
    return targets


def _provider_from_model(overrides: dict[str, Any]) -> dict[str, Any]:
    """``--model anthropic/claude-...`` alone also switches the provider to ``anthropic``."""
    model = overrides.get("model")
    if overrides.get("provider") or not isinstance(model, str) or "/" not in model:
        return overrides
    from ..config._validate import PROVIDERS

    prefix = model.split("/", 1)[0]
    return {**overrides, "provider": prefix} if prefix in PROVIDERS else overrides
