"""A safe evaluator for edge conditions: a whitelist over Python's ``ast``, never ``eval``.

Allowed: literals, state references (``{state.a.b}``, ``state.a``, bare field names), comparisons
(including ``in``/``not in``/``is``), ``and``/``or``/``not``, ``+ - * / // %`` and constant
subscripts. Everything else (calls, lambdas, comprehensions, dunder access, ``**``) is rejected
when the workflow is loaded.

Evaluation is bounded: no value a condition builds (by ``+``, ``*`` or a literal list) may hold
more than ``MAX_SIZE`` characters or items, nor a product more than ``MAX_INT_BITS`` bits; one
evaluation builds at most ``MAX_WORK`` characters or items in all and stops after
``MAX_SECONDS``.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from ._schema import LOOP_PREFIX

_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][\w.]*)\s*\}")
MAX_SIZE = 100_000
MAX_INT_BITS = 4_096
MAX_WORK = 1_000_000
MAX_SECONDS = 0.5

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


class _Meter:
    """What one evaluation has built so far, and when it must stop."""

    __slots__ = ("work", "deadline")

    def __init__(self) -> None:
        self.work = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def charge(self, size: int) -> None:
        """Account for a value of ``size`` characters or items before it is built."""
        if size > MAX_SIZE:
            raise ConditionRuntimeError(f"a value it builds would hold {size:,} characters or "
                                        f"items; the limit is {MAX_SIZE:,}")
        self.work += max(size, 1)
        if self.work > MAX_WORK:
            raise ConditionRuntimeError(f"it builds more than {MAX_WORK:,} characters or items in all")
        if time.monotonic() > self.deadline:
            raise ConditionRuntimeError(f"it took longer than {MAX_SECONDS} s")


Evaluator = Callable[[dict[str, Any], _Meter], Any]


@dataclass(frozen=True)
class Condition:
    """A compiled condition: ``references`` are the state paths it reads; ``where`` names its
    edge in error messages."""

    source: str
    references: tuple[tuple[str, ...], ...]
    _evaluate: Evaluator
    where: str = ""

    def __call__(self, state: dict[str, Any]) -> bool:
        try:
            return bool(self._evaluate(state, _Meter()))
        except ConditionRuntimeError as exc:
            raise ConditionRuntimeError(f"{self._name()} failed: {exc}") from None
        except Exception as exc:  # a TypeError such as None >= 7 is the user's to fix
            raise ConditionRuntimeError(
                f"{self._name()} failed on this state: {type(exc).__name__}: {exc}") from None

    def _name(self) -> str:
        return f"{self.where}: condition `{self.source}`" if self.where else f"condition `{self.source}`"


def compile_condition(source: str, where: str = "") -> Condition:
    """Parse and check ``source``; raise :class:`ConditionSyntaxError` on anything unsafe.

    ``where`` (e.g. "edge judge → polish") prefixes the messages of errors at run time.
    """
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
    return Condition(source, tuple(dict.fromkeys(refs)), evaluate, where)


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
        return lambda state, meter: value
    if isinstance(node, (ast.Name, ast.Attribute)):
        path = _state_path(node)
        if path is None:
            raise _fail(node, "attribute access on an expression")
        if not path:
            raise _fail(node, "`state` on its own")
        if any(part.startswith("_") and not part.startswith(LOOP_PREFIX) for part in path):
            raise _fail(node, "a name starting with `_`")
        refs.append(path)
        return lambda state, meter: _lookup(state, path)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_compile(e, refs) for e in node.elts]
        kind: Callable[[Any], Any] = {ast.List: list, ast.Tuple: tuple, ast.Set: frozenset}[type(node)]

        def container(state: dict[str, Any], meter: _Meter) -> Any:
            meter.charge(len(items))
            return kind(item(state, meter) for item in items)

        return container
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, refs) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda state, meter: all(p(state, meter) for p in parts)
        return lambda state, meter: any(p(state, meter) for p in parts)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, refs)
        if isinstance(node.op, ast.Not):
            return lambda state, meter: not operand(state, meter)
        if isinstance(node.op, ast.USub):
            return lambda state, meter: -operand(state, meter)
        if isinstance(node.op, ast.UAdd):
            return lambda state, meter: +operand(state, meter)
        raise _fail(node, "the `~` operator")
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise _fail(node, f"the `{type(node.op).__name__}` operator")
        left, right = _compile(node.left, refs), _compile(node.right, refs)
        checked = {operator.add: _add, operator.mul: _mul, operator.mod: _mod}.get(op)
        if checked is not None:
            return lambda state, meter: checked(left(state, meter), right(state, meter), meter)

        def arithmetic(state: dict[str, Any], meter: _Meter) -> Any:
            a, b = left(state, meter), right(state, meter)
            meter.charge(1)
            return op(a, b)

        return arithmetic
    if isinstance(node, ast.Compare):
        first = _compile(node.left, refs)
        pairs = [(_CMPOPS[type(o)], _compile(c, refs)) for o, c in zip(node.ops, node.comparators)]

        def compare(state: dict[str, Any], meter: _Meter) -> bool:
            left = first(state, meter)
            for op, right_fn in pairs:
                right = right_fn(state, meter)
                meter.charge(1)
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

        def subscript(state: dict[str, Any], meter: _Meter) -> Any:
            container = target(state, meter)
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


_SEQUENCES = (str, list, tuple)


def _add(a: Any, b: Any, meter: _Meter) -> Any:
    both = isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES)
    meter.charge(len(a) + len(b) if both else 1)
    return a + b


def _mul(a: Any, b: Any, meter: _Meter) -> Any:
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, _SEQUENCES) and isinstance(count, int):
            meter.charge(len(seq) * max(count, 0))
            return a * b
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise ConditionRuntimeError(f"a product would have more than {MAX_INT_BITS} bits")
    meter.charge(1)
    return a * b


def _mod(a: Any, b: Any, meter: _Meter) -> Any:
    if isinstance(a, (str, bytes)):  # printf-style formatting could allocate without bound
        raise ConditionRuntimeError("`%` formatting of text is not allowed in a condition")
    meter.charge(1)
    return a % b
