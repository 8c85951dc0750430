"""default_sinks(): what the settings ask for, opened once per URL; and light imports."""

from __future__ import annotations

import subprocess
import sys

from store_helpers import chain, rows

import agents_magic as am
from agents_magic import _settings
from agents_magic.sinks import MLflowSink, StoreSink, close_sinks, default_sinks


def test_store_on_by_default_and_reused(data_dir, monkeypatch):
    monkeypatch.delenv("AGENTS_MAGIC_STORE")  # the default: on
    sinks = default_sinks(_settings.reset())
    assert [type(s) for s in sinks] == [StoreSink]
    assert default_sinks()[0] is sinks[0]
    wf = am.load(chain(2))
    for _ in range(3):
        am.run(wf, {"text": "x"})  # run() attaches the session's sinks itself
    sinks[0].flush()
    assert default_sinks()[0] is sinks[0]
    url = _settings.settings.resolved_storage_url
    assert url == f"sqlite:///{data_dir / 'runs.db'}"
    assert len(rows(url, "SELECT run_id FROM runs")) == 3
    assert len(rows(url, "SELECT id FROM node_executions")) == 6


def test_switches_and_urls(data_dir, monkeypatch, tmp_path):
    assert default_sinks(_settings.reset()) == []  # AGENTS_MAGIC_STORE=0 (conftest)
    monkeypatch.setenv("AGENTS_MAGIC_MLFLOW", "1")
    (mlflow_sink,) = default_sinks(_settings.reset())
    assert isinstance(mlflow_sink, MLflowSink)
    assert mlflow_sink.tracking_uri == f"sqlite:///{data_dir / 'mlflow.db'}"
    monkeypatch.setenv("AGENTS_MAGIC_STORE", "1")
    monkeypatch.setenv("AGENTS_MAGIC_STORAGE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    store_sink, again = default_sinks(_settings.reset())
    assert store_sink.url == f"sqlite:///{tmp_path / 'other.db'}"
    assert again is mlflow_sink  # same tracking URI: the same sink
    close_sinks()
    assert default_sinks()[0] is not store_sink  # closed sinks are reopened fresh


HEAVY = ("sqlalchemy", "alembic", "mlflow", "pandas", "plotly", "diskcache", "litellm")


def test_importing_sinks_reports_and_estimate_is_light():
    code = ("import sys, agents_magic.sinks, agents_magic._reports, agents_magic._estimate, "
            "agents_magic.store; from agents_magic.sinks import default_sinks, open_cache; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_making_the_sinks_imports_nothing_heavy_on_the_callers_thread(tmp_path):
    code = ("import sys; from agents_magic.sinks import StoreSink, MLflowSink; "
            f"s = StoreSink('postgresql+psycopg://u:pw@127.0.0.1/x'); m = MLflowSink('sqlite:///{tmp_path}/m.db'); "
            f"print(repr(s), [m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "<StoreSink postgresql+psycopg://u:***@127.0.0.1/x> []"
