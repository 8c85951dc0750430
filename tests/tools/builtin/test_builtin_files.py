"""File tools against real files: what works inside the roots, and an abuse corpus that must
neither read nor write anything outside them."""
from __future__ import annotations

import os
import threading

import pytest
from conftest import SECRET, Box

from agents_magic.tools import ToolError
from agents_magic.tools.builtin import BUILTINS


def tools(box: Box, **extra):
    return {name: BUILTINS[name](roots=[str(box.root)], **extra)
            for name in ("file_read", "file_write", "file_glob", "file_move")}


def test_read_write_glob_move_inside_the_root(box: Box):
    t = tools(box)
    assert t["file_read"](path="a.txt")["content"] == "beta\nalpha\nbeta\n"
    assert t["file_read"](path=str(box.root / "sub" / "b.txt"))["content"] == "inside b\n"
    assert t["file_read"](path="sub/../a.txt", offset=5)["content"] == "alpha\nbeta\n"
    assert t["file_write"](path="new/deep/n.txt", content="n", make_dirs=True)["bytes"] == 1
    t["file_write"](path="new/deep/n.txt", content="m", mode="overwrite")
    t["file_write"](path="new/deep/n.txt", content="o", mode="append")
    assert (box.root / "new/deep/n.txt").read_text() == "mo"
    assert not [p for p in (box.root / "new/deep").iterdir() if p.name.endswith(".tmp")]
    found = t["file_glob"](pattern="**/*.txt")["matches"]
    assert found == ["a.txt", "hard.txt", "new/deep/n.txt", "sub/b.txt"]  # no links, nothing outside
    assert t["file_glob"](pattern="sub/*")["matches"] == ["sub/b.txt"]
    t["file_move"](source="a.txt", destination="sub/a2.txt")
    assert (box.root / "sub/a2.txt").read_text().startswith("beta") and not (box.root / "a.txt").exists()


def test_caps(box: Box):
    (box.root / "big.txt").write_text("x" * 5000)
    read = BUILTINS["file_read"](roots=[str(box.root)], max_bytes=1000)(path="big.txt")
    assert len(read["content"]) == 1000 and read["truncated"] and read["size"] == 5000
    write = BUILTINS["file_write"](roots=[str(box.root)], max_bytes=10)
    box.refused(lambda: write(path="w.txt", content="y" * 11), match="limit")
    glob = BUILTINS["file_glob"](roots=[str(box.root)], max_results=2)(pattern="**")
    assert len(glob["matches"]) == 2 and glob["truncated"]


def test_config_is_checked_when_the_tool_is_made(box: Box):
    with pytest.raises(ToolError, match="did you mean `roots`"):
        BUILTINS["file_read"](root=[str(box.root)])
    with pytest.raises(ToolError, match="not an existing directory"):
        BUILTINS["file_read"](roots=[str(box.root / "missing")])
    with pytest.raises(ToolError, match="max_bytes"):
        BUILTINS["file_write"](roots=[str(box.root)], max_bytes=-1)


OUT = "{outside}/secret.txt"
READS = [
    ("absolute path outside", OUT, "outside the allowed roots"),
    ("dot-dot escape", "../outside/secret.txt", "outside the allowed roots"),
    ("dot-dot after a directory", "sub/../../outside/secret.txt", "outside the allowed roots"),
    ("absolute dot-dot escape", "{root}/../outside/secret.txt", "outside the allowed roots"),
    ("symlinked directory", "link_dir/secret.txt", "symbolic link"),
    ("symlinked file", "link_file", "symbolic link"),
    ("symlink climbing up", "sub/up/outside/secret.txt", "symbolic link"),
    ("FIFO", "fifo", "FIFO"),
    ("socket", "sock", "socket"),
    ("system file", "/etc/passwd", "outside the allowed roots"),
    ("device by absolute path", "/dev/zero", "outside the allowed roots"),
    ("proc file", "/proc/self/environ", "outside the allowed roots"),
    ("home directory", "~/.bashrc", "outside the allowed roots"),
    ("NUL byte", "a.txt\0../../etc/passwd", "NUL"),
    ("directory", "sub", "directory"),
]


def _fill(text: str, box: Box) -> str:
    return text.format(outside=box.outside, root=box.root)


@pytest.mark.parametrize(("case", "path", "message"), READS, ids=[r[0] for r in READS])
def test_abuse_read(box: Box, case: str, path: str, message: str):
    read = BUILTINS["file_read"](roots=[str(box.root)])
    box.refused(lambda: read(path=_fill(path, box)), match=message)


def test_abuse_read_device_node_inside_the_root(box: Box):
    if not (box.root / "null").exists():
        pytest.skip("cannot create device nodes here")
    read = BUILTINS["file_read"](roots=[str(box.root)])
    box.refused(lambda: read(path="null"), match="character device")


def test_abuse_read_devices_even_when_dev_is_a_root(box: Box):
    read = BUILTINS["file_read"](roots=["/dev"])
    box.refused(lambda: read(path="zero"), match="character device")
    box.refused(lambda: read(path="stdin"), match="symbolic link")


WRITES = [
    ("absolute path outside", {"path": "{outside}/new.txt"}, "outside"),
    ("dot-dot escape", {"path": "../outside/new.txt"}, "outside"),
    ("into a symlinked directory", {"path": "link_dir/new.txt"}, "symbolic link"),
    ("overwrite through a file symlink", {"path": "link_file", "mode": "overwrite"}, "symbolic link"),
    ("append through a file symlink", {"path": "link_file", "mode": "append"}, "symbolic link"),
    ("overwrite a hard link to outside", {"path": "hard.txt", "mode": "overwrite"}, "hard links"),
    ("append to a hard link to outside", {"path": "hard.txt", "mode": "append"}, "hard links"),
    ("create over an existing file", {"path": "hard.txt"}, "already exists"),
    ("write into a FIFO", {"path": "fifo", "mode": "overwrite"}, "FIFO"),
    ("append into a FIFO", {"path": "fifo", "mode": "append"}, "FIFO"),
    ("make directories through a link", {"path": "link_dir/x/y.txt", "make_dirs": True}, "symbolic link"),
    ("make directories climbing up", {"path": "sub/up/outside/z.txt", "make_dirs": True}, "symbolic link"),
    ("system file", {"path": "/etc/cron.d/x", "mode": "overwrite"}, "outside"),
    ("the root itself", {"path": "{root}", "mode": "overwrite"}, "root directory"),
]


@pytest.mark.parametrize(("case", "args", "message"), WRITES, ids=[w[0] for w in WRITES])
def test_abuse_write(box: Box, case: str, args: dict, message: str):
    write = BUILTINS["file_write"](roots=[str(box.root)])
    args = {k: _fill(v, box) if isinstance(v, str) else v for k, v in args.items()}
    before = sorted(p.name for p in box.root.rglob("*"))
    box.refused(lambda: write(content="PWNED", **args), match=message)
    assert (box.outside / "secret.txt").read_text() == SECRET + "\n"
    assert sorted(p.name for p in box.root.rglob("*")) == before  # no temp file left behind


MOVES = [
    ("source outside", {"source": "{outside}/secret.txt", "destination": "got.txt"}, "outside"),
    ("destination outside", {"source": "a.txt", "destination": "{outside}/a.txt"}, "outside"),
    ("destination through a link", {"source": "a.txt", "destination": "link_dir/a.txt"}, "symbolic link"),
    ("source through a link", {"source": "link_dir/secret.txt", "destination": "got.txt"}, "symbolic link"),
    ("move the link itself", {"source": "link_file", "destination": "got.txt"}, "not a regular file"),
    ("replace a hard link", {"source": "a.txt", "destination": "hard.txt", "overwrite": True}, "hard links"),
    ("replace without overwrite", {"source": "a.txt", "destination": "sub/b.txt"}, "already exists"),
    ("replace a FIFO", {"source": "a.txt", "destination": "fifo", "overwrite": True}, "FIFO"),
    ("dot-dot destination", {"source": "a.txt", "destination": "sub/../../outside/a.txt"}, "outside"),
]


@pytest.mark.parametrize(("case", "args", "message"), MOVES, ids=[m[0] for m in MOVES])
def test_abuse_move(box: Box, case: str, args: dict, message: str):
    move = BUILTINS["file_move"](roots=[str(box.root)])
    args = {k: _fill(v, box) if isinstance(v, str) else v for k, v in args.items()}
    box.refused(lambda: move(**args), match=message)
    assert (box.root / "a.txt").exists()


GLOBS = [("dot-dot", "../outside/*", "`..`"), ("absolute outside", "{outside}/*", "outside"),
         ("system", "/etc/*", "outside"), ("through a link", "link_dir/*", "symbolic link")]


@pytest.mark.parametrize(("case", "pattern", "message"), GLOBS, ids=[g[0] for g in GLOBS])
def test_abuse_glob(box: Box, case: str, pattern: str, message: str):
    glob = BUILTINS["file_glob"](roots=[str(box.root)])
    box.refused(lambda: glob(pattern=_fill(pattern, box)), match=message)


def test_glob_never_lists_what_links_point_at(box: Box):
    found = BUILTINS["file_glob"](roots=[str(box.root)])(pattern="**")["matches"]
    assert not any("secret" in m or m.startswith(("link_", "sub/up/")) for m in found)


def test_a_directory_swapped_for_a_link_mid_walk_is_never_followed(box: Box):
    """Flip `sub` between a real directory and a link to outside while reading through it: the
    read either finds the real file or is refused, and never returns the secret."""
    (box.outside / "b.txt").write_text(SECRET)
    read = BUILTINS["file_read"](roots=[str(box.root)])
    real, parked = box.root / "sub", box.root / "sub.real"
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            os.rename(real, parked)
            os.symlink(box.outside, real)
            os.unlink(real)
            os.rename(parked, real)

    flipper = threading.Thread(target=flip)
    flipper.start()
    outcomes = set()
    try:
        for _ in range(400):
            try:
                content = read(path="sub/b.txt")["content"]
                assert SECRET not in content
                outcomes.add("read")
            except ToolError:
                outcomes.add("refused")
    finally:
        stop.set()
        flipper.join()
    assert outcomes  # the loop ran; both outcomes are allowed, a leak never is
