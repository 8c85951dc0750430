"""A box per test: a root the tools may use, an outside they may not, a secret and a marker
program outside, and a snapshot to prove that nothing outside changed."""
from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents_magic.tools import ToolError

SECRET = "TOP-SECRET-CONTENT-7f3a"


@dataclass
class Box:
    base: Path
    root: Path
    outside: Path
    marker: Path
    ran: Path

    def snapshot(self) -> dict[str, tuple[int, bytes | str | None]]:
        """Every path under the base outside the root, with its kind and content."""
        state = {}
        for path in sorted(self.base.rglob("*")):
            if self.root in path.parents or path == self.root:
                continue
            mode = path.lstat().st_mode
            content = (path.read_bytes() if stat.S_ISREG(mode) else
                       os.readlink(path) if stat.S_ISLNK(mode) else None)
            state[str(path)] = (stat.S_IFMT(mode), content)
        return state

    def refused(self, call, *, match: str | None = None) -> ToolError:
        """Run ``call``; assert it was refused, nothing outside changed, the marker never ran
        and the secret did not leak into the message."""
        before = self.snapshot()
        with pytest.raises(ToolError, match=match) as caught:
            call()
        assert self.snapshot() == before
        assert not self.ran.exists(), "the marker program ran"
        assert SECRET not in str(caught.value)
        return caught.value


@pytest.fixture
def box(tmp_path: Path) -> Box:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    ran = outside / "RAN"
    marker = outside / "marker"
    marker.write_text(f"#!/bin/sh\necho ran > {ran}\n")
    marker.chmod(0o755)
    (root / "a.txt").write_text("beta\nalpha\nbeta\n")
    (root / "sub" / "b.txt").write_text("inside b\n")
    (root / "link_dir").symlink_to(outside)
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "sub" / "up").symlink_to("../..")
    os.link(outside / "secret.txt", root / "hard.txt")
    os.mkfifo(root / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock"))
    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pass
    return Box(tmp_path, root, outside, marker, ran)
