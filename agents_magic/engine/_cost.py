"""Prices per token from LiteLLM's bundled price table, read as a file (no import, no network)."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

FREE_PROVIDERS = frozenset({"mock", "ollama"})


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """LiteLLM's local copy of the model price map (empty if LiteLLM is absent)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "model_prices_and_context_window_backup.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_info(provider: str, model: str) -> dict[str, Any] | None:
    table = price_table()
    for key in (model, f"{provider}/{model}", model.split("/", 1)[-1]):
        if key in table:
            return table[key]
    return None


def cost_usd(provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of one call; local providers and models without a price cost $0."""
    if provider in FREE_PROVIDERS:
        return 0.0
    info = model_info(provider, model) or {}
    return (prompt_tokens * float(info.get("input_cost_per_token") or 0.0)
            + completion_tokens * float(info.get("output_cost_per_token") or 0.0))
