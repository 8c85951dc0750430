"""Helpers shared by the notebook tests (a module of its own, so test files can import it)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
EXAMPLE = REPO / "agents_magic" / "examples" / "summarize.yaml"
KERNEL_NAME = "agents-magic-test"
CLEAN_ENV = ("AGENTS_MAGIC_DEFAULT_PROVIDER", "AGENTS_MAGIC_DEFAULT_MODEL", "AGENTS_MAGIC_BUDGET_USD",
             "AGENTS_MAGIC_MAX_CONCURRENCY", "AGENTS_MAGIC_LIVE_DISPLAY", "AGENTS_MAGIC_STORAGE_URL",
             "AGENTS_MAGIC_MLFLOW_TRACKING_URI", "OPENAI_API_KEY")


def child_env(data_dir: Path) -> dict[str, str]:
    """What every process the tests start gets: a private data dir, no store, no MLflow."""
    return {"AGENTS_MAGIC_DATA_DIR": str(data_dir), "AGENTS_MAGIC_STORE": "0",
            "AGENTS_MAGIC_MLFLOW": "0", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def kernel_env(data_dir: Path) -> dict[str, str]:
    """A test kernel's environment: as above, with the LLM cache on as in a user's session."""
    return {**child_env(data_dir), "AGENTS_MAGIC_CACHE": "1"}


def load_ext(shell: Any) -> Any:
    """Load the extension into ``shell``; return the AgentsMagic instance."""
    shell.extension_manager.load_extension("agents_magic")
    return shell.magics_manager.registry["AgentsMagic"]


def run(shell: Any, source: str) -> Any:
    """Run a cell as a user would and re-raise what it raised (for happy paths)."""
    result = shell.run_cell(source)
    if result.error_before_exec or result.error_in_exec:
        raise (result.error_before_exec or result.error_in_exec)
    return result.result


def cell(line: str, yaml_text: str) -> str:
    """The source of a ``%%workflow`` cell."""
    return f"%%workflow {line}\n{yaml_text}"


def fake_llm_class() -> Any:
    """tests/fake_llm.py's FakeLLM (tests/ is not a package, so load it by path)."""
    if "am_fake_llm" not in sys.modules:
        spec = importlib.util.spec_from_file_location("am_fake_llm", TESTS / "fake_llm.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["am_fake_llm"] = module
        spec.loader.exec_module(module)
    return sys.modules["am_fake_llm"].FakeLLM


def write_kernelspec(root: Path, data_dir: Path, extra_env: dict[str, str] | None = None
                     ) -> list[str]:
    """A kernelspec under ``root`` running this venv's Python (``extra_env`` added to its
    environment); returns the kernel dirs."""
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "agents_magic tests", "language": "python",
        "env": {**kernel_env(data_dir), **(extra_env or {})},
    }))
    return [str(root / "kernels")]


def kernel_manager(kernel_dirs: list[str]) -> Any:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    return KernelManager(kernel_name=KERNEL_NAME,
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))


@contextlib.contextmanager
def running_kernel(kernel_dirs: list[str]) -> Iterator[tuple[Any, Any]]:
    """A started test kernel and its ready client, ``(manager, client)``; shut down on exit."""
    km = kernel_manager(kernel_dirs)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


SUMMARIZE = EXAMPLE.read_text(encoding="utf-8")

TYPES = """\
schema_version: "1.0"
flow: {name: types}
state:
  fields:
    text: {type: str, required: true}
    n: {type: int, default: 1}
    tags: {type: "list[str]", default: []}
    options: {type: "dict[str, int]", default: {}}
    echo: {type: str, default: ""}
nodes:
  - {id: echo, prompt: "{state.text} {state.n} {state.tags} {state.options}", outputs: [echo]}
edges:
  - {from: START, to: echo}
  - {from: echo, to: END}
config:
  llm: {provider: mock}
"""

NO_LLM = TYPES.replace("config:\n  llm: {provider: mock}\n", "")

PARALLEL = """\
schema_version: "1.0"
flow: {name: review}
state:
  fields:
    text: {type: str, required: true}
    style: {type: str, default: ""}
    facts: {type: str, default: ""}
    verdict: {type: str, default: ""}
nodes:
  - {id: style_check, prompt: "Style of {state.text}", outputs: [style]}
  - {id: fact_check, prompt: "Facts of {state.text}", outputs: [facts]}
  - {id: combine, prompt: "Combine {state.style} and {state.facts}", outputs: [verdict]}
edges:
  - {from: START, to: [style_check, fact_check]}
  - {from: style_check, to: combine}
  - {from: fact_check, to: combine}
  - {from: combine, to: END}
config:
  llm: {provider: mock}
"""

LOOP = """\
schema_version: "1.0"
flow: {name: polish}
state:
  fields:
    text: {type: str, required: true}
    good: {type: bool, default: false}
    kind: {type: str, default: ""}
nodes:
  - {id: classify, prompt: "Classify {state.text}", outputs: [kind]}
  - id: improve
    prompt: "Improve {state.text}"
    outputs: [text, good]
    output_schema: {type: object, fields: [{name: text, type: str}, {name: good, type: bool}]}
  - {id: reject, prompt: "Reject {state.text}", outputs: [text]}
  - {id: finish, prompt: "Finish {state.text}", outputs: [text]}
edges:
  - {from: START, to: classify}
  - from: classify
    routes:
      - {condition: {logic: "{state.kind} == 'spam'"}, to: reject}
      - {condition: default, to: improve}
  - {from: improve, loop: {condition_field: good, max_iterations: 3, exit_to: finish}}
  - {from: finish, to: END}
  - {from: reject, to: END}
config:
  llm: {provider: mock}
"""


def two_step(base_url: str, *, max_retries: int = 1, timeout: float = 5) -> str:
    """``draft`` (mock, succeeds) then ``review`` on the fake OpenAI-compatible server."""
    return f"""\
schema_version: "1.0"
flow: {{name: two_step}}
state:
  fields:
    topic: {{type: str, required: true}}
    draft: {{type: str, default: ""}}
    review: {{type: str, default: ""}}
nodes:
  - id: draft
    prompt: "Draft about {{state.topic}}"
    outputs: [draft]
    llm: {{provider: mock}}
  - {{id: review, prompt: "Review {{state.draft}}", outputs: [review]}}
edges:
  - {{from: START, to: draft}}
  - {{from: draft, to: review}}
  - {{from: review, to: END}}
config:
  llm: {{provider: openai, model: fake-model, api_base: "{base_url}"}}
  execution: {{max_retries: {max_retries}, retry_backoff: 0, timeout: {timeout}}}
"""
