"""`file_read`, `file_write`, `file_glob`, `file_move`: files inside the configured roots only
(see `_confine` for how the kernel enforces it)."""
from __future__ import annotations

import errno
import os
import re
import stat
from typing import Any, Literal

from pydantic import Field

from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, os_errors, settings
from agents_magic.tools.builtin._confine import _DIR_FLAGS, Place, Roots

MB = 1_000_000


class FileSettings(Settings):
    roots: list[str]
    max_bytes: int = Field(MB, gt=0, le=100 * MB)


class GlobSettings(Settings):
    roots: list[str]
    max_results: int = Field(1000, gt=0, le=100_000)
    max_scanned: int = Field(100_000, gt=0, le=10_000_000)


def _path(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def file_read(**config: Any) -> Tool:
    """Read a text file inside the roots, up to ``max_bytes``."""
    cfg = settings("file_read", FileSettings, config)
    roots = Roots("file_read", cfg.roots)

    @os_errors
    def read(path: str, offset: int = 0) -> dict[str, Any]:
        place = roots.place(path)
        with roots.parent(place) as dir_fd:
            fd = roots.open_regular(dir_fd, place, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, offset))
            data = handle.read(cfg.max_bytes + 1)
        return {"path": place.shown, "size": size, "offset": offset,
                "content": data[:cfg.max_bytes].decode("utf-8", errors="replace"),
                "truncated": len(data) > cfg.max_bytes}

    return Tool("file_read",
                f"Read a UTF-8 text file inside {', '.join(roots.roots)} (relative paths start at "
                f"the first). At most {cfg.max_bytes} bytes per call; use `offset` to read on.",
                arguments({
                    "path": _path("file to read"),
                    "offset": {"type": "integer", "minimum": 0, "description": "byte to start at"}},
                    "path"),
                read)


def file_write(**config: Any) -> Tool:
    """Write a text file inside the roots, atomically; never through a link or a hard link."""
    cfg = settings("file_write", FileSettings, config)
    roots = Roots("file_write", cfg.roots)

    @os_errors
    def write(path: str, content: str, mode: Literal["create", "overwrite", "append"] = "create",
              make_dirs: bool = False) -> dict[str, Any]:
        data = content.encode("utf-8")
        if len(data) > cfg.max_bytes:
            raise ToolError(f"content is {len(data)} bytes; the limit is {cfg.max_bytes}")
        place = roots.place(path)
        with roots.parent(place, create=make_dirs) as dir_fd:
            if mode == "append" and roots.lstat(dir_fd, place) is not None:
                return _append(roots, dir_fd, place, data, cfg.max_bytes)
            roots.write_atomic(dir_fd, place, data, replace=mode == "overwrite")
        return {"path": place.shown, "bytes": len(data), "mode": mode}

    return Tool("file_write",
                f"Write a UTF-8 text file inside {', '.join(roots.roots)}. mode `create` (default) "
                "fails if the file exists, `overwrite` replaces it atomically, `append` adds to it. "
                f"At most {cfg.max_bytes} bytes.",
                arguments({
                    "path": _path("file to write"),
                    "content": {"type": "string"},
                    "mode": {"type": "string", "enum": ["create", "overwrite", "append"]},
                    "make_dirs": {"type": "boolean", "description": "create missing directories"}},
                    "path", "content"),
                write)


def _append(roots: Roots, dir_fd: int, place: Place, data: bytes, limit: int) -> dict[str, Any]:
    fd = roots.open_regular(dir_fd, place, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "ab") as handle:
        now = os.fstat(fd)
        if now.st_nlink > 1:
            raise ToolError(f"`{place.shown}` has {now.st_nlink} hard links; refusing to write it")
        if now.st_size + len(data) > limit:
            raise ToolError(f"`{place.shown}` would grow past the {limit}-byte limit")
        handle.write(data)
    return {"path": place.shown, "bytes": len(data), "mode": "append"}


def file_move(**config: Any) -> Tool:
    """Move a file from one place inside the roots to another."""
    cfg = settings("file_move", FileSettings, config)
    roots = Roots("file_move", cfg.roots)

    @os_errors
    def move(source: str, destination: str, overwrite: bool = False) -> dict[str, Any]:
        src, dst = roots.place(source), roots.place(destination)
        with roots.parent(src) as src_fd, roots.parent(dst) as dst_fd:
            found = roots.lstat(src_fd, src)
            if found is None:
                raise ToolError(f"`{src.shown}` does not exist")
            if not stat.S_ISREG(found.st_mode):
                raise ToolError(f"`{src.shown}` is not a regular file; only files can be moved")
            existing = roots.lstat(dst_fd, dst)
            if existing is not None:
                roots.check_replaceable(dst, existing, overwrite)
            try:
                if overwrite:
                    os.rename(src.name, dst.name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                else:  # link(2) refuses an existing name atomically; then drop the old name
                    os.link(src.name, dst.name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
                    os.unlink(src.name, dir_fd=src_fd)
            except FileExistsError:
                raise ToolError(f"`{dst.shown}` already exists") from None
            except OSError as error:
                if error.errno == errno.EXDEV:
                    raise ToolError("source and destination are on different file systems") from None
                raise
        return {"source": src.shown, "destination": dst.shown}

    return Tool("file_move",
                f"Move (rename) a file within {', '.join(roots.roots)}. Fails if the destination "
                "exists unless overwrite is true.",
                arguments({
                    "source": _path("file to move"), "destination": _path("new path"),
                    "overwrite": {"type": "boolean"}},
                    "source", "destination"),
                move)


def file_glob(**config: Any) -> Tool:
    """List files and directories matching a glob, walking only real directories in the roots."""
    cfg = settings("file_glob", GlobSettings, config)
    roots = Roots("file_glob", cfg.roots)

    @os_errors
    def glob(pattern: str) -> dict[str, Any]:
        if not pattern:
            raise ToolArgumentsError("the pattern is empty")
        if ".." in pattern.split("/"):
            raise ToolError("the pattern must not contain `..`")
        parts = [p for p in pattern.split("/") if p not in ("", ".")]
        fixed = 0
        while fixed < len(parts) - 1 and not _MAGIC.search(parts[fixed]):
            fixed += 1
        base = "/" + "/".join(parts[:fixed]) if pattern.startswith("/") else "/".join(parts[:fixed])
        place = roots.place(base or ".")
        matcher = re.compile(_translate(parts[fixed:]))
        found: list[str] = []
        budget = [cfg.max_scanned]
        with roots.directory(place) as fd:
            complete = _walk(fd, "", matcher, found, cfg.max_results, budget)
        shown = place.shown if os.path.isabs(pattern) else base
        return {"matches": [os.path.join(shown, rel) if shown else rel for rel in found],
                "truncated": not complete}

    return Tool("file_glob",
                f"List paths inside {', '.join(roots.roots)} matching a glob (`*`, `?`, `[...]`, "
                f"`**` for any depth). Symbolic links are neither followed nor listed. At most "
                f"{cfg.max_results} results.",
                arguments({"pattern": {"type": "string"}}, "pattern"),
                glob)


_MAGIC = re.compile(r"[*?\[]")


def _translate(parts: list[str]) -> str:
    """A regex over `/`-joined relative paths for glob components (`**` spans directories)."""
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
            continue
        piece, j = "", 0
        while j < len(part):
            char = part[j]
            close = part.find("]", j + 2) if char == "[" else -1
            if char == "*":
                piece += "[^/]*"
            elif char == "?":
                piece += "[^/]"
            elif close != -1:
                body = part[j + 1:close]
                body = "^" + body[1:] if body.startswith("!") else body
                piece += "[" + body.replace("\\", "\\\\").replace("/", "") + "]"
                j = close
            else:
                piece += re.escape(char)
            j += 1
        out.append(piece + ("" if last else "/"))
    return "".join(out) + r"\Z"


def _walk(fd: int, prefix: str, matcher: re.Pattern[str], found: list[str], limit: int,
          budget: list[int]) -> bool:
    """Collect matches below ``fd``; False once a cap stops the walk."""
    with os.scandir(fd) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if entry.is_symlink():
                continue
            rel = prefix + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if (is_dir or entry.is_file(follow_symlinks=False)) and matcher.match(rel):
                if len(found) >= limit:
                    return False
                found.append(rel)
            if is_dir:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                try:
                    if not _walk(child, rel + "/", matcher, found, limit, budget):
                        return False
                finally:
                    os.close(child)
    return True
