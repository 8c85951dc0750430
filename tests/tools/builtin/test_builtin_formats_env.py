"""json_parse, yaml_parse, dataframe_to_csv and env_vars: caps, the safe loader, confined
writes, and secrets never returned."""
from __future__ import annotations

import pytest
from conftest import Box

from agents_magic import _secrets
from agents_magic.tools import ToolError
from agents_magic.tools.builtin import BUILTINS


def test_json_and_yaml_parse():
    assert BUILTINS["json_parse"]()(text='{"a": [1, 2]}') == {"value": {"a": [1, 2]}}
    got = BUILTINS["yaml_parse"]()(text="a: 1\nwhen: 2024-01-02\nb: &x [1]\nc: *x\n")
    assert got == {"value": {"a": 1, "when": "2024-01-02", "b": [1], "c": [1]}}


PARSE_ABUSE = [
    ("yaml_parse", "!!python/object/apply:os.system ['touch /tmp/x']", "invalid YAML"),
    ("yaml_parse", "!!python/name:os.system", "invalid YAML"),
    ("yaml_parse", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")), "values|aliases"),
    ("yaml_parse", "[" * 200 + "]" * 200, "deeper"),
    ("json_parse", "[" * 200 + "]" * 200, "deeper"),
    ("json_parse", "[" * 100_000 + "]" * 100_000, "deeper|characters"),
    ("json_parse", '{"a": ' + "1" * 10 + "", "invalid JSON"),
    ("json_parse", "x" * 2_000_001, "limit"),
]


@pytest.mark.parametrize(("tool", "text", "message"), PARSE_ABUSE)
def test_abuse_parse(tool: str, text: str, message: str):
    with pytest.raises(ToolError, match=message):
        BUILTINS[tool](max_chars=2_000_000)(text=text)


def test_dataframe_to_csv(box: Box):
    records = [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    assert BUILTINS["dataframe_to_csv"]()(records=records)["csv"] == "name,n\na,1\nb,2\n"
    writer = BUILTINS["dataframe_to_csv"](roots=[str(box.root)])
    writer(records=records, path="out.csv")
    assert (box.root / "out.csv").read_text() == "name,n\na,1\nb,2\n"
    box.refused(lambda: writer(records=records, path=f"{box.outside}/out.csv"), match="outside")
    box.refused(lambda: writer(records=records, path="link_dir/out.csv"), match="symbolic link")
    box.refused(lambda: writer(records=records, path="hard.txt", overwrite=True), match="hard links")
    box.refused(lambda: BUILTINS["dataframe_to_csv"]()(records=records, path="x.csv"), match="no `roots`")
    box.refused(lambda: BUILTINS["dataframe_to_csv"](max_rows=1)(records=records), match="limit")


def test_env_vars(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("SERVICE_URL", "http://db")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdefghijklmnopqrstuvwxyz123")
    tool = BUILTINS["env_vars"](names=["REGION", "SERVICE_URL", "MISSING"])
    assert tool() == {"variables": {"REGION": "eu", "SERVICE_URL": "http://db", "MISSING": None}}
    assert tool(names=["REGION"]) == {"variables": {"REGION": "eu"}}
    with pytest.raises(ToolError, match="not one of"):
        tool(names=["OPENAI_API_KEY"])
    for secret in ["OPENAI_API_KEY", "DB_PASSWORD", "GITHUB_TOKEN", "HF_TOKEN", "MY_SECRET"]:
        with pytest.raises(ToolError, match="hold secrets"):
            BUILTINS["env_vars"](names=[secret])
    # A variable that holds a known key's value is refused too.
    monkeypatch.setenv("SERVICE_URL", "sk-abcdefghijklmnopqrstuvwxyz123")
    with pytest.raises(ToolError, match="holds a secret"):
        tool(names=["SERVICE_URL"])


def test_env_vars_refuses_a_name_a_workflow_later_uses_as_its_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVIDER_CRED_X", "value-of-the-key-1234")
    tool = BUILTINS["env_vars"](names=["PROVIDER_CRED_X"])
    assert tool()["variables"]["PROVIDER_CRED_X"] == "value-of-the-key-1234"
    monkeypatch.setattr(_secrets, "_watched", {"PROVIDER_CRED_X"})
    with pytest.raises(ToolError, match="holds a secret"):
        tool()


def test_every_builtin_reports_unknown_config_with_a_hint():
    for name, factory in BUILTINS.items():
        with pytest.raises(ToolError, match=f"{name}: unknown config key `bogus_key`"):
            factory(bogus_key=1)
