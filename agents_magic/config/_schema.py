"""Pydantic models of the workflow dialect (schema_version "1.0")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

START, END = "START", "END"
LOOP_PREFIX = "_loop_iteration_"  # state key counting a node's runs: `_loop_iteration_<id>`
MEMORY_SCOPES = ("global", "workflow", "node")
# configurable-agents calls the scope shared by every workflow `agent`.
MEMORY_SCOPE_ALIASES = {"agent": "global"}
MEMORY_MODES = ("set", "append", "add")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Open(BaseModel):
    """Sections kept as written: read as plain mappings by the feature that owns them, if any."""

    model_config = ConfigDict(extra="allow", frozen=True)


class FlowMeta(_Strict):
    name: str
    description: str | None = None
    version: str | None = None
    tags: list[str] | None = None
    author: str | None = None


class StateField(_Strict):
    type: str
    required: bool = False
    default: Any = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class StateSchema(_Strict):
    fields: dict[str, StateField]


class OutputField(_Strict):
    name: str
    type: str = "str"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class OutputSchema(_Strict):
    type: str = "str"
    fields: list[OutputField] | None = None
    description: str | None = None


class LLMSettings(_Strict):
    """LLM settings: workflow defaults, per-provider defaults or a node override."""

    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, gt=0)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float | None = Field(None, gt=0)
    max_retries: int | None = Field(None, ge=0)
    responses: list[Any] | None = None
    params: dict[str, Any] | None = None
    rpm: int | None = Field(None, gt=0, description="requests per minute sent to this endpoint")
    tpm: int | None = Field(None, gt=0, description="tokens per minute (prompt estimate + max_tokens)")


class LLMDefaults(LLMSettings):
    providers: dict[str, LLMSettings] | None = None


class RouteCondition(_Strict):
    logic: str


class Route(_Strict):
    condition: RouteCondition
    to: str

    @field_validator("condition", mode="before")
    @classmethod
    def _plain_string(cls, value: Any) -> Any:
        return {"logic": value} if isinstance(value, str) else value

    @property
    def logic(self) -> str:
        return self.condition.logic


class Loop(_Strict):
    condition_field: str
    max_iterations: int = Field(gt=0)
    exit_to: str


class Parallel(_Strict):
    """A map over a list: ``target_node`` runs once per item of ``items_field``; its results are
    collected, in item order, into ``collect_field``."""

    items_field: str
    target_node: str
    collect_field: str


class Edge(_Strict):
    from_: str = Field(alias="from")
    to: str | list[str] | None = None
    condition: str | None = None
    routes: list[Route] | None = None
    loop: Loop | None = None
    parallel: Parallel | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Edge:
        if self.parallel is not None:
            if self.to is not None or self.condition or self.routes or self.loop:
                raise ValueError("a `parallel` edge takes neither `to`, `condition`, `routes` nor `loop`")
            return self
        if self.to is None and not self.routes and self.loop is None:
            raise ValueError("an edge needs `to`, `routes`, `loop` or `parallel`")
        if self.routes and (self.to is not None or self.condition is not None):
            raise ValueError("an edge with `routes` takes neither `to` nor `condition`")
        if isinstance(self.to, list) and (self.condition or self.loop):
            raise ValueError("a fan-out edge (`to: [...]`) cannot have a condition or loop")
        return self

    @property
    def routed(self) -> bool:
        """Whether the edge chooses its target at run time (``condition``, ``routes``, ``loop``)."""
        return self.condition is not None or self.loop is not None or bool(self.routes)

    @property
    def targets(self) -> list[str]:
        """Every node this edge may lead to."""
        out = self.to if isinstance(self.to, list) else ([self.to] if self.to else [])
        out = list(out) + [r.to for r in self.routes or []]
        if self.loop:
            out += [self.loop.exit_to] + ([] if self.to else [self.from_])
        if self.parallel:
            out.append(self.parallel.target_node)
        return out


class MemoryWrite(_Strict):
    """One memory key written after the node succeeds: from ``field``, replacing the value
    (``set``), appending to a list (``append``, keeping the last ``keep`` items) or adding a
    number (``add``). ``append`` and ``add`` are atomic in the store: concurrent runs lose none."""

    field: str
    mode: Literal["set", "append", "add"] = "set"
    keep: int | None = Field(None, gt=0)


class _MemoryCommon(_Strict):
    enabled: bool | None = None
    default_scope: str | None = None
    # configurable-agents keys: accepted, not acted on (a warning says so).
    max_entries: int | None = None
    extract_facts: bool | None = None
    extraction_model: str | None = None


class NodeMemory(_MemoryCommon):
    """A node's ``memory:``: what it loads into state before it runs (``read: {state_field:
    memory_key}``), what it stores after it succeeds (``write: {memory_key: state_field}``),
    in which scope and for how long. A list names fields stored under their own names."""

    read: dict[str, str] | list[str] | None = None
    write: dict[str, str | MemoryWrite] | list[str] | None = None
    scope: str | None = None
    ttl: float | None = Field(None, gt=0, description="Seconds the written entries live.")


class WorkflowMemory(_MemoryCommon):
    """Memory defaults for every node (top-level ``memory:`` or ``config.memory:``)."""

    default_ttl: float | None = Field(None, gt=0)


class ToolRef(_Strict):
    """A node's tool: a built-in tool or a notebook function, by name (configurable-agents form)."""

    name: str
    config: dict[str, Any] | None = Field(
        None, description="The built-in tool's settings, or fixed keyword arguments of a function.")
    on_error: Literal["continue", "fail"] = Field(
        "continue", description="When a call fails: tell the model (it may try again), or fail "
                                "the node.")


class Node(_Strict):
    id: str
    name: str | None = None
    description: str | None = None
    prompt: str | None = None
    outputs: list[str] = Field(default_factory=list)
    output_schema: OutputSchema = Field(default_factory=OutputSchema)
    llm: LLMSettings | None = None
    inputs: dict[str, str] | None = None
    tools: list[str | ToolRef] | None = None
    max_tool_steps: int = Field(8, gt=0, description="Rounds of tool calls before the limit.")
    on_tool_limit: Literal["fail", "answer"] = Field(
        "fail", description="At max_tool_steps: fail the node, or ask the model to answer with "
                            "what it has (no more tools).")
    code: str | None = None
    sandbox: Any = None
    memory: NodeMemory | None = None
    optimize: Any = None
    log_prompts: bool | None = None
    log_artifacts: bool | None = None
    mlflow: _Open | None = None
    on_error: Literal["fail", "continue"] = Field(
        "fail", description="When the node fails: stop the run, or record the failure and go on "
                            "(for an item of a map: with the error in place of its result).")

    @field_validator("id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError(f"node id `{value}` must be a Python identifier (letters, digits, _)")
        if value in (START, END):
            raise ValueError(f"`{value}` is reserved for the graph's entry and exit")
        return value

    @property
    def kind(self) -> str:
        """Which runner executes the node: ``code`` or ``llm``."""
        return "code" if self.code is not None else "llm"

    @property
    def tool_refs(self) -> list[ToolRef]:
        """``tools`` with plain names as :class:`ToolRef`."""
        return [ToolRef(name=t) if isinstance(t, str) else t for t in self.tools or ()]

    @model_validator(mode="after")
    def _prompt_or_code(self) -> Node:
        if self.prompt is None and self.code is None:
            raise ValueError("a node needs a `prompt` (LLM node) or `code` (code node)")
        return self


class Execution(_Strict):
    timeout: float = Field(120, gt=0, description="Seconds allowed for one LLM call.")
    max_retries: int = Field(3, ge=0)
    retry_backoff: float = Field(0.5, ge=0, description="First retry delay in seconds; doubles.")
    max_concurrency: int = Field(16, gt=0)
    max_iterations: int = Field(25, gt=0, description="Cap on visits of one node in a run.")
    budget_usd: float | None = Field(None, ge=0)


class GlobalConfig(_Strict):
    llm: LLMDefaults | None = None
    execution: Execution = Field(default_factory=Execution)
    storage: _Open | None = None
    observability: _Open | None = None
    memory: WorkflowMemory | None = None
    profiling: _Open | None = None
    sandbox: _Open | None = None
    ab_test: _Open | None = None
    gates: list[Any] | _Open | None = None
    tools: _Open | None = None
    mlflow: _Open | None = None


class WorkflowSpec(_Strict):
    """The whole validated workflow document."""

    schema_version: Literal["1.0"] = "1.0"
    flow: FlowMeta
    state: StateSchema
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = Field(min_length=1)
    config: GlobalConfig = Field(default_factory=GlobalConfig)
    optimization: _Open | None = None
    memory: WorkflowMemory | None = None
    webhook: _Open | None = None
