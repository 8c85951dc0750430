"""Checks that need the whole workflow: names, references, conditions and graph shape.

They run on the raw parsed data, defensively, so they can report alongside pydantic's own
problems: a user sees every mistake in one go.
"""

from __future__ import annotations

import ast
import difflib
import re
from typing import Any

from ..errors import Problem
from . import _types
from ._conditions import ConditionSyntaxError, compile_condition
from ._graph import meeting_points, outside_feeders, reachable, reverse
from ._schema import END, LOOP_PREFIX, MEMORY_SCOPE_ALIASES, MEMORY_SCOPES, START
from ._sourcemap import SourceMap, format_path
from ._template import placeholders, private, reference

MAP_LOCALS = ("item", "index")  # what a map target's prompt may read besides the state
PROVIDERS = ("openai", "anthropic", "google", "gemini", "ollama", "mock", "azure", "groq",
             "mistral", "bedrock", "vertex_ai", "openrouter", "together_ai", "deepseek", "xai")


TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what providers accept as a function name


def did_you_mean(word: Any, choices: Any) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else ""


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


class _Checker:
    def __init__(self, data: dict[str, Any], smap: SourceMap) -> None:
        self.data, self.smap, self.problems = data, smap, []
        state = data.get("state")
        fields = state.get("fields") if isinstance(state, dict) else None
        self.fields: dict[str, Any] = fields if isinstance(fields, dict) else {}
        self.nodes = _dicts(data.get("nodes"))
        self.edges = _dicts(data.get("edges"))
        self.ids = [n.get("id") for _, n in self.nodes if isinstance(n.get("id"), str)]
        self.known = {*self.ids, START, END}
        # Map targets: node id → the `parallel:` block that runs it once per item.
        self.mapped = {p["target_node"]: p for _, e in self.edges
                       if isinstance(p := e.get("parallel"), dict) and isinstance(p.get("target_node"), str)}

    def add(self, path: tuple[Any, ...], message: str, hint: str = "", *, key: bool = False) -> None:
        self.problems.append(self.smap.problem(path, message, hint, key=key))

    def add_at(self, path: tuple[Any, ...], needle: str, message: str, hint: str = "", *,
               reference: bool = False) -> None:
        line, column = self.smap.find_in_line(path, needle, reference=reference)
        self.problems.append(Problem(message, line, column, format_path(path), hint, self.smap.snippet(line)))

    # -- state -------------------------------------------------------------------------------
    def state(self) -> None:
        for name, spec in self.fields.items():
            base = ("state", "fields", name)
            if not isinstance(spec, dict) or "type" not in spec:
                continue  # pydantic reports the shape
            try:
                _types.check(spec["type"])
            except _types.TypeSyntaxError as exc:
                word = str(spec["type"]).split("[")[0]
                self.add((*base, "type"), str(exc), did_you_mean(word, _types.TYPE_NAMES)
                         or "types: str int float bool list[T] dict[K,V] object")
                continue
            if spec.get("required") and spec.get("default") is not None:
                self.add((*base, "default"), f"`{name}` is required and also has a default",
                         "drop `required: true` or the default")
            if spec.get("default") is not None:
                try:
                    _types.adapter(spec["type"], spec.get("schema")).validate_python(
                        spec["default"], strict=True)
                except Exception:
                    self.add((*base, "default"),
                             f"default {spec['default']!r} is not a valid `{spec['type']}`")

    def state_ref(self, path: tuple[str, ...], where: tuple[Any, ...], text: str,
                  locals_: tuple[str, ...] = (), *, reference: bool = False) -> None:
        if not path:
            self.add_at(where, text, f"empty reference `{text}`")
            return
        head = path[0]
        if private(path):
            self.add_at(where, text, f"`{text}`: names starting with `_` are not allowed",
                        "refer to state fields and their keys", reference=reference)
            return
        if head in locals_ or head.startswith(LOOP_PREFIX):
            return
        if head not in self.fields:
            self.add_at(where, text, f"`{text}` refers to undefined state field `{head}`",
                        did_you_mean(head, [*self.fields, *locals_]) or "declare it under state.fields",
                        reference=reference)
            return
        spec = self.fields[head]
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if len(path) > 1 and isinstance(schema, dict) and path[1] not in schema:
            self.add_at(where, text, f"`{text}`: `{head}` has no field `{path[1]}`",
                        did_you_mean(path[1], schema), reference=reference)

    # -- nodes -------------------------------------------------------------------------------
    def nodes_(self) -> None:
        seen: set[str] = set()
        for i, node in self.nodes:
            base = ("nodes", i)
            node_id = node.get("id")
            if isinstance(node_id, str):
                if node_id in seen:
                    self.add((*base, "id"), f"duplicate node id `{node_id}`", "node ids must be unique")
                seen.add(node_id)
            outputs = node.get("outputs") if isinstance(node.get("outputs"), list) else []
            for j, out in enumerate(outputs):
                if isinstance(out, str) and out not in self.fields:
                    self.add((*base, "outputs", j), f"output `{out}` is not declared in state.fields",
                             did_you_mean(out, self.fields) or f"add `{out}` under state.fields")
            self.output_schema(node, base, outputs)
            renames = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
            locals_ = (*renames, *MAP_LOCALS) if node_id in self.mapped else tuple(renames)
            for local, ref in renames.items():
                if isinstance(ref, str):
                    self.state_ref(reference(ref), (*base, "inputs", local), ref,
                                   MAP_LOCALS if node_id in self.mapped else ())
            prompt = node.get("prompt")
            if isinstance(prompt, str):
                for ph in placeholders(prompt):
                    if ph.text.replace(" ", "").startswith("{state."):
                        self.state_ref(ph.path, (*base, "prompt"), ph.text)
                    else:
                        self.state_ref(ph.path, (*base, "prompt"), ph.text, locals_)
            self.llm(node.get("llm"), (*base, "llm"))
            if "code" in node:
                self.code(node, base)
            if isinstance(node.get("memory"), dict):
                self.memory(node, base)
            if isinstance(node.get("tools"), list):
                self.tools(node, base)

    def memory_scope(self, section: dict[str, Any], base: tuple[Any, ...]) -> None:
        scopes = [*MEMORY_SCOPES, *MEMORY_SCOPE_ALIASES]
        for key in ("scope", "default_scope"):
            value = section.get(key)
            if value is not None and value not in scopes:
                self.add((*base, key), f"unknown memory scope `{value}`",
                         did_you_mean(value, scopes) or f"scopes: {', '.join(MEMORY_SCOPES)}")

    def memory_field(self, name: Any, path: tuple[Any, ...], *, key: bool = False) -> None:
        if isinstance(name, str) and name not in self.fields:
            self.add(path, f"memory field `{name}` is not a state field",
                     did_you_mean(name, self.fields) or f"declare `{name}` under state.fields",
                     key=key)

    def memory(self, node: dict[str, Any], base: tuple[Any, ...]) -> None:
        """A node's ``memory:``: known scope, state fields that exist, not on a map target."""
        section, path = node["memory"], (*base, "memory")
        self.memory_scope(section, path)
        if node.get("id") in self.mapped:
            self.add(path, f"`{node.get('id')}` runs once per item of a map, which cannot "
                     "read or write memory", "give memory to the node before or after the map")
        read, write = section.get("read"), section.get("write")
        if isinstance(read, dict):
            for field in read:
                self.memory_field(field, (*path, "read", field), key=True)
        for spec, name in ((read, "read"), (write, "write")):
            if isinstance(spec, list):
                for j, field in enumerate(spec):
                    self.memory_field(field, (*path, name, j))
        if isinstance(write, dict):
            for memory_key, target in write.items():
                where = (*path, "write", memory_key)
                if isinstance(target, dict):
                    self.memory_field(target.get("field"), (*where, "field"))
                else:
                    self.memory_field(target, where)

    def tools(self, node: dict[str, Any], base: tuple[Any, ...]) -> None:
        """Tool names a provider accepts, each once, on an LLM node."""
        if "code" in node and node["tools"]:
            self.add((*base, "tools"), "a code node cannot call tools",
                     "give the tools to an LLM node (one with `prompt` and no `code`)", key=True)
            return
        seen: set[str] = set()
        for j, entry in enumerate(node["tools"]):
            name = entry.get("name") if isinstance(entry, dict) else entry
            path = (*base, "tools", j) if isinstance(entry, str) else (*base, "tools", j, "name")
            if not isinstance(name, str):
                continue  # pydantic reports the shape
            if not TOOL_NAME.fullmatch(name):
                self.add(path, f"tool name `{name}` must be 1-64 letters, digits, `_` or `-`")
            elif name in seen:
                self.add(path, f"tool `{name}` is listed twice", "list each tool once")
            seen.add(name)

    def code(self, node: dict[str, Any], base: tuple[Any, ...]) -> None:
        """A code node: its Python parses, imports only allowed modules; its sandbox is known."""
        from ..sandbox._policy import ALLOWED_MODULES, blocked_import_message

        # A `prompt` beside `code` describes the step (configurable-agents writes both); the
        # code is what runs.
        text = node.get("code")
        if not isinstance(text, str):
            return  # pydantic reports the type
        first, indent = self.smap.block_start((*base, "code"))
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            at = first + (exc.lineno or 1) - 1
            self.problems.append(Problem(f"Python syntax error in `code`: {exc.msg}", at,
                                         (exc.offset or 0) + indent or None,
                                         format_path((*base, "code")), "", self.smap.snippet(at)))
            return
        for stmt in ast.walk(tree):
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            names = ([a.name for a in stmt.names] if isinstance(stmt, ast.Import) else
                     ["." * stmt.level + (stmt.module or "")])
            for name in names:
                if name not in ALLOWED_MODULES:
                    at = first + stmt.lineno - 1
                    self.problems.append(Problem(blocked_import_message(name), at,
                                                 stmt.col_offset + 1 + indent,
                                                 format_path((*base, "code")), "", self.smap.snippet(at)))
        self.sandbox(node.get("sandbox"), (*base, "sandbox"))

    def sandbox(self, section: Any, base: tuple[Any, ...]) -> None:
        from ..sandbox._limits import from_section

        if section is not None and not isinstance(section, dict):
            self.add(base, "`sandbox` must be a mapping such as {preset: low, timeout: 5}")
            return
        try:
            from_section(section)
        except ValueError as exc:
            self.add(base, str(exc))

    def output_schema(self, node: dict[str, Any], base: tuple[Any, ...], outputs: list[Any]) -> None:
        schema = node.get("output_schema")
        if not isinstance(schema, dict):
            if len(outputs) > 1:
                self.add((*base, "outputs"), "a node with several outputs needs an object output_schema",
                         "add output_schema: {type: object, fields: [{name: ..., type: ...}]}")
            return
        kind = schema.get("type", "str")
        if kind == "object":
            fields = _dicts(schema.get("fields"))
            if not fields:
                self.add((*base, "output_schema"), "an object output_schema needs `fields`")
                return
            names = [f.get("name") for _, f in fields]
            for j, field in fields:
                try:
                    _types.check(field.get("type", "str"))
                except _types.TypeSyntaxError as exc:
                    self.add((*base, "output_schema", "fields", j, "type"), str(exc),
                             did_you_mean(str(field.get("type")).split("[")[0], _types.TYPE_NAMES))
            for j, out in enumerate(outputs):
                if out not in names:
                    self.add((*base, "outputs", j), f"output `{out}` has no field in output_schema",
                             did_you_mean(out, names) or f"add a field named `{out}`")
            return
        try:
            _types.check(kind)
        except _types.TypeSyntaxError as exc:
            self.add((*base, "output_schema", "type"), str(exc), did_you_mean(kind, _types.TYPE_NAMES))
        if len(outputs) > 1:
            self.add((*base, "outputs"), f"a `{kind}` output_schema fills only one output",
                     "use type: object with one field per output")

    def llm(self, llm: Any, base: tuple[Any, ...]) -> None:
        if not isinstance(llm, dict):
            return
        provider = llm.get("provider")
        if isinstance(provider, str) and provider not in PROVIDERS:
            self.add((*base, "provider"), f"unknown provider `{provider}`",
                     did_you_mean(provider, PROVIDERS) or f"known providers: {', '.join(PROVIDERS)}; "
                     "or leave provider out and write a LiteLLM model string such as `groq/llama3-8b`")
        providers = llm.get("providers")
        for name in providers if isinstance(providers, dict) else ():
            if name not in PROVIDERS:
                self.add((*base, "providers", name), f"unknown provider `{name}`",
                         did_you_mean(name, PROVIDERS), key=True)

    # -- edges and graph ---------------------------------------------------------------------
    def endpoint(self, name: Any, path: tuple[Any, ...], *, source: bool) -> None:
        if not isinstance(name, str):
            return
        allowed = [START] if source else [END]
        if name in self.known and name != (END if source else START):
            return
        if name == (END if source else START):
            self.add(path, f"an edge cannot {'leave END' if source else 'enter START'}")
            return
        self.add(path, f"edge {'from' if source else 'to'} unknown node `{name}`",
                 did_you_mean(name, [*self.ids, *allowed]) or f"nodes: {', '.join(self.ids)}")

    def condition(self, text: Any, path: tuple[Any, ...]) -> None:
        if not isinstance(text, str) or text.strip() == "default":
            return
        try:
            cond = compile_condition(text)
        except ConditionSyntaxError as exc:
            self.add(path, f"condition `{text}`: {exc} (column {exc.column} of the condition)",
                     "conditions allow state fields, literals, comparisons, and/or/not, in, + - * /")
            return
        for ref in cond.references:
            self.state_ref(ref, path, ".".join(ref), reference=True)

    def edges_(self) -> None:
        for i, edge in self.edges:
            base = ("edges", i)
            self.endpoint(edge.get("from"), (*base, "from"), source=True)
            to = edge.get("to")
            for j, target in enumerate(to) if isinstance(to, list) else [(None, to)]:
                self.endpoint(target, (*base, "to") if j is None else (*base, "to", j), source=False)
            self.condition(edge.get("condition"), (*base, "condition"))
            for j, route in _dicts(edge.get("routes")):
                cond = route.get("condition")
                logic = cond.get("logic") if isinstance(cond, dict) else cond
                self.condition(logic, (*base, "routes", j, "condition"))
                self.endpoint(route.get("to"), (*base, "routes", j, "to"), source=False)
            if isinstance(edge.get("parallel"), dict):
                self.parallel(edge, base)
            loop = edge.get("loop")
            if isinstance(loop, dict):
                field = loop.get("condition_field")
                if isinstance(field, str) and field not in self.fields:
                    self.add((*base, "loop", "condition_field"),
                             f"loop condition_field `{field}` is not a state field",
                             did_you_mean(field, self.fields))
                self.endpoint(loop.get("exit_to"), (*base, "loop", "exit_to"), source=False)

    def parallel(self, edge: dict[str, Any], base: tuple[Any, ...]) -> None:
        """A map: list fields in and out, a target that exists and runs only through the map."""
        spec, path = edge["parallel"], (*base, "parallel")
        for key in ("items_field", "collect_field"):
            name = spec.get(key)
            if not isinstance(name, str):
                continue
            if name not in self.fields:
                self.add((*path, key), f"{key} `{name}` is not a state field",
                         did_you_mean(name, self.fields) or f"declare `{name}` under state.fields")
                continue
            kind = self.fields[name].get("type") if isinstance(self.fields[name], dict) else None
            if isinstance(kind, str) and not (kind == "list" or kind.startswith("list[")):
                self.add((*path, key), f"{key} `{name}` is a `{kind}`; a map needs a list",
                         f"declare `{name}` with type: list[...]")
        target = spec.get("target_node")
        if not isinstance(target, str):
            return
        if target not in self.ids:
            self.add((*path, "target_node"), f"map target `{target}` is not a node",
                     did_you_mean(target, self.ids) or f"nodes: {', '.join(self.ids)}")
            return
        for j, other in self.edges:
            to = other.get("to")
            into = [*(to if isinstance(to, list) else [to]),
                    *(r.get("to") for _, r in _dicts(other.get("routes")))]
            loop = other.get("loop")
            if isinstance(loop, dict):
                into.append(loop.get("exit_to"))
            if target in into:
                self.add(("edges", j), f"`{target}` runs once per item of a map, and this edge "
                         "would also run it on its own, outside the map",
                         "remove this edge, or map over a list with another node")
        if sum(1 for _, e in self.edges if e.get("from") == edge.get("from")) > 1:
            self.add((*base, "from"), f"`{edge.get('from')}` has a `parallel` edge and other "
                     "edges: a map must be the only edge leaving its node",
                     "move the other edges to the map target or after it")

    def graph(self) -> None:
        if not self.ids or not self.edges:
            return
        succ: dict[str, set[str]] = {n: set() for n in [START, END, *self.ids]}
        for _, edge in self.edges:
            src = edge.get("from")
            if src not in succ:
                continue
            targets: list[Any] = []
            to = edge.get("to")
            targets += to if isinstance(to, list) else [to]
            targets += [r.get("to") for _, r in _dicts(edge.get("routes"))]
            loop = edge.get("loop")
            if isinstance(loop, dict):
                targets += [loop.get("exit_to")] + ([] if to else [src])
            parallel = edge.get("parallel")
            if isinstance(parallel, dict):
                targets.append(parallel.get("target_node"))
            # An unknown target is reported on its own; count it as reaching END so the
            # nodes before it are not also reported as dead ends.
            succ[src].update(t if t in succ else END for t in targets if isinstance(t, str))
        if not succ[START]:
            self.add(("edges",), "no edge leaves START", "add an edge such as {from: START, to: "
                     f"{self.ids[0]}}}")
            return
        reach = reachable(succ, [START])
        to_end = reachable(reverse(succ), [END])
        for i, edge in self.edges:
            to = edge.get("to")
            if not (isinstance(to, list) and len(to) > 1 and all(t in succ for t in to)):
                continue
            for join in meeting_points(succ, to):
                for other in outside_feeders(succ, edge["from"], to, join):
                    how = ("has an edge straight to it" if other == edge["from"] else
                           f"reaches it through `{other}`, outside the fan-out")
                    self.add(("edges", i, "to"),
                             f"`{join}` is where the branches of this fan-out meet, and "
                             f"`{edge['from']}` also {how}: `{join}` would run more than once",
                             f"remove the edge into `{join}` from `{other}`, or add `{other}` to the fan-out")
        for i, node in self.nodes:
            node_id = node.get("id")
            if not isinstance(node_id, str):
                continue
            if node_id not in reach:
                self.add(("nodes", i, "id"), f"node `{node_id}` is unreachable from START",
                         "add an edge into it, or remove the node")
            elif node_id not in to_end:
                cyclic = node_id in reachable(succ, succ[node_id])
                self.add(("nodes", i, "id"),
                         f"loop without exit: node `{node_id}` never reaches END" if cyclic
                         else f"node `{node_id}` has no path to END",
                         "give the loop a condition edge or a `loop:` with exit_to" if cyclic
                         else f"add an edge {{from: {node_id}, to: END}}")

    def boolean_keys(self, value: Any, path: tuple[Any, ...] = ()) -> None:
        """YAML 1.1 reads unquoted on/off/yes/no as booleans: a key like that is a surprise."""
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(key, bool):
                    self.add((*path, key), f"the key was read as the boolean {key}",
                             'YAML reads on/off/yes/no/true/false as booleans: quote it, e.g. "on":',
                             key=True)
                self.boolean_keys(sub, (*path, key))
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                self.boolean_keys(sub, (*path, i))

    def run(self) -> list[Problem]:
        self.boolean_keys(self.data)
        config = self.data.get("config")
        if isinstance(config, dict):
            self.llm(config.get("llm"), ("config", "llm"))
            shared = config.get("sandbox")  # every code node's defaults
            self.sandbox({k: v for k, v in shared.items() if k != "workers"}
                         if isinstance(shared, dict) else shared, ("config", "sandbox"))
        for base in (("memory",), ("config", "memory")):
            section = self.data.get(base[0]) if len(base) == 1 else (
                config.get("memory") if isinstance(config, dict) else None)
            if isinstance(section, dict):
                self.memory_scope(section, base)
        self.state()
        self.nodes_()
        self.edges_()
        self.graph()
        return self.problems


def check(data: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """Every semantic problem of ``data`` (a parsed workflow document)."""
    return _Checker(data, smap).run()
