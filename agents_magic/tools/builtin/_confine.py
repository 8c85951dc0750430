"""Files confined to configured roots by the kernel, not by comparing strings.

Every path is walked one component at a time from a descriptor of its root, each directory
opened with ``O_DIRECTORY | O_NOFOLLOW`` relative to the previous one, so no symbolic link is
followed anywhere and ``..`` can never climb above the root (it is resolved lexically, which is
exact once links are refused). Files are checked with ``lstat`` before they are opened (FIFOs,
devices and sockets are never opened) and with ``fstat`` after (the opened file is the one that
was checked). Writes create a fresh file with ``O_EXCL`` and rename it over the target, and
refuse targets with more than one hard link.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from agents_magic.tools._tool import ToolArgumentsError, ToolError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Missing(ToolError):
    """A path, or a directory on the way to it, does not exist."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link (links are not followed)"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


@dataclass(frozen=True)
class Place:
    """A path inside a root: the root, the components below it, and how to show it."""

    root: str
    parts: tuple[str, ...]

    @property
    def shown(self) -> str:
        return os.path.join(self.root, *self.parts)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""


class Roots:
    """The directories a tool may touch; relative paths are taken from the first."""

    def __init__(self, tool: str, roots: list[str]) -> None:
        if not roots:
            raise ToolError(f"{tool}: config `roots` must list at least one directory")
        self.tool = tool
        self.roots: list[str] = []
        self.spellings: list[tuple[str, str]] = []  # (as configured, absolute) -> real root
        for given in roots:
            real = os.path.realpath(os.path.expanduser(given))
            if not os.path.isdir(real):
                raise ToolError(f"{tool}: root `{given}` is not an existing directory")
            self.roots.append(real)
            self.spellings += [(real, real), (os.path.abspath(os.path.expanduser(given)), real)]

    def place(self, path: str) -> Place:
        """Where ``path`` is, worked out lexically; outside every root is an error."""
        if not isinstance(path, str) or not path or "\0" in path:
            raise ToolArgumentsError("the path must be a non-empty string without NUL characters")
        path = os.path.expanduser(path)
        if os.path.isabs(path):
            for spelling, real in self.spellings:
                rest = os.path.relpath(os.path.normpath(path), spelling)
                if rest != ".." and not rest.startswith("../"):
                    return Place(real, self._parts(path, rest))
            raise self.outside(path)
        return Place(self.roots[0], self._parts(path, path))

    def _parts(self, original: str, rest: str) -> tuple[str, ...]:
        parts: list[str] = []
        for part in rest.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise self.outside(original)
                parts.pop()
            else:
                parts.append(part)
        return tuple(parts)

    def outside(self, path: str) -> ToolError:
        return ToolError(f"`{path}` is outside the allowed roots ({', '.join(self.roots)})")

    @contextlib.contextmanager
    def directory(self, place: Place, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory ``place`` names, reached without following links;
        with ``create``, missing directories are made on the way."""
        fd = os.open(place.root, _DIR_FLAGS)
        try:
            for depth, part in enumerate(place.parts):
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise Missing(f"`{_join(place, depth)}` does not exist") from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as error:
                    if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                    what = "not a directory" if stat.S_ISREG(mode) else _kind(mode)
                    raise ToolError(f"`{_join(place, depth)}` is {what}") from None
                os.close(fd)
                fd = next_fd
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def parent(self, place: Place, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory holding ``place``."""
        if not place.parts:
            raise ToolError(f"`{place.shown}` is a root directory, not a file")
        with self.directory(Place(place.root, place.parts[:-1]), create=create) as fd:
            yield fd

    def lstat(self, dir_fd: int, place: Place) -> os.stat_result | None:
        """``place``'s own status (links not followed), or None if it does not exist."""
        try:
            return os.stat(place.name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_regular(self, dir_fd: int, place: Place, flags: int) -> int:
        """Open an existing regular file; anything else is refused before it is opened."""
        before = self.lstat(dir_fd, place)
        if before is None:
            raise Missing(f"`{place.shown}` does not exist")
        if not stat.S_ISREG(before.st_mode):
            raise ToolError(f"`{place.shown}` is {_kind(before.st_mode)}")
        fd = os.open(place.name, flags | _FILE_FLAGS, dir_fd=dir_fd)
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            os.close(fd)
            raise ToolError(f"`{place.shown}` changed while it was being opened")
        return fd

    def vet(self, place: Place) -> None:
        """Refuse a path handed to another program if reaching it crosses a symbolic link or
        it names a FIFO, device or socket; a path that does not exist yet is fine."""
        if not place.parts:
            return
        try:
            with self.parent(place) as dir_fd:
                found = self.lstat(dir_fd, place)
        except Missing:
            return
        if found is not None and not (stat.S_ISREG(found.st_mode) or stat.S_ISDIR(found.st_mode)):
            raise ToolError(f"`{place.shown}` is {_kind(found.st_mode)}")

    def write_atomic(self, dir_fd: int, place: Place, data: bytes, *, replace: bool) -> None:
        """Write ``data`` to a new file beside ``place`` (``O_EXCL``) and rename it over."""
        existing = self.lstat(dir_fd, place)
        if existing is not None:
            self.check_replaceable(place, existing, replace)
        temp = f".{place.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if replace:
                os.rename(temp, place.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:  # link(2) fails if the name exists: no window in which another file is clobbered
                os.link(temp, place.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                os.unlink(temp, dir_fd=dir_fd)
        except FileExistsError:
            os.unlink(temp, dir_fd=dir_fd)
            raise ToolError(f"`{place.shown}` already exists") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise

    def check_replaceable(self, place: Place, existing: os.stat_result, replace: bool) -> None:
        """Refuse to replace anything but a plain, singly linked file, and only when asked."""
        if not stat.S_ISREG(existing.st_mode):
            raise ToolError(f"`{place.shown}` is {_kind(existing.st_mode)}")
        if not replace:
            raise ToolError(f"`{place.shown}` already exists (pass overwrite=true to replace it)")
        if existing.st_nlink > 1:
            # Another name (perhaps outside the roots) shares this file; writing would reach it.
            raise ToolError(f"`{place.shown}` has {existing.st_nlink} hard links; refusing to write it")


def _join(place: Place, depth: int) -> str:
    return os.path.join(place.root, *place.parts[:depth + 1])
