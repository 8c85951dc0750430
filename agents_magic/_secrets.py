"""The secrets this process knows, kept out of everything shown or written; and event payloads
as plain, bounded JSON. Used by the engine (errors, replies, checkpoints), the stores and the
sinks alike, so it sits below all of them.

The engine never puts an API key into an event (it stays inside ``engine._llm.Target``), but
prompts, replies, inputs and error texts are user- and provider-controlled, so everything a
sink writes passes through :class:`Redactor` first: the keys this process knows — values of
well-known provider variables, of secret-looking environment variables and of every variable
a workflow names in ``api_key_env`` — are replaced, and so is anything shaped like a bearer
token or a well-known provider key. :func:`scrub` does the same for error messages and LLM
cache entries.
"""

from __future__ import annotations

import itertools
import functools
import math
import os
import re
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.I)
_KEY_ENV_IN_YAML = re.compile(r"api_key_env\s*:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")
_SHAPES = re.compile(
    r"(?i:\b(bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"              # Authorization header values
    r"|\bsk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"                  # OpenAI / Anthropic style
    r"|\bAIza[0-9A-Za-z_-]{30,}"                                     # Google API keys
    r"|(?i:\b(api[_-]?key|x-api-key|authorization)(['\"]?\s*[:=]\s*['\"]?))[^\s'\",}]{8,}")
MIN_SECRET_LEN = 8
#: Items kept of any one list or mapping in stored inputs and outputs.
MAX_ITEMS = 1000
#: Characters scanned beyond a cut, so that a key straddling it is still found whole.
SCAN_MARGIN = 1024
#: Provider key variables, whatever their names look like.
PROVIDER_KEY_VARS = frozenset({
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY",
    "MISTRAL_API_KEY", "COHERE_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_API_KEY",
    "DEEPSEEK_API_KEY", "XAI_API_KEY", "PERPLEXITYAI_API_KEY", "FIREWORKS_API_KEY",
    "OPENROUTER_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "HUGGINGFACE_API_KEY",
    "HF_TOKEN", "REPLICATE_API_KEY", "VOYAGE_API_KEY", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN"})
# Variables named in any workflow's ``api_key_env`` so far (process-wide: keys are too).
_watched: set[str] = set()


def watch_key_envs(yaml_text: str) -> None:
    """Treat the variables a workflow names in ``api_key_env`` as secrets from now on."""
    _watched.update(key_env_names(yaml_text))


def watch_key_env(name: str) -> None:
    """Treat the variable ``name`` as holding a secret from now on."""
    _watched.add(name)


def secret_values(extra_names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Values of environment variables that hold secrets, longest first."""
    # The variables' raw names, undecoded: cheap enough to check on every call.
    raw = getattr(os.environ, "_data", os.environ)
    names = _secret_names(frozenset(raw), frozenset(_watched), extra_names)
    found = set()
    for name in names:
        value = os.environ.get(name, "").strip()
        # Paths and short flags are not secrets, and redacting them would mangle text.
        if len(value) >= MIN_SECRET_LEN and not value.startswith(("/", "~")) and " " not in value:
            found.add(value)
    return tuple(sorted(found, key=len, reverse=True))


@functools.lru_cache(maxsize=8)
def _secret_names(environ: frozenset[Any], watched: frozenset[str],
                  extra: tuple[str, ...]) -> tuple[str, ...]:
    """Which variables hold secrets, worked out once per set of variable names."""
    names = (os.fsdecode(name) for name in environ)
    return tuple(name for name in names if _SECRET_NAME.search(name) or name in PROVIDER_KEY_VARS
                 or name in watched or name in extra)


def is_secret_name(name: str) -> bool:
    """Whether the environment variable ``name`` is one this project treats as a secret."""
    return bool(_SECRET_NAME.search(name)) or name in PROVIDER_KEY_VARS or name in _watched


def key_env_names(yaml_text: str) -> tuple[str, ...]:
    """Environment variables a workflow names in ``api_key_env``."""
    return tuple(dict.fromkeys(_KEY_ENV_IN_YAML.findall(yaml_text or "")))


def _shape(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)} {REDACTED}"
    if match.group(2):
        return f"{match.group(2)}{match.group(3)}{REDACTED}"
    return REDACTED


class Redactor:
    """Callable ``text -> text`` with secrets replaced by ``[REDACTED]``.

    ``refresh(yaml)`` re-reads the environment (keys may be set after the sink was made) and
    adds the variables that workflow names in ``api_key_env`` to those it watches.
    """

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.values: tuple[str, ...] = ()
        self.refresh()

    def refresh(self, yaml_text: str = "") -> None:
        watch_key_envs(yaml_text)
        self.names.update(key_env_names(yaml_text))
        self.values = secret_values(tuple(sorted(self.names)))

    def __call__(self, text: str) -> str:
        return _SHAPES.sub(_shape, _replace(text, self.values))

    def clip(self, text: str, limit: int) -> str:
        """``text`` cut to ``limit`` characters and redacted; only a bounded part is scanned, so
        a huge value costs no more than a small one."""
        if len(text) <= limit:
            return self(text)
        return self(text[:limit + SCAN_MARGIN])[:limit] + f"… [truncated {len(text) - limit} characters]"


def _replace(text: str, values: tuple[str, ...]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def scrub(text: str, *, shapes: bool = True) -> str:
    """``text`` without any key this process knows (read from the environment now); with
    ``shapes``, also without anything shaped like a key or an Authorization header."""
    text = _replace(text, secret_values())
    return _SHAPES.sub(_shape, text) if shapes else text


def scrub_data(value: Any) -> Any:
    """``value`` (JSON-like data) with every string :func:`scrub`-bed of known keys only, so a
    cached reply replays unchanged unless it held a key."""
    values = secret_values()
    if not values:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _replace(item, values)
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


_URL_PASSWORD = re.compile(r"(//[^:/@\s]*):[^@/\s]*@")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (no SQLAlchemy needed)."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


def jsonable(value: Any, redact: Redactor, limit: int, _depth: int = 0) -> Any:
    """``value`` as JSON-ready data: strings cut to ``limit`` and redacted, containers walked
    (at most :data:`MAX_ITEMS` items each), other objects by their ``repr``; non-finite floats
    become strings (PostgreSQL's JSON has no NaN)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return redact.clip(value, limit)
    if _depth > 20:
        return redact.clip(repr(value), limit)
    if isinstance(value, dict):
        out_dict = {redact.clip(str(k), 200): jsonable(v, redact, limit, _depth + 1)
                    for k, v in itertools.islice(value.items(), MAX_ITEMS)}
        if len(value) > MAX_ITEMS:
            out_dict["…"] = f"[{len(value) - MAX_ITEMS} more keys]"
        return out_dict
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        out = [jsonable(v, redact, limit, _depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out.append(f"… [{len(items) - MAX_ITEMS} more items]")
        return out
    for method in ("tolist", "item"):  # numpy / pandas scalars and arrays
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return jsonable(convert(), redact, limit, _depth + 1)
            except Exception:
                break
    if hasattr(value, "model_dump"):  # pydantic models
        try:
            return jsonable(value.model_dump(mode="json"), redact, limit, _depth + 1)
        except Exception:
            pass
    return redact.clip(repr(value), limit)
