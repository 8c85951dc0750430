"""LLM providers the engine calls without LiteLLM."""
