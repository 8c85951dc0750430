"""`shell` and `process`: run one allowed program, never through a shell.

The program must be allowed by the node and have argument rules (`_rules`); every argument is
checked against them and as a path inside the roots. The process gets a scrubbed environment
(no keys: only ``PATH``, the locale and what its rule adds), no stdin, a working directory held
open inside a root, OS limits (``prlimit``: no core files, a CPU limit and, unless its rule says
it writes, a zero file-size limit so any file write is stopped by the kernel), a wall-clock
timeout and output caps; its whole process group is killed when it ends, overruns or is cancelled.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shlex
import shutil
import signal
from typing import Any

from pydantic import Field

from agents_magic.tools._tool import Tool, ToolArgumentsError, ToolError
from agents_magic.tools.builtin._config import Settings, arguments, os_errors, settings
from agents_magic.tools.builtin._confine import Place, Roots
from agents_magic.tools.builtin._rules import NEVER, RULES, Rule

SAFE_PATH = "/usr/bin:/bin"
# Last parts of git configuration keys whose value is a program to run.
_GIT_COMMAND_KEYS = {"clean", "smudge", "process", "textconv", "command", "driver", "program",
                     "helper", "fsmonitor", "pager", "editor", "sshcommand", "askpass", "external",
                     "hookspath", "packobjectshook", "cmd", "gitproxy", "alternaterefscommand"}
_SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "<<", "2>", "2>&1", "&>", "|&"}


class ProcessSettings(Settings):
    allow: list[str]
    roots: list[str]
    timeout: float = Field(10.0, gt=0, le=600)
    max_output: int = Field(100_000, gt=0, le=10_000_000)
    max_file_bytes: int = Field(10_000_000, ge=0, le=10_000_000_000)


class Runner:
    """Checks and runs one program for a tool configured with ``allow`` and ``roots``."""

    def __init__(self, tool: str, config: dict[str, Any]) -> None:
        self.cfg = settings(tool, ProcessSettings, config)
        self.roots = Roots(tool, self.cfg.roots)
        self.prlimit = shutil.which("prlimit", path=SAFE_PATH)
        if self.prlimit is None:
            raise ToolError(f"{tool} needs `prlimit` (util-linux) to limit the processes it runs")
        self.programs: dict[str, str] = {}
        problems = [p for name in self.cfg.allow if (p := self._allow(name))]
        if problems:
            raise ToolError(f"{tool}: " + "; ".join(problems))

    def _allow(self, name: str) -> str:
        """Resolve an allowed program, or say why it cannot be allowed."""
        if name in NEVER:
            return f"`{name}` cannot be allowed: it {NEVER[name]}"
        if name not in RULES:
            from agents_magic.config._validate import did_you_mean

            hint = did_you_mean(name, RULES)
            return (f"`{name}` has no argument rules, so it cannot be allowed "
                    f"({hint + ' ' if hint else ''}programs with rules: {', '.join(RULES)})")
        path = shutil.which(name, path=SAFE_PATH)
        if path is None:
            return f"`{name}` is not installed (looked in {SAFE_PATH})"
        if name == "awk" and not os.path.basename(os.path.realpath(path)).startswith("gawk"):
            return "`awk` must be GNU awk here (its --sandbox option is required)"
        self.programs[name] = path
        return ""

    def check(self, program: str, args: list[str], cwd: Place) -> list[str]:
        """The full argument vector for ``program args``, or a `ToolError` saying what is refused."""
        if program not in self.programs:
            allowed = ", ".join(self.programs) or "none"
            raise ToolError(f"program `{program}` is not allowed (allowed: {allowed}); give it by name")
        rule = RULES[program]
        out: list[str] = []
        positional, options_done, subcommand = 0, False, None
        script_first = self._script_first(rule, args)
        for index, arg in enumerate(args):
            if not isinstance(arg, str) or "\0" in arg:
                raise ToolArgumentsError("arguments must be strings without NUL characters")
            before_sub = rule.subcommands is not None and subcommand is None
            if options_done or arg == "-" or not arg.startswith("-"):
                if arg == "--" and not options_done:
                    options_done = True
                elif before_sub:
                    subcommand = self._subcommand(program, rule, arg)
                    out += [arg, *rule.subcommands[arg]]  # type: ignore[index]
                    continue
                else:
                    positional += 1
                    if program == "tar" and index == 0:  # `tar xf …`: old-style option letters
                        self._option(program, rule.refused, "-" + arg, rule.words, cwd)
                    if not (script_first and positional == 1):
                        self._path(arg, cwd)
            else:
                self._option(program, rule.before if before_sub else rule.refused, arg, rule.words, cwd)
            out.append(arg)
        if rule.max_positional is not None and positional > rule.max_positional:
            raise ToolError(f"`{program}` takes at most {rule.max_positional} file operand(s) here "
                            "(a further one would be written to)")
        if rule.subcommands is not None and subcommand is None:
            raise ToolError(f"`{program}` needs one of the subcommands: {', '.join(rule.subcommands)}")
        return [self.programs[program], *rule.forced, *out]

    @staticmethod
    def _subcommand(program: str, rule: Rule, arg: str) -> str:
        if arg not in (rule.subcommands or {}):
            raise ToolError(f"`{program} {arg}` is not allowed; allowed subcommands: "
                            f"{', '.join(rule.subcommands or ())}")
        return arg

    def _option(self, program: str, refused: Any, arg: str, words: bool, cwd: Place) -> None:
        value = ""
        if words:
            reason = refused.get(arg)
        elif arg.startswith("--"):
            name, _, value = arg.partition("=")
            # GNU getopt accepts any unambiguous prefix, so refuse every prefix of a refused option.
            reason = next((why for opt, why in refused.items()
                           if opt.startswith("--") and len(name) > 2 and opt.startswith(name)), None)
        else:
            reason = next((why for opt, why in refused.items()
                           if len(opt) == 2 and opt[1] in arg[1:]), None)
            value = arg[2:]  # `-fFILE`: a value glued to the option
        if reason:
            raise ToolError(f"`{program} {arg}` is refused: it {reason}")
        self._path(value, cwd)

    @staticmethod
    def _script_first(rule: Rule, args: list[str]) -> bool:
        """Whether the first operand is a script or pattern rather than a file: only when no
        option supplies one (options may come after operands, so all are looked at)."""
        if not rule.script_options:
            return False
        for arg in args:
            if arg == "--":
                break
            if arg.startswith("--") and any(o.startswith("--") and o.startswith(arg.partition("=")[0])
                                            for o in rule.script_options):
                return False
            if arg.startswith("-") and not arg.startswith("--") and any(
                    len(o) == 2 and o[1] in arg[1:] for o in rule.script_options):
                return False
        return True

    def _path(self, arg: str, cwd: Place) -> None:
        """Refuse an argument that, read as a path, leaves the roots or crosses a link."""
        if arg:
            self.roots.vet(self.roots.place(arg if arg.startswith("/") else os.path.join(cwd.shown, arg)))

    async def run(self, program: str, args: list[str], cwd: str) -> dict[str, Any]:
        place = self.roots.place(cwd or ".")
        argv = self.check(program, args, place)
        rule = RULES[program]
        env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **rule.env}
        if program == "git":
            # Repository discovery stops at the roots instead of climbing into their parents.
            env["GIT_CEILING_DIRECTORIES"] = ":".join(os.path.dirname(r) for r in self.roots.roots)
        with self.roots.directory(place) as dir_fd:
            if program == "git":
                argv[1:1] = await self._git_overrides(env, dir_fd)
            code, out, err, cut = await self._spawn(program, argv, rule.writes, env, dir_fd)
        result: dict[str, Any] = {"exit_code": code, "stdout": out.decode("utf-8", "replace"),
                                  "stderr": err.decode("utf-8", "replace"), "truncated": cut}
        if code == -signal.SIGXFSZ:
            result["stderr"] += f"\n[{program} tried to write a file and was stopped]"
        elif cut:
            result["stderr"] += f"\n[output passed {self.cfg.max_output} bytes; the process was stopped]"
        return result

    async def _git_overrides(self, env: dict[str, str], dir_fd: int) -> list[str]:
        """``-c key=`` for every key of the repository's configuration that names a program to
        run (filter drivers, textconv, diff commands, fsmonitor, helpers, …): the repository is
        data the model may have written, so none of its commands run."""
        argv = [self.programs["git"], "config", "--list", "--name-only", "-z"]
        code, out, err, _ = await self._spawn("git", argv, False, env, dir_fd)
        overrides = []
        for key in filter(None, out.decode("utf-8", "replace").split("\0")):
            if key.rsplit(".", 1)[-1].lower() in _GIT_COMMAND_KEYS:
                if "=" in key:
                    raise ToolError(f"the repository's configuration has a key git cannot override: `{key}`")
                overrides += ["-c", f"{key}="]
        return overrides

    async def _spawn(self, program: str, argv: list[str], writes: bool, env: dict[str, str],
                     dir_fd: int) -> tuple[int, bytes, bytes, bool]:
        cfg = self.cfg
        limits = [f"--fsize={cfg.max_file_bytes if writes else 0}", "--core=0",
                  f"--cpu={math.ceil(cfg.timeout) + 1}"]
        # The child starts in the directory this process holds open: no path to swap.
        proc = await asyncio.create_subprocess_exec(
            self.prlimit, *limits, "--", *argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=f"/proc/{os.getpid()}/fd/{dir_fd}", env=env, start_new_session=True)
        cut = [False]
        try:
            out, err, _ = await asyncio.wait_for(asyncio.gather(
                self._drain(proc, proc.stdout, cut), self._drain(proc, proc.stderr, cut), proc.wait()),
                cfg.timeout)
        except asyncio.TimeoutError:
            raise ToolError(f"`{program}` ran longer than {cfg.timeout:g} s; it was killed") from None
        finally:
            _kill_group(proc)
            await proc.wait()
        return proc.returncode or 0, out, err, cut[0]

    async def _drain(self, proc: asyncio.subprocess.Process, stream: asyncio.StreamReader | None,
                     cut: list[bool]) -> bytes:
        data = bytearray()
        while stream is not None and (chunk := await stream.read(65536)):
            room = self.cfg.max_output - len(data)
            data += chunk[:max(room, 0)]
            if len(chunk) > room and not cut[0]:
                cut[0] = True
                _kill_group(proc)
        return bytes(data)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _description(runner: Runner, how: str) -> str:
    cfg = runner.cfg
    return (f"{how} Allowed programs: {', '.join(runner.programs)}. No shell: no pipes, "
            f"redirections or variables. Paths must stay inside {', '.join(runner.roots.roots)}. "
            f"Stops after {cfg.timeout:g} s or {cfg.max_output} bytes of output.")


def shell(**config: Any) -> Tool:
    """Run a command line (split like a shell would, but never run by one)."""
    runner = Runner("shell", config)

    @os_errors
    async def run(command: str, cwd: str = ".") -> dict[str, Any]:
        try:
            argv = shlex.split(command)
        except ValueError as error:
            raise ToolArgumentsError(f"cannot split the command: {error}") from None
        if not argv:
            raise ToolArgumentsError("the command is empty")
        operators = [a for a in argv if a in _SHELL_OPERATORS]
        if operators:
            raise ToolError(f"`{operators[0]}` is shell syntax, and no shell runs here: run one "
                            "program per call")
        return await runner.run(argv[0], argv[1:], cwd)

    return Tool("shell", _description(runner, "Run one command line, e.g. `grep -rn TODO src`."),
                arguments({
                    "command": {"type": "string"},
                    "cwd": {"type": "string", "description": "working directory (default: the first root)"}},
                    "command"),
                run)


def process(**config: Any) -> Tool:
    """Run a program with an explicit argument list."""
    runner = Runner("process", config)

    @os_errors
    async def run(program: str, args: list[str] | None = None, cwd: str = ".") -> dict[str, Any]:
        return await runner.run(program, list(args or ()), cwd)

    return Tool("process", _description(runner, "Run one program with a list of arguments."),
                arguments({
                    "program": {"type": "string"},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "cwd": {"type": "string", "description": "working directory (default: the first root)"}},
                    "program"),
                run)
