"""``%%workflow NAME [options]`` driven through an InteractiveShell."""

from __future__ import annotations

import pytest
from am_nb_helpers import NO_LLM, SUMMARIZE, TYPES, cell, load_ext, run


def test_defines_binds_and_runs(magic, capsys):
    result = magic.run_cell_magic("workflow", 'summarize -i text="Notebooks mix code and prose."', SUMMARIZE)
    assert type(result).__name__ == "RunResult" and repr(type(result)).startswith("<class 'agents_magic.")
    assert result.status == "succeeded"
    assert result.outputs["text"] == "Notebooks mix code and prose."
    assert result.outputs["summary"]
    wf = magic.user_ns["summarize"]
    assert type(wf).__name__ == "Workflow" and wf.name == "summarize"
    again = wf.run(text="from Python")  # the bound object works from Python
    assert again.ok and again.outputs["text"] == "from Python"
    registry = magic.magics_manager.registry["AgentsMagic"].workflows
    assert registry["summarize"] is wf


def test_result_is_the_cell_value_with_text_and_html(magic):
    run(magic, cell("summarize -i text=hello", SUMMARIZE))
    result = magic.user_ns["_"]
    assert result.status == "succeeded"
    assert "summarize succeeded" in repr(result)
    page = result._repr_html_()
    for column in ("<th>node</th>", "<th>status</th>", "<th>cost</th>", "<th>ms</th>"):
        assert column in page
    assert "<td>&#36;0</td>" in page  # a mock call's cost, as every view writes it
    assert "e-0" not in page  # no exponent notation in the table
    assert result.nodes.shape[0] == len(result.node_rows) >= 2


def test_progress_lines_in_a_terminal(magic, capsys):
    run(magic, cell("summarize -i text=hello", SUMMARIZE))
    out = capsys.readouterr().out
    assert "▶ summarize started (mock/mock)" in out
    assert "✓ summarize finished in" in out and "· $0 ·" in out
    assert "summarize · succeeded in" in out


def test_quiet_hides_progress(magic, capsys):
    result = magic.run_cell_magic("workflow", "summarize -i text=hello --quiet", SUMMARIZE)
    assert result.ok
    assert "started" not in capsys.readouterr().out


def test_live_display_off_hides_progress(ip, capsys):
    ip.config.AgentsMagic.live_display = False
    load_ext(ip)
    assert ip.run_cell_magic("workflow", "summarize -i text=hello", SUMMARIZE).ok
    assert "started" not in capsys.readouterr().out


def test_out_stores_result_instead_of_showing_it(magic, capsys):
    returned = magic.run_cell_magic("workflow", "summarize -i text=hello --out res --quiet", SUMMARIZE)
    assert returned is None
    assert magic.user_ns["res"].status == "succeeded"
    assert "RunResult(" not in capsys.readouterr().out


def test_missing_inputs_defines_only_with_a_hint(magic, capsys):
    assert magic.run_cell_magic("workflow", "summarize", SUMMARIZE) is None
    out = capsys.readouterr().out
    assert "Defined workflow `summarize`" in out and "needs `text`" in out
    assert "%workflow run summarize text=..." in out and "summarize.run(text=...)" in out
    assert "started" not in out
    assert magic.user_ns["summarize"].required_inputs == ["text"]


def test_no_run(magic, capsys):
    assert magic.run_cell_magic("workflow", "summarize -i text=x --no-run", SUMMARIZE) is None
    assert "not run (--no-run)" in capsys.readouterr().out
    assert "summarize" in magic.user_ns


def test_runs_without_inputs_when_none_are_required(magic):
    no_required = SUMMARIZE.replace("required: true", "required: false, default: hi")
    assert magic.run_cell_magic("workflow", "summarize", no_required).ok


def test_name_defaults_to_flow_name(magic):
    assert magic.run_cell_magic("workflow", "-i text=x --quiet", SUMMARIZE).ok
    assert "summarize" in magic.user_ns


def test_dry_run_calls_no_llm(magic, llm):
    from am_nb_helpers import two_step

    plan = magic.run_cell_magic("workflow", "two --dry-run -i topic=x", two_step(llm.base_url))
    assert llm.requests() == []
    text = repr(plan)
    assert "dry run, no LLM was called" in text
    assert "draft: mock/" in text and "review: openai/fake-model" in text
    assert "inputs: ok" in text
    assert "<svg" in plan._repr_html_()


def test_inputs_are_literals_or_notebook_values(magic):
    magic.user_ns.update(words=["a", "b"], cfg={"k": 2}, who="Ada")
    line = ("types --quiet -i text=007 -i n=3 -i tags=$words -i 'options={cfg}' "
            "-i echo='{\"x\": 1}'")
    result = magic.run_cell_magic("workflow", line, TYPES)
    assert result.ok, result.error
    out = result.outputs
    assert out["text"] == "007"  # a str field keeps the text as typed
    assert out["n"] == 3 and out["tags"] == ["a", "b"] and out["options"] == {"k": 2}
    result = magic.run_cell_magic("workflow", 'types --quiet -i text="Hi $who and {who}" -i tags=[x,y]', TYPES)
    assert result.outputs["text"] == "Hi Ada and Ada" and result.outputs["tags"] == ["x", "y"]


def test_undefined_notebook_names_are_reported_together(magic, capsys):
    result = magic.run_cell(cell("types -i text=$nope -i n={missing}", TYPES))
    err = result.error_in_exec
    assert type(err).__name__ == "InputError"
    assert "`nope` is not defined" in str(err) and "`missing` is not defined" in str(err)
    shown = capsys.readouterr()
    assert "Traceback" not in shown.out + shown.err


def test_model_and_provider_flags_override_the_yaml(magic):
    remote = SUMMARIZE.replace("llm: {provider: mock}", "llm: {provider: openai, model: gpt-4o}")
    result = magic.run_cell_magic("workflow", "summarize -i text=x --provider mock --quiet", remote)
    assert result.ok
    assert set(result.nodes["provider"]) == {"mock"}


def test_default_provider_option_applies_only_when_the_yaml_names_no_llm(ip):
    ip.config.AgentsMagic.default_provider = "mock"
    load_ext(ip)
    assert ip.run_cell_magic("workflow", "types -i text=x --quiet", NO_LLM).ok
    from agents_magic import _settings

    _settings.settings.default_provider = "openai"  # the YAML's own `config.llm` wins over it
    assert ip.run_cell_magic("workflow", "types -i text=x --quiet", TYPES).ok


def test_no_cache_turns_the_cache_off_for_that_run_only(magic, monkeypatch):
    from agents_magic import _api

    seen = []
    real = _api.run

    def spy(*args, **kwargs):
        seen.append(kwargs.get("cache", "session setting"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_api, "run", spy)
    assert magic.run_cell_magic("workflow", "summarize -i text=x --quiet --no-cache", SUMMARIZE).ok
    assert magic.run_cell_magic("workflow", "summarize -i text=x --quiet", SUMMARIZE).ok
    assert seen == [False, "session setting"]


@pytest.mark.parametrize("line", ["2bad -i text=x", "ok --out 'not valid'", "ok --out class"])
def test_bad_names_are_usage_errors(magic, capsys, line):
    result = magic.run_cell(cell(line, SUMMARIZE))
    assert type(result.error_in_exec).__name__ == "UsageError"
    shown = capsys.readouterr()
    assert "must be a Python identifier" in shown.out + shown.err


def test_semicolon_does_not_break_the_cell(magic):
    # A trailing `;` on the YAML's last line is still YAML; the cell must not choke on it.
    result = magic.run_cell(cell("summarize -i text=x --quiet", SUMMARIZE.rstrip() + "  # done;"))
    assert result.success


def test_rerun_is_served_from_the_cache_and_marked(magic, capsys):
    from agents_magic import _settings

    _settings.settings.cache = True
    first = magic.run_cell_magic("workflow", "summarize -i text=same", SUMMARIZE)
    capsys.readouterr()
    second = magic.run_cell_magic("workflow", "summarize -i text=same", SUMMARIZE)
    assert first.ok and second.ok and second.outputs == first.outputs
    assert list(second.nodes["cached"]) == [True] * len(second.node_rows)
    out = capsys.readouterr().out
    assert "✓ summarize cached in" in out and "finished" not in out
    third = magic.run_cell_magic("workflow", "summarize -i text=same --no-cache --quiet", SUMMARIZE)
    assert not any(third.nodes["cached"])
