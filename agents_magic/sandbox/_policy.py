"""What sandboxed code may use: builtins and module members, each named on purpose.

Modules are never handed out whole. Many harmless-looking modules re-export dangerous ones
(``random._os``, ``json.decoder.re``…) or return objects whose attributes lead back to the
interpreter, so code gets a fresh read-only namespace holding only the members below. Each
entry is a pure function, a constant, or a class whose instances are plain values; the
rationale beside each module says why that is so and what was left out.
"""

from __future__ import annotations

# Builtins beyond RestrictedPython's ``safe_builtins`` (minus the ones removed below): pure
# functions and constructors of plain values. Left out: open, eval, exec, compile, input,
# globals, locals, vars, dir, type, object, super, memoryview, breakpoint, help, exit, quit.
EXTRA_BUILTINS = (
    "all", "any", "bin", "bytes", "dict", "enumerate", "filter", "format", "frozenset", "iter",
    "list", "map", "max", "min", "next", "reversed", "set", "sorted", "sum", "tuple", "zip",
    "StopIteration", "ArithmeticError", "LookupError", "RecursionError")
# ``id`` shows addresses, ``setattr``/``delattr`` bypass the write guard, ``BaseException``-only
# classes (SystemExit, KeyboardInterrupt, GeneratorExit) would let code look like it ended the
# worker; ``__build_class__`` is provided by the worker with its own bookkeeping.
REMOVED_BUILTINS = ("id", "setattr", "delattr", "SystemExit", "KeyboardInterrupt", "GeneratorExit",
                    "__build_class__")

# Attribute prefixes of frames, code, generators, coroutines and tracebacks, the ways from an
# object back to the interpreter's frames and globals; ``mro`` hands out ``object``. All refused,
# whatever RestrictedPython's own list holds in the installed version.
DENIED_ATTRIBUTE_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_")
DENIED_ATTRIBUTES = ("mro",)

# Builtins code may look for that are not there; naming one is reported as a violation.
ABSENT_BUILTINS = ("open", "eval", "exec", "compile", "input", "globals", "locals", "vars", "dir",
                   "type", "object", "super", "memoryview", "breakpoint", "help", "exit", "quit",
                   "id", "setattr", "delattr", "SystemExit", "KeyboardInterrupt", "GeneratorExit",
                   "classmethod", "staticmethod", "property", "bytearray", "__import__")

MODULES: dict[str, tuple[str, ...]] = {
    # Pure numeric functions and constants; no module or object attributes.
    "math": ("acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "comb", "copysign",
             "cos", "cosh", "degrees", "dist", "e", "erf", "erfc", "exp", "expm1", "fabs", "factorial",
             "floor", "fmod", "frexp", "fsum", "gamma", "gcd", "hypot", "inf", "isclose", "isfinite",
             "isinf", "isnan", "isqrt", "lcm", "ldexp", "lgamma", "log", "log10", "log1p", "log2",
             "modf", "nan", "perm", "pi", "pow", "prod", "radians", "remainder", "sin", "sinh",
             "sqrt", "tan", "tanh", "tau", "trunc"),
    # Functions over lists of numbers. The module itself imports random/sys: not exposed.
    "statistics": ("fmean", "geometric_mean", "harmonic_mean", "mean", "median", "median_high",
                   "median_low", "mode", "multimode", "pstdev", "pvariance", "quantiles", "stdev",
                   "variance", "StatisticsError"),
    # Text <-> plain data. Encoder/decoder classes (whose modules re-export re and more) left out.
    "json": ("dumps", "loads", "JSONDecodeError"),
    # Compiled patterns and matches expose only the pattern, flags, groups and the input string.
    # ReDoS is bounded by the CPU and wall-clock limits. ``re.template``/``purge`` left out.
    "re": ("compile", "escape", "findall", "finditer", "fullmatch", "match", "search", "split",
           "sub", "subn", "error", "A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE", "S", "DOTALL",
           "X", "VERBOSE"),
    # Value classes; ``now()`` reads the clock, nothing else. ``_strptime`` is preloaded.
    "datetime": ("date", "datetime", "time", "timedelta", "timezone", "MINYEAR", "MAXYEAR"),
    # Containers of plain values. ``namedtuple`` validates field names as identifiers.
    "collections": ("Counter", "OrderedDict", "defaultdict", "deque", "namedtuple", "ChainMap"),
    # Iterator building blocks; infinite ones are bounded by the CPU and memory limits.
    "itertools": ("accumulate", "chain", "combinations", "combinations_with_replacement", "compress",
                  "count", "cycle", "dropwhile", "filterfalse", "groupby", "islice", "pairwise",
                  "permutations", "product", "repeat", "starmap", "takewhile", "tee", "zip_longest"),
    # Higher-order helpers over the code's own functions. ``lru_cache``/``wraps`` copy or keep
    # ``__wrapped__``/``__dict__`` and were left out.
    "functools": ("cmp_to_key", "partial", "reduce"),
    # Constants and one pure function. ``Formatter`` and ``Template`` (attribute lookups by
    # name, the format-string escape route) are left out.
    "string": ("ascii_letters", "ascii_lowercase", "ascii_uppercase", "capwords", "digits",
               "hexdigits", "octdigits", "punctuation", "printable", "whitespace"),
    # Replaced by the bound methods of a fresh ``random.Random`` per execution (seeded by the
    # kernel), so one execution cannot set or observe the next one's sequence.
    "random": ("betavariate", "choice", "choices", "expovariate", "gauss", "randint", "random",
               "randrange", "sample", "seed", "shuffle", "triangular", "uniform"),
    # Value classes and rounding constants. ``getcontext``/``setcontext``/``localcontext`` and
    # ``Context`` would change arithmetic for later executions: left out.
    "decimal": ("Decimal", "InvalidOperation", "DivisionByZero", "ROUND_CEILING", "ROUND_DOWN",
                "ROUND_FLOOR", "ROUND_HALF_DOWN", "ROUND_HALF_EVEN", "ROUND_HALF_UP", "ROUND_UP"),
    "fractions": ("Fraction",),  # a value class
    "textwrap": ("dedent", "fill", "indent", "shorten", "wrap"),  # pure functions of text
    "heapq": ("heapify", "heappop", "heappush", "heappushpop", "heapreplace", "merge", "nlargest",
              "nsmallest"),  # pure functions on the code's own lists
    "bisect": ("bisect", "bisect_left", "bisect_right", "insort", "insort_left", "insort_right"),
    # Arithmetic and item access as functions. ``attrgetter``/``methodcaller`` would look up
    # attributes past the attribute guard: left out.
    "operator": ("add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "eq", "ne", "lt", "le",
                 "gt", "ge", "itemgetter", "not_", "truth", "contains"),
}

ALLOWED_MODULES = tuple(sorted(MODULES))


def blocked_import_message(name: str) -> str:
    """What a blocked ``import`` says, and what is allowed instead."""
    return (f"`import {name}` is not allowed in a code node; allowed modules: "
            f"{', '.join(ALLOWED_MODULES)}")
