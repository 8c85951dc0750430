"""A safe evaluator for edge conditions: a whitelist over Python's ``ast``, never ``eval``.

Allowed: literals, state references (``{state.a.b}``, ``state.a``, bare field names), comparisons
(including ``in``/``not in``/``is``), ``and``/``or``/``not``, ``+ - * / // %`` and constant
subscripts. Everything else (calls, lambdas, comprehensions, dunder access, ``**``) is rejected
when the workflow is loaded.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][\w.]*)\s*\}")
_MAX_REPEAT = 10_000

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class ConditionSyntaxError(ValueError):
    """The condition uses something outside the whitelist; ``column`` is 1-based."""

    def __init__(self, message: str, column: int = 1) -> None:
        super().__init__(message)
        self.column = column


class ConditionRuntimeError(ValueError):
    """The condition could not be evaluated against this state (e.g. ``None >= 7``)."""


Evaluator = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Condition:
    """A compiled condition: ``references`` are the state paths it reads."""

    source: str
    references: tuple[tuple[str, ...], ...]
    _evaluate: Evaluator

    def __call__(self, state: dict[str, Any]) -> bool:
        try:
            return bool(self._evaluate(state))
        except ConditionRuntimeError:
            raise
        except Exception as exc:  # a TypeError such as None >= 7 is the user's to fix
            raise ConditionRuntimeError(
                f"condition `{self.source}` failed on this state: {type(exc).__name__}: {exc}"
            ) from None


def compile_condition(source: str) -> Condition:
    """Parse and check ``source``; raise :class:`ConditionSyntaxError` on anything unsafe."""
    if not isinstance(source, str) or not source.strip():
        raise ConditionSyntaxError("a condition must be a non-empty expression")
    # Braces become spaces (not removed) so error columns match the text as written.
    text = _PLACEHOLDER.sub(lambda m: " " + m.group(0)[1:-1] + " ", source)
    if len(text) > 2000:
        raise ConditionSyntaxError("a condition must be under 2000 characters")
    body = text.replace("\n", " ").replace("\r", " ")
    lead = len(body) - len(body.lstrip())
    try:
        tree = ast.parse(body.strip(), mode="eval")
        refs: list[tuple[str, ...]] = []
        evaluate = _compile(tree.body, refs)
    except ConditionSyntaxError as exc:
        exc.column += lead
        raise
    except SyntaxError as exc:
        raise ConditionSyntaxError(f"invalid expression: {exc.msg}", (exc.offset or 1) + lead) from None
    except (RecursionError, MemoryError):
        raise ConditionSyntaxError("the condition is nested too deeply") from None
    return Condition(source, tuple(dict.fromkeys(refs)), evaluate)


def _fail(node: ast.AST, what: str) -> ConditionSyntaxError:
    return ConditionSyntaxError(f"{what} is not allowed in a condition", getattr(node, "col_offset", 0) + 1)


def _state_path(node: ast.AST) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return tuple(parts[1:]) if parts[0] == "state" else tuple(parts)


def _lookup(state: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = state
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif value is None:
            return None
        else:  # objects in state are dicts; anything else has no fields to read
            raise ConditionRuntimeError(f"`{'.'.join(path)}`: cannot read `{key}` of {type(value).__name__}")
    return value


def _compile(node: ast.AST, refs: list[tuple[str, ...]]) -> Evaluator:
    if isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise _fail(node, f"the literal {value!r}")
        return lambda state: value
    if isinstance(node, (ast.Name, ast.Attribute)):
        path = _state_path(node)
        if path is None:
            raise _fail(node, "attribute access on an expression")
        if not path:
            raise _fail(node, "`state` on its own")
        if any(part.startswith("_") and not part.startswith("_loop_iteration_") for part in path):
            raise _fail(node, "a name starting with `_`")
        refs.append(path)
        return lambda state: _lookup(state, path)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_compile(e, refs) for e in node.elts]
        kind: Callable[[Any], Any] = {ast.List: list, ast.Tuple: tuple, ast.Set: frozenset}[type(node)]
        return lambda state: kind(item(state) for item in items)
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, refs) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda state: all(p(state) for p in parts)
        return lambda state: any(p(state) for p in parts)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, refs)
        if isinstance(node.op, ast.Not):
            return lambda state: not operand(state)
        if isinstance(node.op, ast.USub):
            return lambda state: -operand(state)
        if isinstance(node.op, ast.UAdd):
            return lambda state: +operand(state)
        raise _fail(node, "the `~` operator")
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _fail(node, f"the `{type(node.op).__name__}` operator")
        left, right = _compile(node.left, refs), _compile(node.right, refs)
        if op is operator.mul:
            return lambda state: _safe_mul(left(state), right(state))
        if op is operator.mod:
            return lambda state: _safe_mod(left(state), right(state))
        return lambda state: op(left(state), right(state))
    if isinstance(node, ast.Compare):
        first = _compile(node.left, refs)
        pairs = [(_CMPOPS[type(o)], _compile(c, refs)) for o, c in zip(node.ops, node.comparators)]

        def compare(state: dict[str, Any]) -> bool:
            left = first(state)
            for op, right_fn in pairs:
                right = right_fn(state)
                if not op(left, right):
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.Subscript):
        target = _compile(node.value, refs)
        key_node = node.slice
        if not isinstance(key_node, ast.Constant) or not isinstance(key_node.value, (str, int)):
            raise _fail(node, "a subscript that is not a constant string or integer")
        key = key_node.value
        if isinstance(key, str) and key.startswith("_"):
            raise _fail(node, "a subscript starting with `_`")

        def subscript(state: dict[str, Any]) -> Any:
            container = target(state)
            if not isinstance(container, (dict, list, tuple, str)):
                raise ConditionRuntimeError(f"cannot index {type(container).__name__} with {key!r}")
            try:
                return container[key]
            except (KeyError, IndexError, TypeError):
                return None

        return subscript
    if isinstance(node, ast.Call):
        raise _fail(node, "a function call")
    raise _fail(node, f"`{type(node).__name__}`")


def _safe_mul(a: Any, b: Any) -> Any:
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > _MAX_REPEAT:
            raise ConditionRuntimeError(f"a repeated sequence may hold at most {_MAX_REPEAT} items")
    return a * b


def _safe_mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):  # printf-style formatting could allocate without bound
        raise ConditionRuntimeError("`%` formatting of text is not allowed in a condition")
    return a % b
