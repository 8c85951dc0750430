"""The safe condition evaluator: what it allows, what it rejects, and that it never runs code.

Unit tests pin the allowed language (literals, state paths, comparisons, boolean logic,
membership, arithmetic, constant subscripts). Property-based tests generate expressions from a
grammar that mixes allowed and forbidden constructs and check that a forbidden construct is
always rejected at compile time, that an allowed expression always compiles, that evaluation only
ever returns a bool or raises ConditionRuntimeError, and that nothing is imported, opened,
compiled to bytecode, eval'd or exec'd along the way.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import os
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agents_magic.config._conditions import (
    Condition,
    ConditionRuntimeError,
    ConditionSyntaxError,
    compile_condition,
)

# The autouse `clean_env` fixture of tests/conftest.py is function-scoped; it does not touch
# anything these properties depend on.
FAST = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def ev(source: str, state: dict[str, Any] | None = None) -> bool:
    return compile_condition(source)(state or {})


# ---------------------------------------------------------------------------------------------
# Unit tests: the allowed language
# ---------------------------------------------------------------------------------------------

STATE = {
    "score": 7, "ratio": 0.5, "name": "ann", "kind": "b", "flag": True, "none": None,
    "tags": ["x", "y"], "counts": {"a": 1, "b": 2},
    "user": {"name": "ann", "age": 30, "address": {"city": "Oslo"}},
    "_loop_iteration_write": 2,
}


@pytest.mark.parametrize("source, expected", [
    ("1", True), ("0", False), ("-1", True), ("2.5", True), ("0.0", False),
    ("'a'", True), ("''", False), ('"x" == \'x\'', True),
    ("True", True), ("False", False), ("None", False),
    ("[]", False), ("[1]", True), ("()", False), ("(1, 2)", True), ("{1, 2}", True),
    ("1 == 1.0", True), ("'ab' + 'c' == 'abc'", True),
])
def test_literals(source: str, expected: bool):
    assert ev(source) is expected


@pytest.mark.parametrize("source, expected", [
    ("{state.score} == 7", True),
    ("{ state.score } == 7", True),
    ("{state.user.name} == 'ann'", True),
    ("{state.user.address.city} == 'Oslo'", True),
    ("state.user.age == 30", True),
    ("score == 7", True),
    ("user.age > 18", True),
    ("{score} == 7", True),
    ("{state.flag}", True),
    ("{state.none}", False),
    ("_loop_iteration_write == 2", True),
    ("{state._loop_iteration_write} < 3", True),
])
def test_state_paths_and_bare_names(source: str, expected: bool):
    assert ev(source, STATE) is expected


@pytest.mark.parametrize("source, refs", [
    ("{state.score} >= 7", (("score",),)),
    ("{state.user.address.city} == 'Oslo'", (("user", "address", "city"),)),
    ("score > 1 and state.score < 9 and {state.score} != 5", (("score",),)),
    ("kind in tags or user.name == name", (("kind",), ("tags",), ("user", "name"), ("name",))),
    ("1 < 2", ()),
])
def test_references_are_the_state_paths_read(source: str, refs: tuple):
    cond = compile_condition(source)
    assert isinstance(cond, Condition)
    assert cond.references == refs
    assert cond.source == source


@pytest.mark.parametrize("source, expected", [
    ("{state.score} == 7", True), ("{state.score} != 7", False),
    ("{state.score} < 8", True), ("{state.score} <= 7", True),
    ("{state.score} > 7", False), ("{state.score} >= 7", True),
    ("{state.none} is None", True), ("{state.score} is not None", True),
    ("{state.name} == 'ann'", True), ("{state.tags} == ['x', 'y']", True),
    ("{state.counts} == {state.counts}", True),
])
def test_comparisons(source: str, expected: bool):
    assert ev(source, STATE) is expected


@pytest.mark.parametrize("source, expected", [
    ("1 < {state.score} <= 7", True),
    ("1 < {state.score} < 7", False),
    ("0 <= {state.ratio} <= 1 < {state.score}", True),
    ("7 == {state.score} == 7.0", True),
    ("3 > {state.score} > 1", False),
])
def test_chained_comparisons(source: str, expected: bool):
    assert ev(source, STATE) is expected


def test_chained_comparison_stops_at_the_first_false_link():
    # `1 > 2` is false, so the (failing) `None < 'a'` link is never evaluated.
    assert ev("1 > 2 < {state.none} < 'a'", STATE) is False


@pytest.mark.parametrize("source, expected", [
    ("{state.score} >= 7 and {state.kind} in ['a', 'b']", True),
    ("{state.score} > 7 and {state.kind} in ['a', 'b']", False),
    ("{state.score} > 7 or {state.flag}", True),
    ("not {state.flag}", False),
    ("not not {state.flag}", True),
    ("not ({state.score} > 7) and not {state.none}", True),
    ("{state.none} or {state.score} == 7", True),
    ("{state.none} and {state.score} == 7", False),
])
def test_and_or_not(source: str, expected: bool):
    assert ev(source, STATE) is expected


def test_and_or_short_circuit():
    # The right operand would fail (None < 1); it is never evaluated.
    assert ev("{state.flag} or {state.none} < 1", STATE) is True
    assert ev("{state.none} and {state.none} < 1", STATE) is False


@pytest.mark.parametrize("source, expected", [
    ("{state.kind} in ['a', 'b']", True), ("{state.kind} not in ['a', 'b']", False),
    ("'x' in {state.tags}", True), ("'z' not in {state.tags}", True),
    ("'a' in {state.counts}", True), ("'nn' in {state.name}", True),
    ("{state.kind} in ('a', 'c')", False), ("{state.kind} in {'b', 'c'}", True),
])
def test_membership(source: str, expected: bool):
    assert ev(source, STATE) is expected


@pytest.mark.parametrize("source, expected", [
    ("{state.score} + 1 == 8", True), ("{state.score} - 10 == -3", True),
    ("{state.score} * 2 == 14", True), ("{state.score} / 2 == 3.5", True),
    ("{state.score} // 2 == 3", True), ("{state.score} % 4 == 3", True),
    ("-{state.score} < 0", True), ("+{state.score} == 7", True),
    ("({state.score} + 3) * 2 == 20", True), ("{state.score} + 3 * 2 == 13", True),
    ("{state.ratio} * 10 >= 5", True), ("{state.name} * 2 == 'annann'", True),
    ("{state.tags} + ['z'] == ['x', 'y', 'z']", True),
])
def test_arithmetic(source: str, expected: bool):
    assert ev(source, STATE) is expected


@pytest.mark.parametrize("source, expected", [
    ("{state.tags}[0] == 'x'", True), ("{state.tags}[1] == 'y'", True),
    ("{state.counts}['b'] == 2", True), ("{state.user}['address']['city'] == 'Oslo'", True),
    ("{state.name}[0] == 'a'", True), ("[10, 20][1] == 20", True),
    ("{state.tags}[5] is None", True), ("{state.counts}['zz'] is None", True),
    ("{state.counts}[0] is None", True),
])
def test_constant_subscripts(source: str, expected: bool):
    assert ev(source, STATE) is expected


@pytest.mark.parametrize("source", [
    "{state.missing} is None",
    "{state.user.missing} is None",
    "{state.missing.deeper.still} is None",
    "{state.none.anything} is None",
    "missing is None",
    "not {state.missing}",
])
def test_missing_fields_read_as_none(source: str):
    assert ev(source, STATE) is True
    assert ev(source, {}) is True


def test_missing_field_is_falsy():
    assert ev("{state.missing}", {}) is False
    assert ev("{state.a.b} is None", {}) is True


@pytest.mark.parametrize("source, state", [
    ("{state.missing} >= 7", {}),             # None >= 7
    ("{state.score} / 0 == 1", STATE),        # ZeroDivisionError
    ("{state.name.first} == 'a'", STATE),     # a str has no fields
    ("{state.score}[0] == 1", STATE),         # an int cannot be indexed
    ("{state.name} - 1", STATE),
    ("{state.tags} < 3", STATE),
    ("'a' * 200000 == ''", {}),               # size limit
])
def test_runtime_errors_are_condition_runtime_errors(source: str, state: dict):
    cond = compile_condition(source)
    with pytest.raises(ConditionRuntimeError):
        cond(state)


def test_runtime_error_names_the_condition():
    with pytest.raises(ConditionRuntimeError, match=r"\{state.missing\} >= 7"):
        ev("{state.missing} >= 7", {})


@pytest.mark.parametrize("source", ["", "   ", "\n\t"])
def test_empty_condition_is_rejected(source: str):
    with pytest.raises(ConditionSyntaxError):
        compile_condition(source)


@pytest.mark.parametrize("value", [None, 5, b"a == 1", ["a"]])
def test_non_string_condition_is_rejected(value: Any):
    with pytest.raises(ConditionSyntaxError):
        compile_condition(value)  # type: ignore[arg-type]


def test_overlong_condition_is_rejected():
    with pytest.raises(ConditionSyntaxError, match="2000"):
        compile_condition(" or ".join(["a == 1"] * 400))


@pytest.mark.parametrize("source, column", [
    ("a >= and 3", 6),
    ("a b", 3),
    ("(a", 1),
])
def test_syntax_error_column(source: str, column: int):
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    assert info.value.column == column
    assert "invalid expression" in str(info.value)


@pytest.mark.parametrize("source, what", [
    ("len(a) > 1", "function call"),
    ("a.upper() == 'X'", "function call"),
    ("__import__('os')", "function call"),
    ("__import__", "name starting with `_`"),
    ("a.__class__", "name starting with `_`"),
    ("{state.a.__dict__}", "name starting with `_`"),
    ("_private == 1", "name starting with `_`"),
    ("().__class__", "attribute access on an expression"),
    ("''.join", "attribute access on an expression"),
    ("(1).real == 1", "attribute access on an expression"),
    ("a['__class__']", "subscript starting with `_`"),
    ("a[b]", "subscript that is not a constant"),
    ("a[1:2]", "subscript that is not a constant"),
    ("a[-1]", "subscript that is not a constant"),
    ("lambda: 1", "`Lambda`"),
    ("[x for x in a]", "`ListComp`"),
    ("{x for x in a}", "`SetComp`"),
    ("{k: 1 for k in a}", "`DictComp`"),
    ("any(x for x in a)", "function call"),
    ("(y := 1)", "`NamedExpr`"),
    ("f'{a}' == 'x'", "`JoinedStr`"),
    ("[*a]", "`Starred`"),
    ("{**a}", "`Dict`"),
    ("{'k': 1}", "`Dict`"),
    ("1 if a else 2", "`IfExp`"),
    ("2 ** 10", "`Pow` operator"),
    ("a << 1", "`LShift` operator"),
    ("a | b", "`BitOr` operator"),
    ("a & b", "`BitAnd` operator"),
    ("a ^ b", "`BitXor` operator"),
    ("a @ b", "`MatMult` operator"),
    ("~a", "`~` operator"),
    ("b'x' == a", "literal b'x'"),
    ("1j == a", "literal 1j"),
    ("... == a", "literal Ellipsis"),
    ("state", "`state` on its own"),
    ("{state.x} == state", "`state` on its own"),
    ("await a", "`Await`"),
])
def test_forbidden_constructs_are_rejected_at_compile_time(source: str, what: str):
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    assert what in str(info.value)
    assert info.value.column >= 1


def test_error_column_is_relative_to_the_condition_as_written():
    source = "{state.answer} == (lambda: '')"
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    assert info.value.column == source.index("lambda") + 1


def test_deeply_nested_condition_is_rejected_cleanly():
    with pytest.raises(ConditionSyntaxError):
        compile_condition("a > " + "-" * 1500 + "1")


def test_chained_repetition_is_bounded():
    cond = compile_condition("'a' * 10000 * 1000 == ''")  # a 10 MB string if not stopped
    with pytest.raises(ConditionRuntimeError):
        cond({})


# ---------------------------------------------------------------------------------------------
# Side-effect sentinels
# ---------------------------------------------------------------------------------------------


# CPython's own tokenizer imports `unicodedata` to NFKC-normalise non-ASCII identifiers while
# parsing; that is the interpreter, not the condition, so it is not a side effect.
INTERPRETER_IMPORTS = {"unicodedata"}


class Sentinels:
    """Patches dangerous builtins with recorders (that still delegate, so a failure is a clean
    assertion rather than a broken interpreter) and lists what was called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _wrap(self, name: str, real: Any, record: Any = None) -> Any:
        def sentinel(*args: Any, **kwargs: Any) -> Any:
            if record is None or record(*args, **kwargs):
                self.calls.append(f"{name}{args[:1]!r}")
            return real(*args, **kwargs)

        return sentinel

    @contextlib.contextmanager
    def active(self):
        patches = {
            "__import__": self._wrap("__import__", builtins.__import__,
                                     lambda name, *a, **k: name not in INTERPRETER_IMPORTS),
            "open": self._wrap("open", builtins.open),
            "eval": self._wrap("eval", builtins.eval),
            "exec": self._wrap("exec", builtins.exec),
            "breakpoint": self._wrap("breakpoint", builtins.breakpoint),
            "input": self._wrap("input", builtins.input),
            # ast.parse itself calls compile(..., PyCF_ONLY_AST): only bytecode counts.
            "compile": self._wrap("compile", builtins.compile,
                                  lambda *a, **k: not (k.get("flags", a[3] if len(a) > 3 else 0)
                                                       & ast.PyCF_ONLY_AST)),
        }
        originals = {name: getattr(builtins, name) for name in patches}
        os_originals = {"system": os.system, "popen": os.popen}
        popen = subprocess.Popen.__init__
        try:
            for name, fn in patches.items():
                setattr(builtins, name, fn)
            os.system = self._wrap("os.system", os.system)  # type: ignore[assignment]
            os.popen = self._wrap("os.popen", os.popen)  # type: ignore[assignment]
            subprocess.Popen.__init__ = self._wrap("Popen", popen)  # type: ignore[method-assign]
            yield self
        finally:
            for name, fn in originals.items():
                setattr(builtins, name, fn)
            os.system, os.popen = os_originals["system"], os_originals["popen"]
            subprocess.Popen.__init__ = popen  # type: ignore[method-assign]


def check_safely(source: str, states: list[dict[str, Any]]) -> Condition | None:
    """Compile and evaluate ``source`` under the sentinels; assert only allowed outcomes.

    Returns the compiled condition, or None when it was rejected at compile time.
    """
    sentinels = Sentinels()
    outcomes: list[Any] = []
    with sentinels.active():
        try:
            cond = compile_condition(source)
        except ConditionSyntaxError as exc:
            cond = None
            outcomes.append(exc)
        if cond is not None:
            for state in states:
                try:
                    outcomes.append(cond(state))
                except ConditionRuntimeError as exc:
                    outcomes.append(exc)
    assert sentinels.calls == [], f"{source!r} caused side effects: {sentinels.calls}"
    for outcome in outcomes:
        assert isinstance(outcome, (bool, ConditionSyntaxError, ConditionRuntimeError))
    if cond is not None:
        for path in cond.references:
            assert path, "`state` alone is never a reference"
            assert all(not p.startswith("_") or p.startswith("_loop_iteration_") for p in path)
    return cond


def test_sentinels_do_catch_side_effects():
    # The sentinel machinery itself works: a real import and a real eval are recorded.
    sentinels = Sentinels()
    with sentinels.active():
        __import__("json")
        eval("1")  # noqa: S307 - deliberate, to prove the sentinel sees it
    assert any(c.startswith("__import__") for c in sentinels.calls)
    assert any(c.startswith("eval") for c in sentinels.calls)


ATTACKS = [
    "__import__('os').system('touch /tmp/pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "''.__class__.__mro__[1].__subclasses__()",
    "open('/etc/passwd').read()",
    "eval('1+1') == 2",
    "exec('import os')",
    "getattr(a, '__class__')",
    "(lambda: __import__('os'))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "{state.a.__globals__}",
    "a.__init__.__globals__['os']",
    "a['__builtins__']",
    "__builtins__['eval']('1')",
    "(_ := __import__('subprocess'))",
    "f'{__import__(\"os\").getcwd()}'",
    "breakpoint()",
    "compile('1', '', 'eval')",
    "type(a)",
    "vars()",
    "globals()['__builtins__']",
    "[*open('/etc/passwd')]",
    "'{0.__class__}'.format(a)",
    "a if __import__('os') else b",
]


@pytest.mark.parametrize("source", ATTACKS)
def test_known_attacks_are_rejected_without_side_effects(source: str):
    assert check_safely(source, [{"a": "x", "b": 1}]) is None


# ---------------------------------------------------------------------------------------------
# Property-based: a grammar mixing allowed and forbidden constructs
# ---------------------------------------------------------------------------------------------

# (text, forbidden) pairs. Integers stay tiny so that `*` chains stay small.
ALLOWED_LEAVES = [
    "0", "1", "2", "3", "1.5", "'a'", "'ab'", "''", "True", "False", "None",
    "{state.a}", "{state.b.c}", "{ state.a }", "{a}", "a", "b", "b.c", "state.a", "state.b.c",
    "_loop_iteration_n", "{state._loop_iteration_n}", "[1, 'a']", "('a', 'b')", "{1, 2}", "[]",
    "missing", "{state.b.missing}",
]
FORBIDDEN_LEAVES = [
    "__import__('os')", "__import__", "().__class__", "''.__class__.__mro__", "__builtins__",
    "open('/etc/passwd')", "eval('1')", "exec('x = 1')", "getattr(a, 'c')", "(lambda: 1)",
    "(lambda x: x)(1)", "[x for x in a]", "{x: 1 for x in a}", "(x for x in a)", "(y := 1)",
    "f'{a}'", "f'{open(1)}'", "[*a]", "{**b}", "{'k': 1}", "b'x'", "...", "1j", "a.__dict__",
    "a._private", "state.__class__", "{state.__class__}", "a[b]", "a[1:2]", "a['__class__']",
    "(1 if a else 2)", "globals()", "vars(a)", "type(a)", "(1).real", "'x'.upper",
    "().__class__.__bases__[0].__subclasses__()", "__import__('subprocess').run(['true'])",
    "state", "print(1)",
]
ALLOWED_BINOPS = ["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=",
                  "and", "or", "in", "not in", "is", "is not"]
FORBIDDEN_BINOPS = ["**", "<<", ">>", "|", "&", "^", "@"]

Expr = tuple  # (text, forbidden)

allowed_leaves = st.sampled_from(ALLOWED_LEAVES).map(lambda t: (t, False))
forbidden_leaves = st.sampled_from(FORBIDDEN_LEAVES).map(lambda t: (t, True))


def _binop(x: Expr, op: str, y: Expr, bad: bool) -> Expr:
    return (f"({x[0]} {op} {y[0]})", x[1] or y[1] or bad)


def _allowed_forms(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(_binop, children, st.sampled_from(ALLOWED_BINOPS), children, st.just(False)),
        st.builds(lambda x, y, z: (f"({x[0]} < {y[0]} <= {z[0]})", x[1] or y[1] or z[1]),
                  children, children, children),
        st.builds(lambda x, op: (f"({op}{x[0]})", x[1]),
                  children, st.sampled_from(["not ", "-", "+"])),
        st.builds(lambda x, k: (f"({x[0]})[{k}]", x[1]), children, st.sampled_from(["0", "1", "'c'"])),
        st.builds(lambda x, y: (f"[{x[0]}, {y[0]}]", x[1] or y[1]), children, children),
        st.builds(lambda x, y: (f"({x[0]}, {y[0]})", x[1] or y[1]), children, children),
    )


def _forbidden_forms(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(_binop, children, st.sampled_from(FORBIDDEN_BINOPS), children, st.just(True)),
        st.builds(lambda x: (f"(~{x[0]})", True), children),
        st.builds(lambda x: (f"({x[0]})[a]", True), children),
        st.builds(lambda x: (f"({x[0]}).__class__", True), children),
        st.builds(lambda x, f: (f"{f}({x[0]})", True), children,
                  st.sampled_from(["len", "str", "print", "getattr", "__import__", "(lambda v: v)"])),
        st.builds(lambda x, y, z: (f"({x[0]} if {y[0]} else {z[0]})", True), children, children, children),
        st.builds(lambda x: (f"(lambda: {x[0]})", True), children),
        st.builds(lambda x: (f"[v for v in {x[0]}]", True), children),
        st.builds(lambda x: (f"(w := {x[0]})", True), children),
        st.builds(lambda x: (f"[*{x[0]}]", True), children),
    )


# Only allowed constructs (must always compile), and a mix where forbidden pieces are rarer
# than allowed ones, so that they also end up buried deep inside otherwise valid expressions.
allowed_expressions = st.recursive(allowed_leaves, _allowed_forms, max_leaves=10)
mixed_expressions = st.recursive(
    st.one_of(allowed_leaves, allowed_leaves, allowed_leaves, forbidden_leaves),
    lambda children: st.one_of(_allowed_forms(children), _allowed_forms(children),
                               _forbidden_forms(children)),
    max_leaves=10,
)
expressions = st.one_of(allowed_expressions, mixed_expressions)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False),
              st.sampled_from(["", "a", "ab", "c"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["c", "k", "a"]), inner, max_size=3)),
    max_leaves=6,
)
states = st.dictionaries(st.sampled_from(["a", "b", "c", "missing", "_loop_iteration_n"]),
                         json_values, max_size=5)


@FAST
@given(expr=expressions, state_list=st.lists(states, min_size=1, max_size=3))
@example(expr=("__import__('os').system('true')", True), state_list=[{}])
@example(expr=("(({state.a} + 1) < {state.b.c} <= 3)", False), state_list=[{"a": 1, "b": {"c": 2}}])
def test_grammar_forbidden_iff_rejected_and_never_runs_code(expr: Expr, state_list: list[dict]):
    text, forbidden = expr
    cond = check_safely(text, state_list)
    if forbidden:
        assert cond is None, f"forbidden construct accepted: {text!r}"
    else:
        assert cond is not None, f"allowed expression rejected: {text!r}"


TOKENS = ["a", "b", "state", ".", "{", "}", "(", ")", "[", "]", "'a'", "1", "0", "__class__",
          "__import__", "os", "+", "-", "*", "**", "/", "%", "==", "<", ">=", "and", "or", "not",
          "in", "is", "lambda", ":", ",", "for", "if", "else", ":=", "f'{a}'", "open", "eval",
          "__builtins__", "_x", "None", "True", "getattr", "@", "~", "'", '"']


@FAST
@given(source=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join),
       state_list=st.lists(states, min_size=1, max_size=2))
def test_token_soup_never_escapes_or_runs_code(source: str, state_list: list[dict]):
    check_safely(source, state_list)


@FAST
@given(source=st.text(max_size=200), state=states)
@example(source="\x00", state={})
@example(source="{", state={})
@example(source="{state.}", state={})
@example(source="\\", state={})
def test_arbitrary_text_only_raises_condition_errors(source: str, state: dict):
    check_safely(source, [state])
