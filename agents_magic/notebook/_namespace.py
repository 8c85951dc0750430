"""Read ``k=v`` words from a magic line into Python values, taking ``$var``/``{var}`` from the
notebook's namespace; every problem is collected before anything runs.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from IPython.core.error import UsageError

from .._inputs import coerce, literal, split
from ..errors import InputError

__all__ = ["coerce", "lookup", "parse_inputs", "split_words"]

_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_WHOLE = re.compile(rf"^(?:\$({_NAME})|\{{\s*({_NAME})\s*\}})$")
_EMBEDDED = re.compile(rf"\$({_NAME})|\{{\s*({_NAME})\s*\}}")
_MISSING = object()


def split_words(line: str) -> list[str]:
    """A magic line as the user meant its words, shell-like.

    ``'...'`` keeps its text as is; inside ``"..."``, ``\\"`` is a quote and ``\\\\`` a
    backslash; a quote may start mid-word (``text="two words"``). Other backslashes are kept,
    so Windows paths survive. ValueError names an unclosed quote.
    """
    words: list[str] = []
    word: list[str] = []
    in_word, quote, opened_at, i = False, "", 0, 0
    while i < len(line):
        char = line[i]
        escaped = char == "\\" and line[i + 1:i + 2] in (('"', "\\") if quote == '"' else ("'", '"'))
        if escaped and quote != "'":
            i += 1
            word.append(line[i])
            in_word = True
        elif quote:
            if char == quote:
                quote = ""
            else:
                word.append(char)
        elif char.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif char in "'\"":
            quote, opened_at, in_word = char, i, True
        else:
            word.append(char)
            in_word = True
        i += 1
    if quote:
        raise ValueError(f"the {quote} at column {opened_at + 1} is never closed")
    if in_word:
        words.append("".join(word))
    return words


def lookup(name: str, namespace: Mapping[str, Any]) -> Any:
    """``a.b.c`` in ``namespace`` (attributes, or keys of dicts); ``_MISSING`` if absent."""
    head, *rest = name.split(".")
    value = namespace.get(head, _MISSING)
    for part in rest:
        if value is _MISSING:
            break
        found = isinstance(value, Mapping) and part in value
        value = value[part] if found else getattr(value, part, _MISSING)
    return value


def parse_inputs(words: Iterable[str], namespace: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """``["topic=cats", "n=3", "df=$frame"]`` → values, plus the raw text of literal values.

    The raw text lets :func:`coerce` keep ``zip=01234`` a string when the state field is ``str``.

    Raises
    ------
    UsageError
        A word is not ``key=value``.
    InputError
        Names that are not defined in the notebook (all of them at once).
    """
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    problems: list[str] = []
    for word in words:
        try:
            key, text = split(word)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        whole = _WHOLE.match(text.strip())
        if whole:
            name = whole.group(1) or whole.group(2)
            value = lookup(name, namespace)
            if value is _MISSING:
                problems.append(f"input `{key}`: `{name}` is not defined in the notebook")
                continue
            values[key] = value
            continue
        expanded = _EMBEDDED.sub(lambda m: _substitute(m, namespace), text)
        values[key] = literal(expanded)
        raw[key] = expanded
    if problems:
        raise InputError(f"{len(problems)} input problem{'s' if len(problems) > 1 else ''}: "
                         + "; ".join(problems))
    return values, raw


def _substitute(match: re.Match[str], namespace: Mapping[str, Any]) -> str:
    # Inside a longer value, unknown names stay as written: "{braces}" may be meant literally.
    value = lookup(match.group(1) or match.group(2), namespace)
    return match.group(0) if value is _MISSING else str(value)
