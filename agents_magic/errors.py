"""Exceptions that agents_magic raises for mistakes a user can fix.

::

    AgentsMagicError            base; renders without a traceback in IPython
     ├── ConfigError            the workflow text is invalid (every problem, with line:col)
     ├── InputError             run inputs are missing or of the wrong type
     ├── BudgetExceeded         the next call would take the run over its budget
     ├── ProviderError          an LLM provider cannot be used or failed after retries
     │    └── NodeOutputError   a node's reply did not match its output schema
     └── tools.ToolError        a tool refused a call (ToolArgumentsError: its arguments)

    AgentsMagicWarning          a workflow loads, but part of it will not act as written

Bugs are not wrapped: they keep their ordinary traceback. Messages never carry an API key:
every key the process knows is scrubbed from them (``_secrets.scrub``).
"""

from __future__ import annotations

from dataclasses import dataclass


def _scrub(text: str) -> str:
    from ._secrets import scrub

    return scrub(text)


class AgentsMagicError(Exception):
    """Base of every error meant for the user rather than for a debugger."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(_scrub(a) if isinstance(a, str) else a for a in args))

    def lines(self) -> list[str]:
        """The message as display lines (header first)."""
        return [f"{type(self).__name__}: {self}"]

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback.
        return self.lines()


@dataclass(frozen=True)
class Problem:
    """One mistake in a workflow: what, where (1-based line:col, YAML path) and how to fix it."""

    message: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    hint: str = ""
    snippet: str = ""

    def __str__(self) -> str:
        text = f"line {self.line}:{self.column}: {self.message}" if self.line else self.message
        if self.path:
            text += f"  [{self.path}]"
        if self.snippet:
            text += f"\n      | {self.snippet}"
        if self.hint:
            text += f"\n      hint: {self.hint}"
        return text


class ConfigError(AgentsMagicError):
    """The workflow text is invalid; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        self.source = source
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}" + (f" in {source}" if source else ""))

    @property
    def header(self) -> str:
        """One line: how many problems, and where (``3 problems in flow.yaml``)."""
        return str(self.args[0])

    def lines(self) -> list[str]:
        return [f"ConfigError: {self.header}"] + [f"  {p}" for p in self.problems]

    def __str__(self) -> str:
        # Scripts, pytest and logs show only str(): it carries every problem, not just the count.
        return "\n".join([f"{self.header}:"] + [f"  {p}" for p in self.problems])

    def report(self) -> str:
        """The full multi-line report."""
        return "\n".join(self.lines())


class InputError(AgentsMagicError):
    """Run inputs are missing or invalid; raised before any LLM call."""


class BudgetExceeded(AgentsMagicError):
    """The next LLM call would take the run past ``budget_usd``; the run stops before it."""


class ProviderError(AgentsMagicError):
    """An LLM call could not be made or kept failing; names node, provider, model and cause."""

    def __init__(
        self,
        cause: str,
        *,
        node: str = "",
        provider: str = "",
        model: str = "",
        attempts: int = 1,
        kind: str = "error",
    ) -> None:
        cause = _scrub(cause)  # a provider may quote the key it refused
        self.cause, self.node, self.provider, self.model = cause, node, provider, model
        self.attempts, self.kind = attempts, kind
        where = f"node `{node}`" if node else "LLM call"
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        llm = "/".join(part for part in (provider, model) if part)
        super().__init__(f"{where}{f' ({llm})' if llm else ''} failed{tried}: {kind}: {cause}")


class NodeOutputError(ProviderError):
    """The model's reply could not be turned into the node's declared outputs."""


class AgentsMagicWarning(UserWarning):
    """A workflow loaded, but part of it will not act as written (a section not implemented yet)."""
