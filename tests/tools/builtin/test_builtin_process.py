"""shell and process run real programs: allowed commands work; the abuse corpus never runs the
marker program, never reads the secret and never writes outside the root."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import SECRET, Box

from agents_magic.tools import ToolError
from agents_magic.tools.builtin import BUILTINS

ALLOW = ["ls", "cat", "head", "tail", "wc", "grep", "sort", "uniq", "find", "awk", "sed", "tar",
         "git", "diff", "du", "stat", "date", "echo"]


@pytest.fixture
def sh(box: Box):
    return BUILTINS["shell"](allow=ALLOW, roots=[str(box.root)], timeout=5, max_output=20_000)


@pytest.fixture
def proc(box: Box):
    return BUILTINS["process"](allow=ALLOW, roots=[str(box.root)], timeout=5)


def test_allowed_commands_work(box: Box, sh, proc):
    assert sh(command="sort a.txt")["stdout"] == "alpha\nbeta\nbeta\n"
    assert sh(command="grep -rn inside .")["stdout"] == "./sub/b.txt:1:inside b\n"
    assert sh(command="wc -l b.txt", cwd="sub")["stdout"].split()[0] == "1"
    assert sorted(sh(command="find . -name '*.txt' -type f")["stdout"].split()) == [
        "./a.txt", "./hard.txt", "./sub/b.txt"]
    assert sh(command="awk '/alpha/ {print NR \": \" $0}' a.txt")["stdout"] == "2: alpha\n"
    assert sh(command="grep /x a.txt")["exit_code"] == 1  # a pattern, not a path
    assert sh(command="sed -n 2p a.txt")["stdout"] == "alpha\n"
    assert sh(command="uniq a.txt")["exit_code"] == 0
    assert proc(program="echo", args=["a; b", "$(x)", "|"])["stdout"] == "a; b $(x) |\n"
    assert sh(command="tar -cf out.tar sub/b.txt")["exit_code"] == 0
    assert sh(command="tar -tf out.tar")["stdout"] == "sub/b.txt\n"
    assert sh(command="cat")["stdout"] == ""  # no stdin: returns at once


def _repository(box: Box) -> tuple[Path, list[str]]:
    """``repo/`` in the root with one commit of ``f.txt``, and the git command line to use it."""
    repo = box.root / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=n"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f.txt").write_text("one\n")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    return repo, git


def test_git_read_only_subcommands(box: Box, sh):
    repo, _ = _repository(box)
    assert "first" in sh(command="git log --oneline", cwd="repo")["stdout"]
    (repo / "f.txt").write_text("two\n")
    assert "+two" in sh(command="git diff", cwd="repo")["stdout"]
    # Not a repository: discovery stops at the root instead of finding one above it.
    assert "not a git repository" in sh(command="git status")["stderr"]


def test_environment_is_scrubbed(box: Box, sh, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghijkl")
    monkeypatch.setenv("HARMLESS_LOOKING", "visible?")
    names = sh(command="awk 'BEGIN { for (k in ENVIRON) print k }'")["stdout"].split()
    assert set(names) <= {"PATH", "LANG", "LC_ALL", "AWKPATH", "AWKLIBPATH"}


def test_timeout_kills_the_process_group(box: Box):
    slow = BUILTINS["shell"](allow=["tail"], roots=[str(box.root)], timeout=1)
    with pytest.raises(ToolError, match="longer than 1 s"):
        slow(command="tail -f a.txt")
    leftover = subprocess.run(["pgrep", "-f", "tail -f a.txt"], capture_output=True, text=True)
    mine = [pid for pid in leftover.stdout.split() if os.path.exists(f"/proc/{pid}/cwd")
            and os.path.realpath(f"/proc/{pid}/cwd") == str(box.root)]
    assert mine == []


def test_output_is_capped(box: Box):
    (box.root / "big.txt").write_text("y" * 100_000)
    small = BUILTINS["shell"](allow=["cat"], roots=[str(box.root)], max_output=1000)
    got = small(command="cat big.txt")
    assert len(got["stdout"]) == 1000 and got["truncated"]


def test_config_refuses_programs_without_rules(box: Box):
    for name, why in [("xargs", "runs the program"), ("env", "runs the program"), ("bash", "arbitrary code"),
                      ("python3", "arbitrary code"), ("rm", "writes files"), ("curl", "network"),
                      ("sortt", "did you mean `sort`")]:
        with pytest.raises(ToolError, match=why):
            BUILTINS["shell"](allow=[name], roots=[str(box.root)])
    with pytest.raises(ToolError, match="did you mean `allow`"):
        BUILTINS["shell"](alow=["ls"], roots=[str(box.root)])


SHELL_ABUSE = [
    # programs that are not allowed, or shell syntax
    ("{marker}", "not allowed"),
    ("sh -c {marker}", "not allowed"),
    ("xargs {marker}", "not allowed"),
    ("env {marker}", "not allowed"),
    ("ls; {marker}", "not allowed"),
    ("ls ; {marker}", "shell syntax"),
    ("ls && {marker}", "shell syntax"),
    ("ls | {marker}", "shell syntax"),
    ("cat a.txt > {outside}/w", "shell syntax"),
    # find actions that run or write
    ("find . -exec {marker} \\;", "shell syntax"),
    ("find . -execdir {marker} +", "runs another program"),
    ("find . -ok {marker} +", "runs another program"),
    ("find . -okdir {marker} +", "runs another program"),
    ("find . -delete", "deletes files"),
    ("find . -fprint out.txt", "writes files"),
    ("find . -fprintf out.txt %p", "writes files"),
    ("find -L . -name secret.txt", "follows symbolic links"),
    ("find . -follow", "follows symbolic links"),
    ("find {outside}", "outside"),
    # git configuration and paths
    ("git -c core.pager={marker} log", "sets configuration"),
    ("git --config-env=core.pager=X log", "sets configuration"),
    ("git --exec-path={outside} log", "chooses the programs"),
    ("git -C {outside} status", "changes the repository"),
    ("git --git-dir={outside}/.git log", "changes the repository"),
    ("git -p log", "runs a pager"),
    ("git log --output=log.txt", "writes files"),
    ("git diff --ext-diff", "runs another program"),
    ("git grep -O{marker} x", "runs another program"),
    ("git config core.pager {marker}", "not allowed"),
    ("git clone {outside} x", "not allowed"),
    # sort, uniq, tar
    ("sort -o {outside}/w a.txt", "writes files"),
    ("sort --output=w.txt a.txt", "writes files"),
    ("sort --outp=w.txt a.txt", "writes files"),
    ("sort --compress-program={marker} a.txt", "runs another program"),
    ("sort -T . a.txt", "temporary files"),
    ("uniq a.txt out.txt", "at most 1"),
    ("tar --to-command={marker} -xf x.tar", "runs another program"),
    ("tar --to-com=cat -xf x.tar", "runs another program"),
    ("tar -I {marker} -cf x.tar a.txt", "runs another program"),
    ("tar xIf cat x.tar", "runs another program"),
    ("tar --checkpoint=1 --checkpoint-action=exec=cat -cf x.tar a.txt", "runs another program"),
    ("tar -xf x.tar -C {outside}", "outside"),
    ("tar -P -xf x.tar", "writes outside"),
    ("tar -chf x.tar sub", "follows symbolic links"),
    # awk and sed
    ("awk -l {outside}/evil 'BEGIN{{}}'", "loads a shared library"),
    ("awk --dump-variables=v.txt 'BEGIN{{}}'", "writes files"),
    ("awk -f {outside}/prog.awk", "outside"),
    ("sed -i s/a/b/ a.txt", "edits files in place"),
    # paths outside the root, through links, at special files
    ("cat {outside}/secret.txt", "outside"),
    ("cat ../outside/secret.txt", "outside"),
    ("cat link_file", "symbolic link"),
    ("cat link_dir/secret.txt", "symbolic link"),
    ("cat sub/up/outside/secret.txt", "symbolic link"),
    ("head -n1 /etc/shadow", "outside"),
    ("cat /proc/self/environ", "outside"),
    ("cat fifo", "FIFO"),
    ("grep -R TOP .", "follows symbolic links"),
    ("grep -f{outside}/secret.txt a.txt", "outside"),
    ("grep --file={outside}/secret.txt a.txt", "outside"),
    ("ls -L link_dir", "follows symbolic links"),
    ("du -L .", "follows symbolic links"),
    ("stat --dereference link_file", "follows symbolic links"),
    ("date -s 2000-01-01", "sets the system clock"),
    ("date --reference=/etc/passwd", "outside"),
    ("grep -e x {outside}/secret.txt", "outside"),
    ("grep {outside}/secret.txt -e x", "outside"),
    ("sed -e p {outside}/secret.txt", "outside"),
    ("awk -W exec=x 'BEGIN{{}}'", "any long option"),
    ("diff a.txt /etc/passwd", "outside"),
]


@pytest.mark.parametrize(("command", "message"), SHELL_ABUSE, ids=[c for c, _ in SHELL_ABUSE])
def test_abuse_shell(box: Box, sh, command: str, message: str):
    line = command.format(marker=box.marker, outside=box.outside)
    before = sorted(p.name for p in box.root.rglob("*"))
    box.refused(lambda: sh(command=line), match=message)
    assert sorted(p.name for p in box.root.rglob("*")) == before


def test_abuse_cwd(box: Box, sh):
    for cwd in [str(box.outside), "..", "link_dir", "sub/up", "/"]:
        box.refused(lambda cwd=cwd: sh(command="ls", cwd=cwd))


@pytest.mark.parametrize("program", ["awk", "sed"])
def test_sandboxed_interpreters_cannot_run_or_write(box: Box, sh, program: str):
    scripts = {"awk": [f"awk 'BEGIN {{ system(\"{box.marker}\") }}'",
                       f"awk 'BEGIN {{ print \"x\" | \"{box.marker}\" }}'",
                       f"awk 'BEGIN {{ \"{box.marker}\" | getline x }}'",
                       "awk 'BEGIN { print \"x\" > \"w.txt\" }'"],
               "sed": [f"sed '1e {box.marker}' a.txt", "sed 'w w.txt' a.txt", "sed 's/a/b/w w.txt' a.txt",
                       "sed 'r link_file' a.txt"]}
    for line in scripts[program]:
        got = sh(command=line)
        assert got["exit_code"] != 0 and "sandbox" in got["stderr"]
        assert not box.ran.exists() and not (box.root / "w.txt").exists()
        assert SECRET not in got["stdout"]


def test_repository_config_cannot_run_programs(box: Box, sh):
    """A repository the model could have written names programs in its own config (a clean
    filter, fsmonitor, an external diff, a pager): git runs none of them."""
    repo, git = _repository(box)
    for key in ["filter.evil.clean", "filter.evil.smudge", "filter.evil.process", "core.fsmonitor",
                "diff.external", "diff.evil.textconv", "diff.evil.command", "core.pager", "pager.log"]:
        subprocess.run([*git, "config", key, str(box.marker)], check=True)
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (repo / "f.txt").write_text("two\n")
    os.utime(repo / "f.txt", (0, 0))  # stale index stat: git must re-read (and would filter) the file
    for line in ["git status", "git diff", "git log -p", "git show", "git blame f.txt", "git grep two"]:
        sh(command=line, cwd="repo")
        assert not box.ran.exists(), f"`{line}` ran a program named by the repository"


def test_abuse_process_tool(box: Box, proc):
    """The list form has the same rules: arguments are never re-split or interpreted."""
    box.refused(lambda: proc(program="find", args=[".", "-exec", str(box.marker), ";"]), match="runs another")
    box.refused(lambda: proc(program=str(box.marker)), match="not allowed")
    box.refused(lambda: proc(program="cat", args=["--", str(box.outside / "secret.txt")]), match="outside")
    box.refused(lambda: proc(program="cat", args=["a.txt"], cwd=str(box.outside)), match="outside")
