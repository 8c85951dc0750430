"""Every documented setting, in a real kernel: read from its ``AGENTS_MAGIC_*`` variable and
written by ``%config AgentsMagic.<name>``; a budget set with ``%config`` stops a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from am_nb_helpers import running_kernel, write_kernelspec
from test_kernel import _execute, _text

pytestmark = pytest.mark.slow

ENV = {"AGENTS_MAGIC_DEFAULT_PROVIDER": "mock", "AGENTS_MAGIC_DEFAULT_MODEL": "m-env",
       "AGENTS_MAGIC_STORAGE_URL": "sqlite:////tmp/am-env.db", "AGENTS_MAGIC_STORE": "0",
       "AGENTS_MAGIC_CACHE": "0", "AGENTS_MAGIC_MLFLOW": "0",
       "AGENTS_MAGIC_MLFLOW_TRACKING_URI": "http://127.0.0.1:5999",
       "AGENTS_MAGIC_MAX_CONCURRENCY": "3", "AGENTS_MAGIC_BUDGET_USD": "7.5",
       "AGENTS_MAGIC_LIVE_DISPLAY": "0"}
FROM_ENV = {"default_provider": "mock", "default_model": "m-env",
            "storage_url": "sqlite:////tmp/am-env.db", "store": False, "cache": False,
            "mlflow": False, "mlflow_tracking_uri": "http://127.0.0.1:5999", "max_concurrency": 3,
            "budget_usd": 7.5, "live_display": False}
BY_CONFIG = {"default_provider": "openai", "default_model": "m-config",
             "storage_url": "sqlite:////tmp/am-config.db", "store": True, "cache": True,
             "mlflow": True, "mlflow_tracking_uri": "http://127.0.0.1:5998", "max_concurrency": 5,
             "budget_usd": 0.000001, "live_display": True}
SHOW = """
import json
from agents_magic import _settings
_m = get_ipython().magics_manager.registry["AgentsMagic"]
print("SETTINGS" + json.dumps({n: [str(getattr(_settings.settings, n)), str(getattr(_m, n))]
                               for n in %r}))
"""


def _shown(kc: Any, names: list[str]) -> dict[str, list[str]]:
    reply, outputs = _execute(kc, SHOW % (names,))
    assert reply["content"]["status"] == "ok", _text(outputs)
    line = next(row for row in _text(outputs).splitlines() if row.startswith("SETTINGS"))
    return json.loads(line.removeprefix("SETTINGS"))  # type: ignore[no-any-return]


def test_every_setting_from_the_environment_and_from_config(tmp_path: Path, llm: Any) -> None:
    data_dir = tmp_path / "am-env-data"
    dirs = write_kernelspec(tmp_path, tmp_path / "kernel-data",
                            {**ENV, "AGENTS_MAGIC_DATA_DIR": str(data_dir)})
    with running_kernel(dirs) as (_, kc):
        assert _execute(kc, "%load_ext agents_magic")[0]["content"]["status"] == "ok"
        names = [*FROM_ENV, "data_dir"]
        shown = _shown(kc, names)
        expected = {**FROM_ENV, "data_dir": data_dir}
        assert shown == {n: [str(v), str(v)] for n, v in expected.items()}
        elsewhere = tmp_path / "am-config-data"
        for name, value in {**BY_CONFIG, "data_dir": str(elsewhere)}.items():
            reply, outputs = _execute(kc, f"%config AgentsMagic.{name} = {value!r}")
            assert reply["content"]["status"] == "ok", _text(outputs)
        shown = _shown(kc, names)
        expected = {**BY_CONFIG, "data_dir": elsewhere}
        assert shown == {n: [str(v), str(v)] for n, v in expected.items()}
        # The %config budget holds: the first priced call would exceed it.
        cell = ("%%workflow priced -i text=hello --quiet --out res\n"
                'schema_version: "1.0"\nflow: {name: priced}\n'
                "state: {fields: {text: {type: str, required: true}, out: {type: str}}}\n"
                'nodes: [{id: a, prompt: "Say {state.text}", outputs: [out]}]\n'
                "edges: [{from: START, to: a}, {from: a, to: END}]\n"
                f'config: {{llm: {{provider: openai, model: gpt-4o-mini, api_base: "{llm.base_url}"}}}}\n')
        _execute(kc, "%config AgentsMagic.store = False")
        _execute(kc, "%config AgentsMagic.mlflow = False")
        reply, outputs = _execute(kc, cell)
        reply, outputs = _execute(kc, "print(res.status)")
        assert "budget_exceeded" in _text(outputs), _text(outputs)
        assert llm.requests() == []
