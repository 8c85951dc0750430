"""Evaluations in the run store: saved, replaced, listed and loaded back, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from store_helpers import YAML, chain, make_record, rows

import agents_magic as am
from agents_magic.sinks import StoreSink
from agents_magic.store import _db
from agents_magic.store._evaluations import (EvaluationNotFound, list_evaluations,
                                             load_evaluation_record, save_evaluation)

def test_a_record_loads_back_exactly(store_url):
    record = make_record(variants=("zeta", "alpha", "mid"))
    assert save_evaluation(record, storage_url=store_url) == record["id"]
    loaded = load_evaluation_record(record["id"], store_url)
    assert loaded == record
    # Same order of keys and rows as recorded (PostgreSQL's jsonb would sort the keys).
    assert list(loaded) == list(record)
    assert list(loaded["config"]["variants"]) == ["zeta", "alpha", "mid"]
    assert list(loaded["rows"][0]["inputs"]) == ["text", "lang", "a_meta"]
    assert [list(r) for r in loaded["rows"]] == [list(r) for r in record["rows"]]
    assert [(r["variant"], r["row"], r["repeat"]) for r in loaded["rows"]] == [
        (r["variant"], r["row"], r["repeat"]) for r in record["rows"]]
    metrics = loaded["rows"][0]["metrics"]
    assert metrics["exact"] is True and isinstance(metrics["judge"], float)
    assert isinstance(loaded["rows"][0]["tokens"], int)


def test_times_keep_their_own_format(store_url):
    record = make_record()
    record["started_at"] = "2026-03-01T09:30:00+02:00"
    record["finished_at"] = None
    record["status"] = "cancelled"
    save_evaluation(record, storage_url=store_url)
    assert load_evaluation_record(record["id"], store_url) == record
    (listed,) = list_evaluations(storage_url=store_url).itertuples()
    assert listed.started_at == dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.timezone.utc)
    assert pd.isna(listed.finished_at)


def test_saving_again_replaces_the_rows(store_url):
    first = make_record(rows_per_variant=4, repeats=2)
    save_evaluation(first, storage_url=store_url)
    second = make_record(rows_per_variant=2, repeats=1, variants=("baseline",), tag="v2",
                         evaluation_id=first["id"])
    second["status"] = "failed"
    save_evaluation(second, storage_url=store_url)
    assert load_evaluation_record(first["id"], store_url) == second
    stored = rows(store_url, "SELECT COUNT(*) AS n FROM evaluation_runs WHERE evaluation_id = :i",
                  i=first["id"])
    assert stored[0]["n"] == 2
    (listed,) = list_evaluations(storage_url=store_url).itertuples()
    assert (listed.status, listed.rows, listed.failed, listed.variants) == ("failed", 2, 1, 1)


def test_list_is_newest_first_with_totals(store_url):
    empty = list_evaluations(storage_url=store_url)
    assert empty.empty and list(empty.columns) == [
        "id", "name", "workflow", "status", "started_at", "finished_at", "rows", "failed",
        "variants", "cost_usd", "judge_cost_usd", "tokens"]
    old = make_record(name="old", minutes_ago=60)
    new = make_record(name="new", workflow="classify", rows_per_variant=5, repeats=1,
                      variants=("a", "b", "c"))
    for record in (old, new):
        save_evaluation(record, storage_url=store_url)
    frame = list_evaluations(storage_url=store_url)
    assert list(frame["name"]) == ["new", "old"]
    newest = frame.iloc[0]
    assert newest["id"] == new["id"] and newest["workflow"] == "classify"
    assert (newest["rows"], newest["failed"], newest["variants"]) == (15, 3, 3)
    assert newest["cost_usd"] == pytest.approx(12 * 0.0015)
    assert newest["judge_cost_usd"] == pytest.approx(12 * 0.0002)
    assert newest["tokens"] == 12 * 42
    assert str(frame["started_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["started_at"].iloc[0] > frame["started_at"].iloc[1]
    assert list(list_evaluations("summarize", storage_url=store_url)["name"]) == ["old"]
    assert list(list_evaluations(last=1, storage_url=store_url)["name"]) == ["new"]


def test_ids_prefixes_and_helpful_errors(store_url):
    with pytest.raises(EvaluationNotFound, match="has no evaluations yet"):
        load_evaluation_record("abc", store_url)
    one = make_record(evaluation_id="a1b2c3d4" + "0" * 24, name="tone")
    two = make_record(evaluation_id="a1b2ffff" + "0" * 24, name="length")
    for record in (one, two):
        save_evaluation(record, storage_url=store_url)
    assert load_evaluation_record("a1b2c3", store_url)["id"] == one["id"]
    with pytest.raises(EvaluationNotFound, match=r"`a1b2` is ambiguous.*give more characters"):
        load_evaluation_record("a1b2", store_url)
    with pytest.raises(EvaluationNotFound) as info:
        load_evaluation_record("a1b2c3d4" + "0" * 23 + "1", store_url)  # a typo at the end
    assert f"did you mean `{one['id']}`" in str(info.value)
    with pytest.raises(EvaluationNotFound, match=f"did you mean `{two['id']}`"):
        load_evaluation_record("length", store_url)  # its name, not its id
    with pytest.raises(EvaluationNotFound, match=r"the newest are .*evaluations\(\)"):
        load_evaluation_record("zzzz", store_url)
    with pytest.raises(EvaluationNotFound, match="100%_"):  # LIKE wildcards are literal
        load_evaluation_record("100%_", store_url)


def test_bad_records_say_what_is_wrong_and_change_nothing(store_url):
    record = make_record()
    save_evaluation(record, storage_url=store_url)
    broken = make_record(evaluation_id=record["id"], tag="broken")
    del broken["config"]
    del broken["rows"][2]["metrics"]
    with pytest.raises(_db.StoreError, match=r"missing `config`, `rows\[2\].metrics`"):
        save_evaluation(broken, storage_url=store_url)
    twice = make_record(evaluation_id=record["id"], tag="twice")
    twice["rows"].append(dict(twice["rows"][0]))
    with pytest.raises(_db.StoreError, match="share a variant, row and repeat"):
        save_evaluation(twice, storage_url=store_url)
    assert load_evaluation_record(record["id"], store_url) == record  # the old one, intact
    late = make_record()
    late["started_at"] = "yesterday"
    with pytest.raises(_db.StoreError, match="`started_at` must be an ISO-8601 time"):
        save_evaluation(late, storage_url=store_url)


def test_secrets_and_non_finite_numbers(store_url, monkeypatch):
    secret = "sk-test" + "7" * 30
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    record = make_record(rows_per_variant=1, repeats=1, variants=("a",))
    row = record["rows"][0]
    row["status"], row["error"] = "failed", f"401 for key {secret}"
    row["inputs"] = {"text": f"my key is {secret}"}
    row["outputs"] = {"echo": [secret]}
    row["metrics"] = {"judge": float("nan"), "ratio": float("inf")}
    record["workflow_yaml"] = YAML + f"# {secret}\n"
    save_evaluation(record, storage_url=store_url)
    loaded = load_evaluation_record(record["id"], store_url)
    dumped = repr(rows(store_url, "SELECT * FROM evaluation_runs")) + repr(
        rows(store_url, "SELECT * FROM evaluations"))
    assert secret not in dumped and secret not in repr(loaded)
    assert loaded["rows"][0]["inputs"] == {"text": "my key is [REDACTED]"}
    assert loaded["rows"][0]["error"] == "401 for key [REDACTED]"
    assert loaded["rows"][0]["metrics"] == {"judge": None, "ratio": None}


def test_concurrent_saves_never_mix_two_versions(store_url):
    """Writers racing on one id (and others on their own ids) leave exactly one whole version."""
    shared = uuid.uuid4().hex
    versions = [make_record(evaluation_id=shared, rows_per_variant=2 + i, repeats=1,
                            tag=f"writer{i}") for i in range(6)]
    others = [make_record() for _ in range(4)]
    _db.open_store(store_url)  # migrated once, before the race
    errors = []
    barrier = threading.Barrier(len(versions) + len(others))

    def save(record):
        try:
            barrier.wait(30)
            for _ in range(3):
                save_evaluation(record, storage_url=store_url)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(r,)) for r in versions + others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    loaded = load_evaluation_record(shared, store_url)
    assert loaded in versions
    assert len({row["outputs"]["summary"].split()[0] for row in loaded["rows"]
                if row["outputs"]}) == 1
    for record in others:
        assert load_evaluation_record(record["id"], store_url) == record
    assert len(list_evaluations(storage_url=store_url)) == 5


def test_rows_join_the_runs_they_came_from(store_url):
    sink = StoreSink(store_url)
    workflow = am.load(chain(2))
    results = [am.run(workflow, {"text": f"row {i}"}, sinks=[sink]) for i in range(2)]
    assert sink.flush(60)
    sink.close()
    record = make_record(rows_per_variant=2, repeats=1, variants=("a",))
    for row, result in zip(record["rows"], results):
        row["run_id"], row["status"], row["error"] = result.run_id, "succeeded", None
    save_evaluation(record, storage_url=store_url)
    joined = rows(store_url, "SELECT e.row, r.status, r.workflow FROM evaluation_runs e "
                             "JOIN runs r ON r.run_id = e.run_id ORDER BY e.row")
    assert joined == [{"row": 0, "status": "succeeded", "workflow": "chain"},
                      {"row": 1, "status": "succeeded", "workflow": "chain"}]


def test_a_store_at_0002_is_upgraded(store_url):
    """An existing store made before evaluations existed: migrated on open, its runs kept."""
    from alembic import command

    engine = _db.make_engine(store_url, immediate=True)
    config = _db.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    with engine.begin() as connection:
        assert "evaluations" not in sa.inspect(connection).get_table_names()
        connection.execute(sa.text(
            "INSERT INTO runs (run_id, workflow, status, started_at) "
            "VALUES ('old-run', 'summarize', 'succeeded', 1.0)"))
    engine.dispose()
    store = _db.RunStore(store_url)
    assert store.migrated
    with store.engine.connect() as connection:
        assert _db.current_revision(connection) == _db.HEAD
    assert rows(store_url, "SELECT run_id FROM runs") == [{"run_id": "old-run"}]
    record = make_record(rows_per_variant=1, repeats=1, variants=("a",))
    record["rows"][0]["run_id"] = "old-run"
    save_evaluation(record, storage_url=store_url)
    assert load_evaluation_record(record["id"], store_url) == record
    store.dispose()
