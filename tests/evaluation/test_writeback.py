"""Write-back keeps the user's YAML: each override is a targeted edit of the original text."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

import pytest
from eval_helpers import server_yaml

import agents_magic as am
from agents_magic.errors import InputError
from agents_magic.evaluation._yamledit import set_path

MESSY = """\
# A QA flow -- keep this comment
schema_version: '1.0'   # quoted on purpose
flow: {name: qa}

state:
  fields:
    question: {type: str, required: true}
    answer:
        type: str      # odd indentation
        default: ""

nodes:
    -   id: answer
        # the prompt, as a block
        prompt: |
            Answer briefly.
            Question: {question}

        outputs: [answer]   # trailing
        llm: {provider: mock, responses: ["Paris"]}
    -   id: polish
        prompt: "Polish: {answer}"
        outputs: [answer]
        llm:    {provider: mock,   responses: ["Paris"]}
edges:
  - {from: START, to: answer}
  - {from: answer, to: polish}
  - {from: polish, to: END}
# config at the end
config:
  execution:
    max_retries: 2    # two
"""
DATA = [{"question": f"q{i}", "expected_answer": "Paris"} for i in range(3)]
B = {"nodes.answer.prompt": "Name the city only.\nQuestion: {question}\n",
     "nodes.polish.prompt": "Polish, briefly: {answer}",
     "nodes.answer.llm.model": "m-2",
     "config.llm.model": "gpt-4o-mini",
     "config.execution.max_retries": 5}


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(True), new.splitlines(True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def test_apply_to_a_file_edits_only_the_overridden_values(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(MESSY)
    result = am.evaluate(path, DATA, variants={"A": {}, "B": B}, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to a re-dump
        applied = result.apply("B")
    text = path.read_text()
    assert Path(applied.backup).read_text() == MESSY
    removed, added = changed_lines(MESSY, text)
    assert removed == ["            Answer briefly.\n", '        llm: {provider: mock, responses: ["Paris"]}\n',
                       '        prompt: "Polish: {answer}"\n', "    max_retries: 2    # two\n"]
    assert added == ["            Name the city only.\n",
                     '        llm: {provider: mock, responses: ["Paris"], model: m-2}\n',
                     '        prompt: "Polish, briefly: {answer}"\n', "    max_retries: 5    # two\n",
                     "  llm:\n", "    model: gpt-4o-mini\n"]
    spec = am.load(path).spec
    assert spec.nodes[0].prompt == B["nodes.answer.prompt"] and spec.nodes[0].llm.model == "m-2"
    assert spec.nodes[1].prompt == B["nodes.polish.prompt"]
    assert spec.config.llm.model == "gpt-4o-mini" and spec.config.execution.max_retries == 5
    assert "+            Name the city only." in applied.diff


@pytest.mark.parametrize(("path", "value", "before", "after"), [
    ("nodes.answer.prompt", "one line", "        prompt: |\n            Answer briefly.\n"
     "            Question: {question}\n", "        prompt: |-\n            one line\n"),
    ("nodes.polish.prompt", "two\nlines", '        prompt: "Polish: {answer}"\n',
     "        prompt: |-\n          two\n          lines\n"),
    ("nodes.polish.prompt", 'say "hi", then {answer}', '        prompt: "Polish: {answer}"\n',
     '        prompt: "say \\"hi\\", then {answer}"\n'),
    ("schema_version", "1.0", "schema_version: '1.0'   # quoted", "schema_version: '1.0'   # quoted"),
    ("nodes.polish.llm.temperature", 0.2, '{provider: mock,   responses: ["Paris"]}',
     '{provider: mock,   responses: ["Paris"], temperature: 0.2}'),
    ("nodes.polish.llm.model", "a, b", "responses: [\"Paris\"]}", "responses: [\"Paris\"], model: \"a, b\"}"),
    ("nodes.answer.outputs", ["answer", "question"], "outputs: [answer]   # trailing",
     "outputs: [answer, question]   # trailing"),
    ("config.execution.timeout", 3.5, "    max_retries: 2    # two\n",
     "    max_retries: 2    # two\n    timeout: 3.5\n"),
])
def test_each_value_keeps_its_style(path, value, before, after):
    text = set_path(MESSY, path, value)
    assert before in MESSY and after in text
    assert text.replace(after, before, 1) == MESSY  # nothing else moved
    import yaml

    data = yaml.safe_load(text)
    here = data
    for part in path.split("."):
        here = next(n for n in here if n["id"] == part) if isinstance(here, list) else here[part]
    assert here == value


def test_a_block_prompt_keeps_its_indentation_and_a_new_block_is_indented_under_its_key():
    text = set_path(MESSY, "nodes.answer.prompt", "First {question}\n  indented\nlast\n")
    assert "        prompt: |\n            First {question}\n              indented\n            last\n" in text
    added = set_path(MESSY, "nodes.polish.description", "a\nb")
    assert "        outputs: [answer]\n        llm:    {provider: mock,   responses: [\"Paris\"]}\n" \
           "        description: |-\n          a\n          b\n" in added
    assert am.load(added).spec.nodes[1].description == "a\nb"


def test_bad_override_paths_are_reported_with_did_you_mean_before_any_call(fake_llm):
    wf = server_yaml(fake_llm.base_url)
    for overrides, message in [
        ({"nodes.answer.promt": "x"}, r"`promt` is not a key of nodes.answer \(did you mean `prompt`"),
        ({"config.llm.modle": "x"}, r"`modle` is not a key of config.llm \(did you mean `model`"),
        ({"confg.llm.model": "x"}, r"`confg` is not a key of the workflow \(did you mean `config`"),
        ({"nodes.answr.prompt": "x"}, r"names no node `answr` \(did you mean `answer`"),
    ]:
        with pytest.raises(InputError, match=message):
            am.evaluate(wf, DATA, variants={"A": {}, "B": overrides}, progress=False)
    assert fake_llm.stats()["requests"] == 0


def test_apply_from_a_cell_puts_the_edited_text_in_the_new_cell():
    """(In a kernel, set_next_input becomes a payload: test_gates_apply runs one.)"""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.rl_next_input = None
    try:
        result = am.evaluate(am.load(MESSY, name="qa"), DATA, variants={"A": {}, "B": B}, progress=False)
        applied = result.apply("B")
    finally:
        InteractiveShell.clear_instance()
    assert applied.target == "cell"
    header, body = shell.rl_next_input.split("\n", 1)
    expected = MESSY
    for path, value in B.items():
        expected = set_path(expected, path, value)
    assert header == "%%workflow qa" and body == expected
    assert "# A QA flow -- keep this comment" in body and "        # the prompt, as a block" in body


def test_mapping_values_and_missing_sections():
    import yaml

    flow = set_path(MESSY, "nodes.polish.llm", {"provider": "openai", "model": "gpt-4o"})
    assert "        llm:    {provider: openai, model: gpt-4o}\n" in flow  # key order as given
    block = set_path(MESSY, "config.execution", {"timeout": 3, "max_retries": 1})
    assert block.endswith("config:\n  execution:\n    timeout: 3\n    max_retries: 1\n")
    bare = MESSY[:MESSY.index("config:")]
    added = set_path(bare, "config.llm.model", "m")
    assert added == bare + "config:\n  llm:\n    model: m\n"
    assert yaml.safe_load(added)["config"] == {"llm": {"model": "m"}}
