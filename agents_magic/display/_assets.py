"""Where the views' front-end files are: the bundle built from ``widgets/`` into ``static/``."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def asset(name: str) -> Path:
    """Path of a built front-end file such as ``run_view.js``."""
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(f"front-end file {name} is missing from the installation; "
                                "rebuild it with `npm ci && npm run build` in widgets/")
    return path
