"""Node kinds as runners.

A runner does what is particular to one kind of node (an LLM call, sandboxed code; a tool
loop, a human step, a map over a list later) behind one protocol, :class:`NodeRunner`. The
wrapper in :mod:`._run` does what every kind shares: visits, limits, events, timing, usage,
result rows and errors. Runners are chosen by ``Node.kind``, decided when the workflow loads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..config._schema import Node
from ..config._template import lookup, reference, render
from ..errors import NodeOutputError
from .._secrets import scrub
from . import _cost, _llm
from ._structured import OutputMismatch, OutputSpec
from .events import NodeRetrying, TokenDelta

if TYPE_CHECKING:
    from ._memory import NodeMemoryIO
    from ._run import RunContext

# Reply tokens reserved against a budget for a call whose model states no output limit.
DEFAULT_RESERVED_REPLY_TOKENS = 4096


@dataclass
class Usage:
    """What one node execution has paid for so far."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    calls: int = 0


@dataclass(frozen=True)
class NodeOutcome:
    """A runner's result: state updates plus what the views and the store show of it."""

    updates: dict[str, Any]
    prompt: str = ""
    response: str = ""
    cached: bool = False


class Step:
    """One node execution as its runner sees it: the run, the node, usage and a way to pay."""

    def __init__(self, run: RunContext, node: Node, iteration: int, prior_calls: int,
                 item: int | None = None) -> None:
        self.run = run
        self.node = node
        self.iteration = iteration
        self.item = item  # the index of the item it runs for, in a map
        self.prior_calls = prior_calls  # calls this node made earlier in the run (mock scripts)
        self.target: _llm.Target | None = run.targets.get(node.id)
        self.usage = Usage()
        self.in_flight_prompt: tuple[int, float] | None = None  # tokens, cost of a call in flight
        self.closed = False  # whether its closing event (finished or failed) was emitted
        self.memory: NodeMemoryIO | None = None  # set for a node with memory
        self.tool_calls: list[dict[str, Any]] = []  # ToolCalled.record() of each tool call
        self.prompt = ""  # the rendered prompt, and the reply so far: a failed node shows them
        self.reply_parts: list[str] = []  # the reply so far, as streamed (joined when read)
        # What executes the node, as events, rows and views name it.
        self.provider, self.model = ((self.target.provider, self.target.model) if self.target
                                     else ("sandbox", "python") if node.kind == "code" else ("", ""))
        self.started = time.time()

    @property
    def response(self) -> str:
        return "".join(self.reply_parts)

    @response.setter
    def response(self, text: str) -> None:
        self.reply_parts = [text]

    def paid(self, completion: _llm.Completion) -> None:
        """Count a finished call at once, so budgets and closing events see it."""
        usage = self.usage
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.cost_usd += completion.cost_usd
        # Once tools have been called the node is in a conversation: its later calls add only
        # their retries, so `attempts` still says how often a request had to be repeated.
        usage.attempts += max(0, completion.attempts - 1) if self.tool_calls else completion.attempts
        usage.calls += 1
        self.run.add_spend(completion.cost_usd, completion.prompt_tokens + completion.completion_tokens)

    def bill_cancelled_call(self) -> None:
        """A call cancelled in flight is still billed its prompt by most providers: count it."""
        if self.in_flight_prompt is not None:
            tokens, cost = self.in_flight_prompt
            self.in_flight_prompt = None
            self.usage.prompt_tokens += tokens
            self.usage.cost_usd += cost
            self.run.add_spend(cost, tokens)


class NodeRunner(Protocol):
    """Runs one kind of node: state in, :class:`NodeOutcome` out; raises on failure."""

    async def run(self, state: dict[str, Any], step: Step) -> NodeOutcome: ...


class LLMRunner:
    """A prompt rendered from state, one model call (or, with ``tools``, a conversation in which
    the model calls them: :mod:`._tool_loop`), the reply parsed into the node's outputs (with one
    repair round-trip when it does not fit the schema)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.output = OutputSpec.of(node)
        self.renames = {local: reference(ref) for local, ref in (node.inputs or {}).items()}
        self.instructions = self.output.instructions()

    async def run(self, state: dict[str, Any], step: Step) -> NodeOutcome:
        prompt = step.prompt = render(self.node.prompt or "", state, self.renames)
        messages = ([{"role": "system", "content": self.instructions}] if self.instructions else []) + [
            {"role": "user", "content": prompt}]
        tools = step.run.tools.get(self.node.id)
        closing: dict[str, Any] = {}
        if tools:
            from ._tool_loop import ToolLoop

            loop = ToolLoop(self, step, tools)
            first = await loop.answer(messages)  # `messages` now holds the conversation
            closing = loop.closing
        else:
            first = await self._call(step, messages)
        try:
            updates = self.output.parse(first.text)
        except OutputMismatch as exc:
            problem, step.response = str(exc), first.text
        else:
            _llm.remember(step.run.cache, first)
            return NodeOutcome(updates, prompt, first.text, first.cached)
        repair = messages + [
            {"role": "assistant", "content": first.text},
            {"role": "user", "content": f"That reply was invalid: {problem}. Reply again with only "
                                        "the JSON object the schema asks for."}]
        second = await self._call(step, repair, **closing)
        try:
            updates = self.output.parse(second.text)
        except OutputMismatch as exc:
            step.response = second.text
            target = step.target
            assert target is not None
            raise NodeOutputError(f"{exc} (also after one repair request)", node=self.node.id,
                                  provider=target.provider, model=target.model,
                                  attempts=step.usage.attempts, kind="invalid_output") from None
        # The original request now replays the answer that passed.
        _llm.remember(step.run.cache, second, key=first.cache_key)
        return NodeOutcome(updates, prompt, second.text, False)

    async def _call(self, step: Step, messages: list[dict[str, Any]], *,
                    tools: list[dict[str, Any]] | None = None,
                    tool_choice: Any = None) -> _llm.Completion:
        run, target, node_id = step.run, step.target, self.node.id
        assert target is not None
        prompt_tokens = _llm.estimate_prompt_tokens(messages)
        reserved = run.reserve(node_id, _cost.cost_usd(target.provider, target.model, prompt_tokens,
                                                       reserve_tokens(target)))
        step.in_flight_prompt = (prompt_tokens, _cost.cost_usd(target.provider, target.model,
                                                               prompt_tokens, 0))
        try:
            completion = await _llm.complete(
                target, messages, tools=tools, tool_choice=tool_choice,
                response_format=self.output.response_format(),
                on_token=_token_sink(step), on_retry=_retry_sink(step),
                node_id=node_id, call_index=step.prior_calls + step.usage.calls,
                backoff_s=run.execution.retry_backoff, cache=run.cache,
                max_concurrency=run.max_concurrency)
        except asyncio.CancelledError:
            raise  # the wrapper's closing event bills the prompt of the call in flight
        except Exception:
            step.in_flight_prompt = None  # the provider refused it: nothing billed
            raise
        finally:
            run.release(reserved)
        step.in_flight_prompt = None
        step.paid(completion)
        if target.route != "mock" and completion.text:
            # A provider that echoes the key must not put it into state, events or the cache.
            completion = dataclasses.replace(completion, text=scrub(completion.text, shapes=False))
        return completion


def _token_sink(step: Step) -> Callable[[str], None] | None:
    run, node_id, item = step.run, step.node.id, step.item
    if not run.stream:
        return None

    def on_token(text: str) -> None:
        step.reply_parts.append(text)  # what a node that then fails had said
        run.emit(TokenDelta(run.run_id, node_id, text, item))

    return on_token


def _retry_sink(step: Step) -> Callable[[int, float, Any], None]:
    run, node_id, item = step.run, step.node.id, step.item

    def on_retry(attempt: int, delay: float, error: Any) -> None:
        step.response = ""  # the next attempt replies from the start
        run.emit(NodeRetrying(run.run_id, node_id, attempt, delay, str(error), error.kind, item))

    return on_retry


def reserve_tokens(target: _llm.Target) -> int:
    """Reply tokens a budget reserves for one call: the node's ``max_tokens``, else the model's
    output limit from LiteLLM's table, else :data:`DEFAULT_RESERVED_REPLY_TOKENS`."""
    if target.max_tokens:
        return int(target.max_tokens)
    info = _cost.model_info(target.provider, target.model) or {}
    limit = info.get("max_output_tokens") or info.get("max_tokens")
    return int(limit) if isinstance(limit, (int, float)) and limit > 0 else DEFAULT_RESERVED_REPLY_TOKENS


class CodeRunner:
    """Python in the sandbox: ``inputs`` from state in, ``result`` out through the node's
    outputs with the usual coercion, printed text as the response. Costs nothing."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.output = OutputSpec.of(node)
        self.renames = {local: reference(ref) for local, ref in (node.inputs or {}).items()}

    async def run(self, state: dict[str, Any], step: Step) -> NodeOutcome:
        from ..sandbox import (SandboxCodeError, SandboxError, SandboxMemoryError, SandboxTimeout,
                               run_code)
        from ..sandbox._limits import from_section

        inputs = {local: lookup(state, path) for local, path in self.renames.items()}
        shared = step.run.workflow.spec.config.sandbox
        section = {**{k: v for k, v in ((shared.model_extra or {}) if shared else {}).items()
                      if k != "workers"}, **(self.node.sandbox or {})}
        lim = from_section(section)
        retries = int(section.get("retries", 0))  # a code node is retried only if it asks
        cancel = threading.Event()
        memory = step.memory
        entries = memory.entries if memory is not None else None
        try:
            for attempt in range(1, retries + 2):
                try:
                    done = await asyncio.to_thread(run_code, self.node.code or "", inputs,
                                                   lim.timeout_s, lim.memory_mb, cpu_s=lim.cpu_s,
                                                   output_bytes=lim.output_bytes, cancel=cancel,
                                                   memory=entries)
                    break
                except (SandboxTimeout, SandboxMemoryError, SandboxCodeError) as exc:
                    if attempt > retries:
                        raise
                    step.run.emit(NodeRetrying(step.run.run_id, self.node.id, attempt, 0.0,
                                               str(exc), type(exc).__name__, step.item))
        except asyncio.CancelledError:
            cancel.set()  # the worker is killed, not left running to its own limits
            raise
        except SandboxError as exc:
            first = step.run.workflow.code_lines.get(self.node.id)
            if exc.line is None or first is None:
                raise
            # Say where the failing line is in the cell (or file), not only within `code`.
            raise type(exc)(f"{exc.reason} (line {exc.line} of `code`)",
                            line=first + exc.line - 1) from None
        if memory is not None and entries is not None:
            # What the code read is recorded; what it wrote is stored once the node succeeds.
            memory.reads += [{"namespace": memory.namespace, "key": key, "found": found}
                             for key, found in done["memory"]["reads"]]
            memory.ops = done["memory"]["writes"]
        result = done["result"]
        if self.output.schema is None:
            text = result if isinstance(result, str) else json.dumps(result)
        else:
            wrap = self.node.output_schema.type != "object"
            text = json.dumps({self.node.outputs[0] if self.node.outputs else "value": result}
                              if wrap else result)
        try:
            updates = self.output.parse(text)
        except OutputMismatch as exc:
            raise NodeOutputError(f"`result` does not fit the node's outputs: {exc}",
                                  node=self.node.id, provider="sandbox", model="python",
                                  attempts=1, kind="invalid_output") from None
        return NodeOutcome(updates, self.node.code or "", done["stdout"])


RUNNERS: dict[str, Callable[[Node], NodeRunner]] = {"llm": LLMRunner, "code": CodeRunner}


def runner_for(node: Node) -> NodeRunner:
    """The runner of ``node``'s kind (raises ``KeyError`` for kinds not built in)."""
    return RUNNERS[node.kind](node)

