"""Where the views' front-end files are: the packaged ``_widgets/`` or the repository's ``widgets/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def asset(name: str) -> Path:
    """Path of a front-end file such as ``run_view.js`` (the packaged copy first)."""
    for folder in (_PACKAGE / "_widgets", _PACKAGE.parent / "widgets"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"front-end file {name} is missing from the installation")
