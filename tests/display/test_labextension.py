"""The committed JupyterLab extension (``%%workflow`` cells highlighted as YAML) is exactly what a
fresh build from the lock file produces, and it is the one Jupyter finds installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "widgets" / "labextension"
BUILT = ROOT / "agents_magic" / "labextension"
NAME = "agents-magic"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_fresh_build_from_the_lock_reproduces_the_committed_extension(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    assert npm, "the extension check needs Node 20 and npm on PATH"
    source = tmp_path / "widgets" / "labextension"
    source.mkdir(parents=True)
    for name in ("package.json", "package-lock.json", "rspack.config.cjs"):
        shutil.copy(SOURCE / name, source / name)
    shutil.copytree(SOURCE / "src", source / "src")
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        done = subprocess.run([npm, *step], cwd=source, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    fresh, committed = _files(tmp_path / "agents_magic" / "labextension"), _files(BUILT)
    assert sorted(fresh) == sorted(committed), "the built file names differ from the committed ones"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"{stale} differ from a fresh build: run `npm ci && npm run build` in widgets/labextension/"
    assert b"agents-magic:workflow-yaml" in b"".join(committed.values())


def test_jupyter_finds_the_committed_extension_installed() -> None:
    from jupyter_core.paths import jupyter_path

    found = [Path(d) / NAME for d in jupyter_path("labextensions") if (Path(d) / NAME / "package.json").exists()]
    assert found, f"no `{NAME}` lab extension installed: run `pip install -e .` (it installs the shared data)"
    installed = _files(found[0])
    assert installed.pop("install.json") == (SOURCE / "install.json").read_bytes()
    assert installed == _files(BUILT), f"{found[0]} is an older build: run `pip install -e .` again"
