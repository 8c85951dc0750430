"""Which programs `shell` and `process` may run, and the options each may not be given.

A node allows programs by name; only programs in :data:`RULES` can be allowed, because a
program's options decide whether it can run other programs or write files. Besides these
rules, every argument (and every option's value) is checked as a path: outside the roots or
through a symbolic link is refused, so no allowed program can be pointed at other files.
Long options are refused in every abbreviation GNU getopt accepts (``--out`` for ``--output``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Rule:
    """Argument rules of one program.

    ``refused`` maps an option (``-x``, ``--long`` or, with ``words``, an exact word such as
    ``-exec``) to the reason it is refused; ``forced`` is put before the caller's arguments;
    ``max_positional`` caps operands (where a later one would be an output file); ``writes``
    lets the program write files (in the roots), otherwise the OS stops any file write;
    ``subcommands`` (git) lists the subcommands allowed, each with arguments forced after it,
    and ``before`` the options refused before the subcommand. Unless one of ``script_options``
    is given, the first operand is a script or pattern (not checked as a path).
    """

    refused: Mapping[str, str] = field(default_factory=dict)
    forced: tuple[str, ...] = ()
    words: bool = False
    max_positional: int | None = None
    writes: bool = False
    subcommands: Mapping[str, tuple[str, ...]] | None = None
    before: Mapping[str, str] = field(default_factory=dict)
    script_options: frozenset[str] = frozenset()
    env: Mapping[str, str] = field(default_factory=dict)


_RUNS = "runs another program"
_WRITES = "writes files"
_FOLLOWS = "follows symbolic links out of the roots"

RULES: Mapping[str, Rule] = MappingProxyType({
    "ls": Rule({"-L": _FOLLOWS, "--dereference": _FOLLOWS}),
    "cat": Rule(), "head": Rule(), "tail": Rule(), "wc": Rule(), "cut": Rule(), "nl": Rule(),
    "tr": Rule(), "echo": Rule(), "pwd": Rule(),
    "date": Rule({"-s": "sets the system clock", "--set": "sets the system clock"}),
    "stat": Rule({"-L": _FOLLOWS, "--dereference": _FOLLOWS}),
    "du": Rule({"-L": _FOLLOWS, "--dereference": _FOLLOWS}),
    "grep": Rule({"-R": _FOLLOWS, "--dereference-recursive": _FOLLOWS},
                 script_options=frozenset({"-e", "-f", "--regexp", "--file"})),
    # `uniq IN OUT` writes OUT: one operand at most.
    "uniq": Rule(max_positional=1),
    "sort": Rule({"-o": _WRITES, "--output": _WRITES, "--compress-program": _RUNS,
                  "-T": "writes temporary files where it is told",
                  "--temporary-directory": "writes temporary files where it is told"}),
    # GNU diff follows links by default.
    "diff": Rule(forced=("--no-dereference",)),
    # find's actions are single-dash words, matched exactly.
    "find": Rule({"-exec": _RUNS, "-execdir": _RUNS, "-ok": _RUNS, "-okdir": _RUNS,
                  "-delete": "deletes files", "-fprint": _WRITES, "-fprint0": _WRITES,
                  "-fprintf": _WRITES, "-fls": _WRITES,
                  "-L": _FOLLOWS, "-H": _FOLLOWS, "-follow": _FOLLOWS}, words=True),
    # --sandbox turns off system(), pipes to and from commands, and output redirection.
    "awk": Rule({"-l": "loads a shared library", "--load": "loads a shared library",
                 "-p": _WRITES, "--profile": _WRITES, "-d": _WRITES, "--dump-variables": _WRITES,
                 "-o": _WRITES, "--pretty-print": _WRITES, "-D": "starts a debugger",
                 "--debug": "starts a debugger", "-W": "takes any long option in its argument"},
                forced=("--sandbox",),
                script_options=frozenset({"-f", "--file", "-E", "--exec", "-e", "--source",
                                          "-i", "--include"})),
    # --sandbox turns off the `e`, `r` and `w` commands.
    "sed": Rule({"-i": "edits files in place", "--in-place": "edits files in place"},
                forced=("--sandbox",),
                script_options=frozenset({"-e", "-f", "--expression", "--file"})),
    # Extracting and creating archives writes files (inside the roots: paths are checked, and
    # tar itself refuses `..` members and absolute names unless -P is given).
    "tar": Rule({"--to-command": _RUNS, "-I": _RUNS, "--use-compress-program": _RUNS,
                 "--checkpoint-action": _RUNS, "-F": _RUNS, "--info-script": _RUNS,
                 "--new-volume-script": _RUNS, "--rsh-command": _RUNS, "--rmt-command": _RUNS,
                 "-P": "writes outside the roots", "--absolute-names": "writes outside the roots",
                 "-h": _FOLLOWS, "--dereference": _FOLLOWS},
                forced=("--force-local",),  # `-f host:file` would run rsh
                writes=True),
    # Read-only subcommands; configuration that runs programs is switched off, and options
    # that set configuration, run programs or write files are refused.
    "git": Rule({"--output": _WRITES, "--ext-diff": _RUNS, "--textconv": _RUNS,
                 "-O": _RUNS, "--open-files-in-pager": _RUNS},
                forced=("--no-pager", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
                        "-c", "core.pager=cat", "-c", "diff.external=", "-c", "core.sshCommand=false",
                        "-c", "protocol.allow=never", "-c", "credential.helper="),
                before={"-c": "sets configuration that can run programs",
                        "--config-env": "sets configuration that can run programs",
                        "--exec-path": "chooses the programs git runs",
                        "-p": "runs a pager", "--paginate": "runs a pager",
                        # One repository per call, whose configuration is vetted: use `cwd`.
                        "-C": "changes the repository (use the tool's cwd)",
                        "--git-dir": "changes the repository (use the tool's cwd)",
                        "--work-tree": "changes the repository (use the tool's cwd)"},
                subcommands={"status": (), "ls-files": (), "rev-parse": (), "describe": (),
                             "log": ("--no-ext-diff", "--no-textconv"),
                             "diff": ("--no-ext-diff", "--no-textconv"),
                             "show": ("--no-ext-diff", "--no-textconv"),
                             "blame": ("--no-textconv",), "grep": ("--no-textconv",)},
                env={"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                     "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}),
})

NEVER: Mapping[str, str] = MappingProxyType({
    **dict.fromkeys(("xargs", "env", "nice", "nohup", "timeout", "stdbuf", "time", "watch",
                     "sudo", "su", "doas", "setsid", "chroot", "unshare", "flock", "parallel"),
                    "runs the program given in its arguments"),
    **dict.fromkeys(("sh", "bash", "dash", "zsh", "ksh", "fish", "python", "python3", "perl",
                     "ruby", "node", "php", "lua", "tclsh", "make"),
                    "runs arbitrary code"),
    **dict.fromkeys(("cp", "mv", "rm", "ln", "chmod", "chown", "dd", "tee", "install", "mkdir",
                     "truncate", "touch"), "writes files (use the file tools)"),
    **dict.fromkeys(("curl", "wget", "nc", "ssh", "scp", "rsync", "ftp", "telnet"),
                    "opens network connections (use the network tools)"),
})
