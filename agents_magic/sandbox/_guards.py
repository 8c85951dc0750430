"""What code in a worker sees: guarded builtins, RestrictedPython's hooks, module views.

Everything here is built fresh for each execution (:class:`Job`), so nothing one execution
changes is seen by the next.
"""

from __future__ import annotations

import builtins
import sys
from types import SimpleNamespace
from typing import Any

from RestrictedPython import safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from . import _policy

FILENAME = "<code node>"


class Blocked(Exception):
    """A guard refused an operation (recorded even if the code catches it)."""


class Job:
    """The state of one execution: its printed text, its classes and what was blocked."""

    def __init__(self, output_cap: int, seed: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.cap = output_cap
        self.seed = seed
        self.classes: set[type] = set()
        self.blocked: list[tuple[str, int | None]] = []

    def block(self, message: str) -> Blocked:
        self.blocked.append((message, user_line()))
        return Blocked(message)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.cap:
            raise self.block(f"printed output is over the limit of {self.cap} characters")
        self.parts.append(text)


def user_line() -> int | None:
    """The line of the code node being executed (innermost frame of the user's code)."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == FILENAME:
            return frame.f_lineno
        frame = frame.f_back
    return None


class Printer:
    """RestrictedPython's ``_print_``: every scope prints into the job's one buffer."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def write(self, text: str) -> None:
        self.job.write(str(text))

    def flush(self) -> None:  # print(..., flush=True)
        pass

    def __call__(self) -> str:  # ``printed``
        return "".join(self.job.parts)

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        if kwargs.pop("file", None) is not None:
            raise self.job.block("print(file=...) is not allowed in a code node; print goes to the output")
        print(*objects, **kwargs, file=self)


def denied(obj: Any, name: str) -> bool:
    """Whether ``obj.name`` is refused: introspection names, and ``format`` on strings (its
    fields look up attributes unguarded)."""
    return (name.startswith(_policy.DENIED_ATTRIBUTE_PREFIXES) or name in INSPECT_ATTRIBUTES
            or name in _policy.DENIED_ATTRIBUTES
            or (name in ("format", "format_map")
                and (isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str)))))


class ModuleView(SimpleNamespace):
    """A module as code sees it: its allowed members only (``_name`` is out of code's reach)."""


def make_globals(job: Job, inputs: Any) -> dict[str, Any]:
    """A fresh namespace: guarded builtins, RestrictedPython's hooks, ``inputs``."""

    def getattr_(obj: Any, name: str, *default: Any) -> Any:
        if not isinstance(name, str):
            raise TypeError("attribute name must be a string")
        if denied(obj, name):
            raise job.block(f"attribute `{name}` is not allowed in a code node")
        if isinstance(obj, ModuleView) and not hasattr(obj, name):
            raise job.block(f"`{obj._name}.{name}` is not available in a code node; `{obj._name}` "
                            f"offers: {', '.join(_policy.MODULES[obj._name])}")
        return getattr(obj, name, *default)

    def hasattr_(obj: Any, name: str) -> bool:
        try:
            getattr_(obj, name)
        except AttributeError:
            return False
        return True

    def write_(obj: Any) -> Any:
        if isinstance(obj, MUTABLE_VALUES) or type(obj) in job.classes or (
                isinstance(obj, type) and obj in job.classes):
            return obj
        raise job.block(f"changing a `{type(obj).__name__}` object is not allowed in a code node")

    def import_(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (),
                level: int = 0) -> Any:
        if name == "_strptime" and not level:
            # Only ``datetime.strptime`` asks for it: code cannot name it (a leading ``_``).
            return sys.modules["_strptime"]
        if level or name not in _policy.MODULES:
            raise job.block(_policy.blocked_import_message(name if not level else "." * level + name))
        allowed = _policy.MODULES[name]
        for member in fromlist or ():
            if member not in allowed:
                raise job.block(f"`{name}.{member}` is not available in a code node; "
                                f"`{name}` offers: {', '.join(allowed)}")
        return module(name, job.seed)

    def build_class(func: Any, name: str, *bases: Any, **kwargs: Any) -> type:
        if kwargs.pop("metaclass", type) is not type or kwargs:  # RestrictedPython adds type
            raise job.block("class keywords (metaclass=...) are not allowed in a code node")
        cls = builtins.__build_class__(func, name, *bases)
        job.classes.add(cls)
        return cls

    def inplace(op: str, x: Any, y: Any) -> Any:
        return INPLACE[op](x, y)

    safe = {k: v for k, v in safe_builtins.items() if k not in _policy.REMOVED_BUILTINS}
    safe.update({name: getattr(builtins, name) for name in _policy.EXTRA_BUILTINS})
    safe.update(__import__=import_, __build_class__=build_class, getattr=getattr_,
                hasattr=hasattr_)
    return {"__builtins__": safe, "__name__": "code_node", "__metaclass__": type,
            "_getattr_": getattr_, "_getitem_": lambda obj, key: obj[key], "_getiter_": iter,
            "_write_": write_, "_inplacevar_": inplace, "_print_": lambda *_: Printer(job),
            "_apply_": lambda f, *a, **k: f(*a, **k),
            "_unpack_sequence_": guarded_unpack_sequence,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "inputs": inputs}


def _inplace_ops() -> dict[str, Any]:
    import operator

    names = {"+=": "iadd", "-=": "isub", "*=": "imul", "/=": "itruediv", "//=": "ifloordiv",
             "%=": "imod", "**=": "ipow", "<<=": "ilshift", ">>=": "irshift", "&=": "iand",
             "|=": "ior", "^=": "ixor", "@=": "imatmul"}
    return {op: getattr(operator, name) for op, name in names.items()}


INPLACE = _inplace_ops()
MODULE_OBJECTS = {name: __import__(name) for name in _policy.MODULES}
MUTABLE_VALUES = (dict, list, set, MODULE_OBJECTS["collections"].deque)  # the code's own data


def module(name: str, seed: int) -> ModuleView:
    """A fresh namespace of the module's allowed members (``random``: a private generator)."""
    source: Any = MODULE_OBJECTS[name]
    if name == "random":
        source = source.Random(seed)
    view = ModuleView(**{member: getattr(source, member) for member in _policy.MODULES[name]})
    view._name = name
    return view
