"""Write a variant back: a new ``%%workflow`` cell below the current one (the original left as
it is, a diff shown), or — for a workflow from a file — the file itself, atomically, after a
timestamped backup beside it."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AgentsMagicError

if TYPE_CHECKING:
    from ._result import EvalResult


class ApplyRefused(AgentsMagicError):
    """A ``block_deploy`` gate was missed by the variant being applied."""


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: ``target`` is ``cell`` or ``file``; ``backup`` the file's copy."""

    variant: str
    target: str
    yaml: str
    diff: str
    path: str | None = None
    backup: str | None = None

    def __repr__(self) -> str:
        where = (f"{self.path} (backup: {self.backup})" if self.target == "file"
                 else "a new %%workflow cell below")
        return f"Applied variant `{self.variant}` to {where}\n{self.diff or '(no change)'}"

    def _repr_html_(self) -> str:
        from ..display._html import esc, no_math

        lines = []
        for line in (self.diff or "(no change)").splitlines():
            colour = "#1a7f37" if line.startswith("+") else "#cf222e" if line.startswith("-") else "inherit"
            lines.append(f"<span style='color:{colour}'>{esc(line)}</span>")
        where = (f"<code>{esc(self.path or '')}</code> (backup <code>{esc(self.backup or '')}</code>)"
                 if self.target == "file" else "a new <code>%%workflow</code> cell below")
        return no_math(f"<div>Applied variant <b>{esc(self.variant)}</b> to {where}"
                       f"<pre>{'<br>'.join(lines)}</pre></div>")


def apply(result: EvalResult, variant: str | None, *, force: bool, path: str | None) -> Applied:
    variant = variant or result.winner.name
    if variant is None:
        raise AgentsMagicError(f"there is no winner to apply ({result.winner.explanation}); "
                               "name the variant: result.apply('B')")
    yaml_text = result.variant_yaml(variant)
    blocked = result.missed(variant, "block_deploy")
    if blocked and not force:
        raise ApplyRefused(f"variant `{variant}` missed block_deploy gate(s): {'; '.join(blocked)}; "
                           "apply(..., force=True) writes it anyway")
    target_path = path or result.source
    if target_path and Path(target_path).expanduser().is_file():
        return _to_file(variant, Path(target_path).expanduser(), yaml_text)
    if path:
        raise AgentsMagicError(f"`{path}` is not a file")
    diff = _diff(result.workflow_yaml, yaml_text, result.workflow, variant)
    _new_cell(result.workflow, yaml_text)
    return Applied(variant, "cell", yaml_text, diff)


def _diff(old: str, new: str, name: str, variant: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        fromfile=name, tofile=f"{name} ({variant})"))


def _new_cell(name: str, yaml_text: str) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    shell = get_ipython() if get_ipython is not None else None
    if shell is None:
        raise AgentsMagicError("apply outside IPython needs a file: the workflow came from a cell "
                               "or text; pass path='flow.yaml', or use result.variant_yaml(...)")
    shell.set_next_input(f"%%workflow {name}\n{yaml_text.rstrip()}\n", replace=False)


def _to_file(variant: str, path: Path, yaml_text: str) -> Applied:
    old = path.read_text(encoding="utf-8")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    shutil.copy2(path, backup)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(yaml_text)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Applied(variant, "file", yaml_text, _diff(old, yaml_text, path.name, variant),
                   str(path), str(backup))
