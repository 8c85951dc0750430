"""``%workflow <subcommand>``, tab completion, ``%config AgentsMagic`` and (un/re)loading."""

from __future__ import annotations

import pytest
from am_nb_helpers import EXAMPLE, LOOP, PARALLEL, SUMMARIZE, cell, load_ext, run


@pytest.fixture
def defined(magic):
    run(magic, cell("summarize --no-run --quiet", SUMMARIZE))
    run(magic, cell("review --no-run --quiet", PARALLEL))
    return magic


def test_help(magic):
    text = repr(magic.run_line_magic("workflow", "help"))
    for sub in ("list", "show NAME", "graph NAME", "run NAME|-f FILE", "validate NAME|-f FILE",
                "export NAME FILE.yaml", "%%workflow NAME"):
        assert sub in text
    assert repr(magic.run_line_magic("workflow", "")) == text
    from agents_magic.notebook._magics import SUBCOMMANDS

    for sub, summary in SUBCOMMANDS.items():  # every subcommand has its usage line
        assert f"%workflow {sub}" in text and summary in text, sub
    assert repr(magic.run_line_magic("workflow", "help run")).startswith("%workflow run [-f FILE]")


def test_docstring_is_the_help_page(magic):
    doc = magic.find_magic("workflow").__doc__
    assert "Define and run LLM agent workflows" in doc and "--dry-run" in doc


def test_list(defined):
    frame = defined.run_line_magic("workflow", "list")
    assert list(frame["name"]) == ["summarize", "review"]
    assert list(frame["required_inputs"]) == ["text", "text"]
    assert set(frame.columns) >= {"nodes", "edges", "description", "source", "hash"}


def test_show(defined):
    view = defined.run_line_magic("workflow", "show summarize")
    assert repr(view) == SUMMARIZE
    assert view._repr_markdown_().startswith("```yaml\nschema_version")


def test_graph(defined):
    graph = defined.run_line_magic("workflow", "graph review")
    bundle = graph._repr_mimebundle_()
    assert bundle["text/plain"].startswith("flowchart TD")
    assert "<svg" in bundle["text/html"] and bundle["image/svg+xml"].startswith("<svg")
    assert 'class="am-node am-fork"' in graph.svg and 'class="am-node am-join"' in graph.svg


def test_graph_of_a_file_and_of_a_workflow_variable(magic, tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP)
    graph = magic.run_line_magic("workflow", f"graph -f {path}")
    assert "am-edge-loop" in graph.svg
    magic.user_ns.update(p=str(path))
    assert magic.run_line_magic("workflow", "graph -f $p").name == "polish"
    run(magic, "import agents_magic; mine = agents_magic.load(p)")
    assert magic.run_line_magic("workflow", "graph mine").name == "polish"


def test_run_by_name(defined):
    result = defined.run_line_magic("workflow", 'run summarize text="two words" --quiet')
    assert result.ok and result.outputs["text"] == "two words"


def test_run_from_file_with_inputs(magic):
    result = magic.run_line_magic("workflow", f"run -f {EXAMPLE} text=hi --quiet")
    assert result.ok and result.workflow == "summarize"
    result = magic.run_line_magic("workflow", f"run -f {EXAMPLE} -i text=hey --quiet --out r")
    assert result is None and magic.user_ns["r"].outputs["text"] == "hey"


def test_run_reports_unknown_inputs(magic):
    result = magic.run_cell(f"%workflow run -f {EXAMPLE} txt=hi")
    err = result.error_in_exec
    assert type(err).__name__ == "InputError" and "did you mean `text`?" in str(err)


def test_validate(defined, tmp_path):
    note = defined.run_line_magic("workflow", "validate summarize")
    assert "✓ `summarize` is valid" in repr(note) and "LLM: mock/mock (all 3 nodes)" in repr(note)
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUMMARIZE.replace("prompt: \"Summarise", "promt: \"Summarise"))
    result = defined.run_cell(f"%workflow validate -f {bad}")
    err = result.error_in_exec
    assert type(err).__name__ == "ConfigError"
    assert err.problems[0].line == 13  # a file's own line numbers (no magic line above it)
    assert str(bad) in err.lines()[0]


def test_export(defined, tmp_path):
    target = tmp_path / "out" / "summarize.yaml"
    note = defined.run_line_magic("workflow", f"export summarize {target}")
    assert "Wrote workflow `summarize`" in repr(note)
    assert target.read_text() == SUMMARIZE
    result = defined.run_cell(f"%workflow export summarize {target}")
    assert "already exists; add --force" in str(result.error_in_exec)
    defined.run_line_magic("workflow", f"export summarize {target} --force")
    result = defined.run_cell(f"%workflow export summarize {tmp_path / 'x.txt'}")
    assert "give a .yaml or .yml file name" in str(result.error_in_exec)


def complete(shell, line):
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(line, len(line))]


def test_tab_completion(defined):
    assert sorted(complete(defined, "%workflow ")) == sorted(
        ["list", "show", "graph", "run", "validate", "export", "estimate", "runs", "cost",
         "profile", "show-run", "resume", "mlflow", "memory", "eval", "help"])
    assert complete(defined, "%workflow sh") == ["show", "show-run"]
    assert sorted(complete(defined, "%workflow graph ")) == ["review", "summarize"]
    assert complete(defined, "%workflow run su") == ["summarize"]
    assert complete(defined, "%workflow help ex") == ["export"]
    assert complete(defined, "%workflow run summarize --no") == ["--no-cache"]
    assert "--dry-run" in complete(defined, "%%workflow summarize --d")
    assert complete(defined, "%%workflow re") == ["review"]


def test_config_options_write_the_shared_settings(ip, tmp_path):
    from agents_magic import _settings

    ip.config.AgentsMagic.default_model = "ollama/llama3"
    magics = load_ext(ip)
    assert _settings.settings.default_model == "ollama/llama3"
    run(ip, "%config AgentsMagic.cache = False")  # the first assignment, before any read
    run(ip, f"%config AgentsMagic.data_dir = '{tmp_path}/elsewhere'")
    run(ip, "%config AgentsMagic.max_concurrency = 4")
    run(ip, "%config AgentsMagic.mlflow = True")
    run(ip, "%config AgentsMagic.storage_url = 'sqlite:///x.db'")
    run(ip, "%config AgentsMagic.default_provider = '  '")
    s = _settings.settings
    assert (s.cache, s.max_concurrency, s.mlflow, s.storage_url) == (False, 4, True, "sqlite:///x.db")
    assert str(s.data_dir) == f"{tmp_path}/elsewhere" and s.default_provider is None
    s.budget_usd = 2.5
    assert magics.budget_usd == 2.5  # values not set with %config come from the settings
    with pytest.raises(Exception, match="at least 1"):
        magics.max_concurrency = 0
    assert s.max_concurrency == 4


def test_config_lists_the_options(magic, capsys):
    run(magic, "%config AgentsMagic")
    out = capsys.readouterr().out
    for option in ("default_provider", "default_model", "data_dir", "storage_url", "cache",
                   "mlflow", "max_concurrency"):
        assert f"AgentsMagic.{option}" in out


def test_unload_and_reload(magic):
    run(magic, cell("summarize --no-run --quiet", SUMMARIZE))
    magic.extension_manager.unload_extension("agents_magic")
    assert magic.find_magic("workflow") is None
    assert "AgentsMagic" not in magic.magics_manager.registry
    assert not [c for c in magic.configurables if type(c).__name__ == "AgentsMagic"]
    magic.extension_manager.load_extension("agents_magic")
    magic.extension_manager.reload_extension("agents_magic")
    assert [type(c).__name__ for c in magic.configurables].count("AgentsMagic") == 1
    assert len([m for m in magic.Completer.custom_matchers
                if getattr(m, "matcher_identifier", "") == "agents_magic.workflow"]) == 1
    # Workflows defined before the reload are still there.
    assert repr(magic.run_line_magic("workflow", "show summarize")) == SUMMARIZE
