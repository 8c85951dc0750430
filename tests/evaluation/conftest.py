"""Fixtures of the evaluation tests (the shared workflows are in eval_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebook"))


@pytest.fixture
def kernel_dirs(tmp_path: Path) -> list[str]:
    from am_nb_helpers import write_kernelspec

    return write_kernelspec(tmp_path, tmp_path / "kernel-data")
