"""Command line: ``agents-magic validate FILE`` and ``agents-magic run FILE --input k=v [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from . import _inputs
from .errors import AgentsMagicError, AgentsMagicWarning

EXAMPLE = Path(__file__).parent / "examples" / "summarize.yaml"
DEMO_TEXT = ("LangGraph runs graphs of LLM calls; agents_magic writes those graphs as YAML and runs "
             "them in a notebook, offline with the mock provider.")


def parse_inputs(pairs: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``k=v`` pairs → values read as YAML literals, plus each value's text as typed."""
    raw: dict[str, str] = {}
    for pair in pairs:
        try:
            key, text = _inputs.split(pair)
        except ValueError as exc:
            raise SystemExit(f"agents-magic: --input {exc}") from None
        raw[key] = text
    return {key: _inputs.literal(text) for key, text in raw.items()}, raw


def _load(path: str | Path) -> Any:
    """The workflow at ``path``; its load warnings go to stderr as plain lines."""
    from ._workflow import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgentsMagicWarning)
        workflow = load(path)
    for line in workflow.warnings:
        print(f"warning: {path}: {line}", file=sys.stderr)
    return workflow


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agents-magic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a workflow file; exit 1 listing every problem")
    validate.add_argument("file")
    run = sub.add_parser("run", help="run a workflow file")
    run.add_argument("file")
    run.add_argument("-i", "--input", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--model", help="override every node's model")
    run.add_argument("--provider", help="override every node's provider")
    run.add_argument("--api-base", help="override every node's API base URL")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_parser("demo", help="run the bundled example offline (mock provider)")
    return parser


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return
    print(repr(result))
    from ._result import _cell
    from .engine.events import execution_label

    # A plain table (no pandas import: the CLI stays quick to start).
    columns = ["node", "iteration", "status", "model", "prompt_tokens", "completion_tokens",
               "cost_usd", "duration_ms", "cached"]
    rows = [[execution_label(r["node_id"], r.get("item")), *(_cell(r.get(c)) for c in columns[1:])]
            for r in result.node_rows]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    for line in [columns, *rows]:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths)))


def _run_with_progress(workflow: Any, inputs: dict[str, Any], **options: Any) -> Any:
    """Run, printing a line as each node starts, finishes, retries or fails."""
    from . import _api
    from .display._fallback import TextProgress

    workflow.initial_state(inputs)  # input mistakes are reported before any progress line
    progress = TextProgress(workflow.name, "append")
    result = _api.run(workflow, inputs, sinks=[progress], refresh=progress.refresh, **options)
    print()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import _api

    try:
        if args.command == "validate":
            wf = _load(args.file)
            print(f"{args.file}: ok ({len(wf.spec.nodes)} nodes, {len(wf.spec.edges)} edges)")
            return 0
        if args.command == "demo":
            print(f"Running {EXAMPLE.name} with the offline mock provider\n")
            result = _run_with_progress(_load(EXAMPLE), {"text": DEMO_TEXT})
            _print_result(result, False)
            return 0 if result.ok else 1
        options = {"model": args.model, "provider": args.provider, "api_base": args.api_base}
        wf = _load(args.file)
        inputs = _inputs.coerce(*parse_inputs(args.input), wf.spec.state.fields)
        result = _api.run(wf, inputs, **options) if args.json else _run_with_progress(wf, inputs, **options)
    except AgentsMagicError as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return 1
    _print_result(result, args.json)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
