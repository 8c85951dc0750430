"""The command line, run as a real subprocess against the local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "agents_magic" / "examples"
INPUTS = {"chain": ["topic=owls"], "fanout": ["product=a bike"], "routes": ["ticket=refund please"],
          "loop": ["brief=coffee"], "summarize": ["text=a long text"]}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "agents_magic", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_example_runs_against_the_local_server(fake_llm, name):
    inputs = [x for pair in INPUTS[name] for x in ("--input", pair)]
    proc = cli("run", str(EXAMPLES / f"{name}.yaml"), *inputs, "--provider", "openai",
               "--model", "gpt-4o-mini", "--api-base", fake_llm.base_url, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "succeeded"
    assert {row["provider"] for row in result["nodes"]} == {"openai"}
    assert len(fake_llm.requests()) == len(result["nodes"]) >= 2


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_example_runs_offline_with_the_mock(name):
    proc = cli("run", str(EXAMPLES / f"{name}.yaml"), *[x for p in INPUTS[name] for x in ("-i", p)])
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout and "iteration" in proc.stdout


def test_validate_reports_every_problem_and_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "chain.yaml").read_text()
                   .replace("{state.topic} in", "{state.topik} in").replace("to: END", "to: ENDD"))
    proc = cli("validate", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.startswith("ConfigError: 2 problems")
    assert "line 9:53" in proc.stderr and "did you mean `topic`" in proc.stderr
    assert "line 17:23" in proc.stderr and "did you mean `END`" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli("validate", str(EXAMPLES / "chain.yaml")).returncode == 0


def test_missing_input_is_a_clear_error():
    proc = cli("run", str(EXAMPLES / "chain.yaml"))
    assert proc.returncode == 1
    assert "missing required input `topic`" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_runs_offline():
    proc = cli("demo")
    assert proc.returncode == 0, proc.stderr
    assert "summarize succeeded" in proc.stdout


def test_an_unknown_provider_is_named_with_a_did_you_mean():
    proc = cli("run", str(EXAMPLES / "chain.yaml"), "--provider", "anthropc", "--input", "topic=x")
    assert proc.returncode == 1
    assert "does not know the provider `anthropc`; did you mean `anthropic`?" in proc.stderr
    assert "/)" not in proc.stderr  # no empty model in the message


def test_a_mock_run_imports_neither_litellm_nor_pandas():
    code = ("import sys; from agents_magic import cli; cli.main(['demo']); "
            "print('heavy:', sorted(m for m in ('litellm', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout
    assert "summarize          1  succeeded   mock" in proc.stdout  # the node table


def test_input_values_are_read_as_yaml_literals():
    from agents_magic.cli import parse_inputs

    values, raw = parse_inputs(["n=3", "xs=[1, 2]", "s=hello world", "t=a: b", "e=", "z=null"])
    assert values == {"n": 3, "xs": [1, 2], "s": "hello world", "t": "a: b", "e": "", "z": None}
    assert raw["n"] == "3" and raw["xs"] == "[1, 2]"


@pytest.mark.parametrize("content, message", [
    (b"flow: {name: x}\nextra: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 50 levels deep"),
    ("flow: {name: café}\n".encode("latin-1"), "not UTF-8"),
])
def test_validate_reports_hostile_input_in_a_few_lines(tmp_path, content, message):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    proc = cli("validate", str(path))
    assert proc.returncode == 1
    assert proc.stderr.startswith("ConfigError: 1 problem") and message in proc.stderr
    assert "line 2:" in proc.stderr or "line 1:" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) <= 5


def test_validate_prints_load_warnings_as_plain_lines(tmp_path):
    path = tmp_path / "tools.yaml"
    path.write_text((EXAMPLES / "chain.yaml").read_text() + "  tools: {http: true}\n")
    assert "\nconfig:" in path.read_text()
    proc = cli("validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(f"warning: {path}: line ") and "`config.tools`" in proc.stderr
    assert "AgentsMagicWarning" not in proc.stderr
