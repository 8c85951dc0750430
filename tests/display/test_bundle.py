"""The committed front-end bundle is exactly what a fresh build from the lock file produces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "agents_magic" / "display" / "static"


def test_a_fresh_build_from_the_lock_reproduces_the_committed_bundle(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    assert npm, "the bundle check needs Node 20 and npm on PATH"
    widgets = tmp_path / "widgets"
    widgets.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ROOT / "widgets" / name, widgets / name)
    shutil.copytree(ROOT / "widgets" / "src", widgets / "src")
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        done = subprocess.run([npm, *step], cwd=widgets, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    built = tmp_path / "agents_magic" / "display" / "static"
    names = sorted(p.name for p in built.iterdir())
    assert names == sorted(p.name for p in STATIC.iterdir()) == ["run_view.css", "run_view.js", "runs_view.js"]
    stale = [n for n in names if (built / n).read_bytes() != (STATIC / n).read_bytes()]
    assert not stale, f"{stale} differ from a fresh build: run `npm ci && npm run build` in widgets/ and commit"
