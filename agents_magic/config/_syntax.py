"""YAML syntax errors in plain words: where the mistake is and what to change, instead of the
parser's tokens ("expected <block end>, but found '<block mapping start>'").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_CANNOT_START = re.compile(r"found character '(.+)' that cannot start any token")


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    hint: str
    line: int | None     # 1-based, in ``text``
    column: int | None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous(lines: list[str], index: int) -> int | None:
    """Index of the nearest non-blank, non-comment line above ``index``."""
    for i in range(index - 1, -1, -1):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            return i
    return None


def explain(exc: yaml.MarkedYAMLError, text: str) -> SyntaxProblem:
    """Rephrase ``exc`` (raised while parsing ``text``) for a person."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    lines = text.splitlines()
    index = mark.line if mark else None
    line = lines[index] if index is not None and index < len(lines) else ""
    above = _previous(lines, index) if index is not None else None
    where = (index + 1, mark.column + 1) if mark and index is not None else (None, None)
    start = (index + 1, _indent(line) + 1) if index is not None else (None, None)

    def at(message: str, hint: str, position: tuple[int | None, int | None] = where) -> SyntaxProblem:
        return SyntaxProblem(f"malformed YAML: {message}", hint, *position)

    if "quoted scalar" in context and exc.context_mark is not None:
        opened = exc.context_mark
        return at("this quoted text is never closed", "add the closing quote, or check quotes inside it",
                  (opened.line + 1, opened.column + 1))
    if "flow sequence" in context or "flow mapping" in context:
        opened = exc.context_mark
        bracket = "[" if "sequence" in context else "{"
        return at(f"the `{bracket}` opened here is never closed", "close it, or check the commas "
                  "and quotes inside it", (opened.line + 1, opened.column + 1) if opened else where)
    found = _CANNOT_START.search(problem)
    if found:
        char = found.group(1)
        if char == "\\t":
            return at("a tab is used for indentation; YAML indents with spaces",
                      "replace the tab with spaces", start)
        return at(f"a value cannot start with `{char}`", "put the value in quotes")
    deeper = above is not None and index is not None and _indent(line) > _indent(lines[above])
    if problem == "mapping values are not allowed here":
        if mark is None or ":" not in line[:mark.column].lstrip("- "):
            return at("this line is indented more than the one above it",
                      "indent it like the line above, or end the line above with a colon", start)
        return at("a second `: ` in this value", 'put the value in quotes, e.g. prompt: "Answer: yes"')
    if problem.startswith("expected <block end>"):
        if "<scalar>" in problem:
            value = line.split(":", 1)[-1].strip()
            if value and value[0] in "{[":
                return at(f"a value starting with `{value[0]}` is read as YAML, not as text",
                          'put the whole value in quotes, or write it as a block after "|"')
            return at("more text after a value that has ended", "put the whole value in quotes")
        if deeper:
            return at("this line is indented more than the one above it",
                      "indent it like the line above, or end the line above with a colon", start)
        return at("this line is indented less than the one above it, but does not line up with "
                  "any key above either", "indent it like the keys it belongs with", start)
    if "<document start>" in problem:
        return at("top-level keys must all start at the left edge; this one does not line up "
                  "with the first line", "remove the spaces before the top-level keys", start)
    if "another document" in problem:
        return at("a second YAML document starts here; a workflow is one document",
                  "remove the `---` line and what follows, or load it separately")
    return at(problem or context or "cannot parse this", "check indentation, colons and quotes")
