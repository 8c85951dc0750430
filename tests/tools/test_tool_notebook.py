"""A notebook function as a tool, from a real `%%workflow` cell in an InteractiveShell."""

from __future__ import annotations

from tools_helpers import flow

from agents_magic.notebook._commands import CELL_LINE_OFFSET

SCRIPT = ("{provider: mock, responses: [{tool_calls: [{name: population, arguments: "
          "{city: Paris}}]}, 'About 2.1 million.']}")
DEFINE = '''
seen = []

def population(city: str) -> int:
    """How many people live in a city.

    Args:
        city: The city's English name.
    """
    seen.append(city)
    return {"Paris": 2_100_000}[city]
'''


def test_a_notebook_function_is_called_as_a_tool_from_a_cell(ip, capsys):
    assert ip.run_cell(DEFINE).success
    result = ip.run_cell_magic("workflow", "pop -i question='How many?'", flow(SCRIPT))
    assert result.ok, result.error
    assert result.outputs["answer"] == "About 2.1 million."
    assert ip.user_ns["seen"] == ["Paris"] and result.nodes["tool_calls"].tolist() == [1]
    out = capsys.readouterr().out
    assert "↳ ask tool population(city='Paris') → 2100000" in out
    assert "1 tool call" in out
    # The function is looked up when the workflow runs: a redefinition takes effect.
    assert ip.run_cell("def population(city: str) -> int:\n"
                       "    '''Fixed.'''\n    seen.append('new ' + city)\n    return 7").success
    again = ip.run_line_magic("workflow", "run pop question=again")
    assert again.ok and ip.user_ns["seen"] == ["Paris", "new Paris"]
    assert ip.user_ns["pop"].run(question="from Python").ok  # Workflow.run uses the namespace too
    assert ip.user_ns["seen"][-1] == "new Paris"


def test_an_unknown_notebook_function_is_reported_before_any_call(ip):
    assert ip.run_cell(DEFINE).success
    text = flow(SCRIPT, "[populaton]")
    cell = ip.run_cell(f"%%workflow pop -i question=q\n{text}")
    error = cell.error_in_exec
    assert type(error).__name__ == "ConfigError"
    (problem,) = error.problems
    assert problem.line == text.splitlines().index("    tools: [populaton]") + 1 + CELL_LINE_OFFSET
    assert "unknown tool `populaton`" in problem.message and problem.hint == "did you mean `population`?"
    assert ip.user_ns["seen"] == []


def test_the_progress_lines_count_tool_calls_that_came_back_with_errors(ip, capsys):
    assert ip.run_cell(DEFINE).success
    script = ("{provider: mock, responses: [{tool_calls: [{name: populaton, arguments: {city: Paris}}, "
              "{name: population, arguments: {city: Paris}}]}, 'About 2.1 million.']}")
    result = ip.run_cell_magic("workflow", "pop -i question='How many?'", flow(script))
    assert result.ok, result.error
    out = capsys.readouterr().out
    assert ("tool populaton(city='Paris') ✗ unknown tool `populaton` (did you mean `population`?);"
            " the tools are: population") in out
    assert "2 tool calls (1 with errors)" in out
