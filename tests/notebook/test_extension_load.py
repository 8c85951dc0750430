"""``%load_ext agents_magic`` imports nothing heavy (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from am_nb_helpers import REPO

HEAVY = ("litellm", "langgraph", "mlflow", "pandas", "plotly", "sqlalchemy", "RestrictedPython")
ALLOWED_AT_LOAD = {"agents_magic", "agents_magic.notebook", "agents_magic.notebook._magics",
                   "agents_magic.errors"}

SCRIPT = textwrap.dedent("""
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "agents_magic")
    loaded = {
        "heavy": [m for m in %(heavy)r if m in sys.modules],
        "ours": sorted(m for m in sys.modules if m.startswith("agents_magic")),
        "magic": ip.find_magic("workflow") is not None,
    }
    ip.run_line_magic("config", "AgentsMagic.default_provider = 'mock'")
    ip.run_line_magic("workflow", "help")
    loaded["heavy_after_help"] = [m for m in %(heavy)r if m in sys.modules]
    print(json.dumps(loaded))
""") % {"heavy": HEAVY}


def test_load_ext_imports_nothing_heavy(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["magic"]
    assert loaded["heavy"] == [] and loaded["heavy_after_help"] == []
    assert set(loaded["ours"]) <= ALLOWED_AT_LOAD, loaded["ours"]
