"""The results database: schema, transactions, no duplicates, locking, CSV export."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from robustloss.report.sweep.grouping import group_settings
from robustloss.run.config import config_hash
from robustloss.run.records import RunSummary
from robustloss.sweeps.results import StoredTrial, trial_table
from robustloss.sweeps.store import SCHEMA_VERSION, ResultStore, history_rows
from sweep_fakes import run_summary

#: A version-1 database written by robustloss a49b2ee (tests/data_fixtures/README.md).
V1_DB = Path(__file__).resolve().parents[1] / "data_fixtures" / "results-v1-a49b2ee.sqlite"


def _trials(n: int) -> list[tuple[str, dict]]:
    return [(f"h{i:03d}", {"loss": "ce", "seed": i, "epochs": 3}) for i in range(n)]


def _summary(f1: float | None, **fields) -> dict:
    """A run summary's JSON shape (what a worker hands the store)."""
    return run_summary(f1=f1, **fields).to_dict()


def _record(seed: int, *, epochs: int = 3) -> dict:
    history = [{"fold": None, "epoch": e, "train_loss": 1.0 / (e + 1)} for e in range(epochs)]
    return {
        "status": "done",
        "summary": _summary(0.5 + seed / 100, precision=0.9, history=history),
        "worker": "host:1",
        "seconds": 1.5,
    }


def _count(path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_schema_is_idempotent_and_wal(tmp_path):
    db = tmp_path / "sub" / "results.db"
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=_trials(3))
    with ResultStore(db) as store:  # opening again changes nothing
        store.open_for_sweep(name="s", trials=_trials(3))
        assert store.counts(sweep="s") == {"pending": 3, "running": 0, "done": 0, "failed": 0}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert int(version[0]) == SCHEMA_VERSION
    assert _count(db, "trials") == 3
    assert _count(db, "runs") == 2


def test_record_writes_summary_and_history_and_replaces_not_duplicates(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        run = store.open_for_sweep(name="s", trials=_trials(2))
        store.mark_running(["h000", "h001"], run_id=run)
        store.record("h000", _record(0), run_id=run)
        store.record("h000", _record(7, epochs=2), run_id=run)  # recorded twice: replaced
        store.record("h001", {"status": "failed", "error": "Traceback\nValueError: boom"})
        done = store.trials(status="done")
        assert [t.hash for t in done] == ["h000"]
        assert isinstance(done[0], StoredTrial) and isinstance(done[0].summary, RunSummary)
        assert done[0].summary.f1 == pytest.approx(0.57)
        assert done[0].summary.history == []  # stored in its own table
        assert (done[0].worker, done[0].seconds, done[0].attempts) == ("host:1", 1.5, 1)
        assert done[0].config == {"loss": "ce", "seed": 0, "epochs": 3}  # as written
        assert [h["epoch"] for h in store.history("h000")] == [0, 1]
        failed = store.trials(status="failed")[0]
        assert failed.error.endswith("ValueError: boom") and failed.summary is None
        assert failed.error_line == "ValueError: boom"
        assert store.runs()[0].submitted == 2
    assert _count(db, "history") == 2
    assert _count(db, "trials") == 2


def test_record_rejects_unknown_trials_and_statuses(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        store.open_for_sweep(name="s", trials=_trials(1))
        with pytest.raises(ValueError, match="no trial with hash 'nope'"):
            store.record("nope", _record(0))
        with pytest.raises(ValueError, match="'done' or 'failed'"):
            store.record("h000", {"status": "running"})
        with pytest.raises(ValueError, match="status must be one of"):
            store.trials(status="finished")


def test_running_trials_are_reset_when_a_driver_starts(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=_trials(3))
        store.mark_running(["h000", "h001", "h002"])
        store.record("h000", _record(0))
    # The driver "died" with h001 and h002 running; the next one sets them back.
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=_trials(3))
        assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 0}
        # A done trial is never marked running again.
        store.mark_running(["h000"])
        assert store.counts()["done"] == 1


def test_history_rows_accepts_every_layout():
    flat = [{"fold": 1, "epoch": 0}, {"fold": 1, "epoch": 1}, {"fold": None, "epoch": 0}]
    assert [(f, e) for f, e, _ in history_rows(flat)] == [(1, 0), (1, 1), (0, 0)]
    nested = [[{"epoch": 0}, {"epoch": 1}], [{"epoch": 0}]]
    assert [(f, e) for f, e, _ in history_rows(nested)] == [(0, 0), (0, 1), (1, 0)]
    assert [(f, e) for f, e, _ in history_rows({"2": [{"loss": 1}]})] == [(2, 0)]
    assert history_rows(None) == []


def test_concurrent_writers_never_duplicate_rows(tmp_path):
    db = tmp_path / "r.db"
    trials = _trials(40)
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=trials)
    errors = []

    def writer() -> None:
        try:
            with ResultStore(db) as store:  # its own connection, as another process would
                store.open_for_sweep(name="s", trials=trials)
                for i, (h, _) in enumerate(trials):
                    store.record(h, _record(i))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert _count(db, "trials") == 40
    assert _count(db, "sweep_trials") == 40
    assert _count(db, "history") == 40 * 3
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT hash) FROM history").fetchone()[0] == 40


def test_driver_lock_is_exclusive(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as first, ResultStore(db) as second:
        first.lock()
        with pytest.raises(ValueError, match="another sweep driver"):
            second.lock()
        first.unlock()
        second.lock()  # free once released


def test_readonly_and_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ResultStore(tmp_path / "none.db", readonly=True)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    with pytest.raises(ValueError, match="schema version 99, expected"):
        ResultStore(other, readonly=True)
    text = tmp_path / "text.db"
    text.write_text("not a database at all, just some text" * 100)
    with pytest.raises(ValueError, match="not a robustloss results database"):
        ResultStore(text, readonly=True)


def test_export_csv_has_config_and_scalar_summary_columns(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=_trials(2))
        store.record("h001", _record(1))
        out = store.export_csv(tmp_path / "out" / "trials.csv", sweep="s")
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["hash"] for r in rows] == ["h000", "h001"]
    assert rows[1]["status"] == "done" and float(rows[1]["f1"]) == pytest.approx(0.51)
    assert rows[0]["status"] == "pending" and rows[0]["f1"] == ""
    assert rows[1]["seed"] == "1" and rows[1]["loss"] == "ce"


def test_trials_record_their_resolved_precision_and_results_warn_on_a_mix(tmp_path, capsys):
    import argparse

    from robustloss.cli import sweep as sweep_cli
    from robustloss.run.config import RunConfig

    db = tmp_path / "r.db"
    configs = [(f"h{i:03d}", RunConfig(seed=i).to_dict()) for i in range(2)]
    with ResultStore(db) as store:
        run = store.open_for_sweep(name="s", trials=configs)
        for i, (used, fmt, cap) in enumerate(
            [("fp32", "contiguous", "AVX2"), ("bf16", "channels_last", "AVX512")]
        ):
            rec = _record(i)
            rec["summary"].update(precision_used=used, memory_format=fmt, cpu_capability=cap)
            store.record(f"h{i:03d}", rec, run_id=run)
        trials = store.trials(sweep="s")
    assert [t.summary.precision_used for t in trials] == ["fp32", "bf16"]
    args = argparse.Namespace(source=str(db), csv=tmp_path / "t.csv", trials=True, status=None)
    assert sweep_cli.results_command(args) == 0
    err = capsys.readouterr().err
    assert "resolved their precision differently" in err and "1 in bf16" in err
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["precision_used"] for r in rows] == ["fp32", "bf16"]
    assert [r["cpu_capability"] for r in rows] == ["AVX2", "AVX512"]


def _v1_database(path, rows: list[tuple[str, dict, str, dict | None]], sweeps: dict) -> None:
    """A version-1 database holding ``rows`` (hash, config, status, summary); ``sweeps``
    maps a sweep name to the hashes it lists. Each trial gets one history row."""
    with ResultStore(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        for h, config, status, summary in rows:
            conn.execute(
                "INSERT INTO trials (hash, sweep, config, status, summary, created) "
                "VALUES (?, 's', ?, ?, ?, 0)",
                (h, json.dumps(config), status, None if summary is None else json.dumps(summary)),
            )
            conn.execute(
                "INSERT INTO history (hash, fold, epoch, record) VALUES (?, 0, 0, ?)",
                (h, json.dumps({"from": h})),
            )
        for name, hashes in sweeps.items():
            conn.executemany(
                "INSERT INTO sweep_trials (sweep, hash, position) VALUES (?, ?, ?)",
                [(name, h, i) for i, h in enumerate(hashes)],
            )


def test_a_version_1_database_names_the_criterion_each_search_ran_by(tmp_path):
    """Version 1 hashed an auto trial left to the default criterion without it, so its hash
    meant whatever the default was when it ran. Opened for writing, each finished one names
    the criterion it recorded, a pending one takes today's default, both under the hash
    their config has now, with history and sweeps; a reader sees the same, the file
    untouched."""
    auto = {"loss": "auto", "protocol": "in-sample", "seed": 0}
    canary = {**auto, "auto_criterion": "canary-f1-structured"}
    gap_s, canary_s = {"criterion": "holdout-gap"}, {"criterion": "canary-f1-structured"}
    rows = [
        ("old-gap", auto, "done", _summary(0.7, auto=gap_s)),
        ("old-pending", {**auto, "seed": 1}, "pending", None),
        ("old-unknown", {**auto, "seed": 2}, "done", _summary(0.6)),
        ("ce", {"loss": "ce", "seed": 0}, "done", _summary(0.5)),
        # The same experiment twice: once left to the default (which then was canary-s), once
        # named; both finished: the named one stays, the other's sweep joins it.
        ("old-canary", {**auto, "seed": 3}, "done", _summary(0.8, auto=canary_s)),
        (config_hash({**canary, "seed": 3}), {**canary, "seed": 3}, "done", _summary(0.81)),
        # Here the named one never ran: the finished one takes its place.
        ("old-done", {**auto, "seed": 4}, "done", _summary(0.9, auto=canary_s)),
        (config_hash({**canary, "seed": 4}), {**canary, "seed": 4}, "pending", None),
    ]
    sweeps = {"a": ["old-gap", "old-pending", "old-unknown", "ce", "old-canary", "old-done"],
              "b": ["old-gap", config_hash({**canary, "seed": 3}),
                    config_hash({**canary, "seed": 4})]}  # fmt: skip
    db = tmp_path / "v1.db"
    _v1_database(db, rows, sweeps)
    with ResultStore(db, readonly=True) as store:  # read upgraded, in memory
        upgraded = {t.hash for t in store.trials()}
    with sqlite3.connect(db) as conn:  # the file as it was
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert version[0] == "1"
        assert {h for (h,) in conn.execute("SELECT hash FROM trials")} == {h for h, *_ in rows}

    with ResultStore(db) as store:
        trials = {t.hash: t for t in store.trials()}
        gap = config_hash({**auto, "auto_criterion": "holdout-gap"})
        pending = config_hash({**auto, "seed": 1})
        assert pending == config_hash({**canary, "seed": 1})  # today's default, named or not
        seed3, seed4 = config_hash({**canary, "seed": 3}), config_hash({**canary, "seed": 4})
        assert set(trials) == {gap, pending, "old-unknown", "ce", seed3, seed4}
        assert trials[gap].config["auto_criterion"] == "holdout-gap"
        assert trials[gap].status == "done" and trials[gap].summary.f1 == 0.7
        assert [r["from"] for r in store.history(gap)] == ["old-gap"]
        assert trials[pending].config.get("auto_criterion") is None
        assert trials[pending].status == "pending"
        assert trials[seed3].summary.f1 == 0.81  # the named one, both done
        assert [r["from"] for r in store.history(seed3)] == [seed3]
        assert trials[seed4].summary.f1 == 0.9  # the finished one
        assert trials[seed4].status == "done"
        assert [r["from"] for r in store.history(seed4)] == ["old-done"]
        assert {t.hash for t in store.trials(sweep="a")} == {
            gap, pending, "old-unknown", "ce", seed3, seed4
        }
        assert {t.hash for t in store.trials(sweep="b")} == {gap, seed3, seed4}
    with sqlite3.connect(db) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert int(version[0]) == SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        (orphans,) = conn.execute(
            "SELECT COUNT(*) FROM history WHERE hash NOT IN (SELECT hash FROM trials)"
        ).fetchone()
        assert orphans == 0
    assert upgraded == set(trials)  # what readers saw before is what the file now holds
    with ResultStore(db) as store:  # opening again changes nothing
        assert {t.hash for t in store.trials()} == set(trials)


def test_a_summary_that_is_not_a_run_summary_is_an_error_naming_the_trial(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.open_for_sweep(name="s", trials=_trials(1))
        store.record("h000", {"status": "done", "summary": {"f1": 0.5, "surprise": 1}})
        with pytest.raises(ValueError, match=r"trial h000's summary is not a run summary: "
                           r"RunSummary: unknown keys \['surprise'\]"):  # fmt: skip
            store.trials()


def test_the_committed_version_1_database_opens_upgraded(tmp_path):
    """tests/data_fixtures/results-v1-a49b2ee.sqlite: a version-1 database as robustloss
    a49b2ee wrote it (real tiny trials: CE, Blurry, two finished searches left to that day's
    default criterion, holdout-gap, one pending, one failed). Read-only it reads upgraded in
    memory, the file untouched; opened for writing (a copy) it is upgraded in place; either
    way its trials are typed records and its summaries (of that version) read."""
    db = tmp_path / "readonly" / V1_DB.name  # a copy: no reader may leave files beside it
    db.parent.mkdir()
    shutil.copy(V1_DB, db)
    with ResultStore(db, readonly=True) as store:
        read = store.trials()
        counts = store.counts()
        sweeps, runs = store.sweeps(), store.runs()
    assert db.read_bytes() == V1_DB.read_bytes()  # the file as it was
    # the sweeps and the driver runs are typed records too
    assert [type(s).__name__ for s in sweeps] == ["SweepEntry"] * len(sweeps) and sweeps
    assert all(s.name and s.created > 0 for s in sweeps)
    assert runs and all(type(r).__name__ == "DriverRun" and r.submitted >= 0 for r in runs)
    assert counts == {"pending": 1, "running": 0, "done": 6, "failed": 1}
    by_loss = {}
    for t in read:
        by_loss.setdefault(t.config["loss"], []).append(t)
    searches = [t for t in by_loss["auto"] if t.done]
    assert len(searches) == 2
    for t in searches:  # named by the criterion it recorded, and hashed so
        assert t.config["auto_criterion"] == t.summary.auto["criterion"] == "holdout-gap"
        assert t.hash == config_hash(t.config)
        assert t.run_config().auto_criterion == "holdout-gap"
    (failed,) = [t for t in read if t.status == "failed"]
    assert failed.summary is None and "missing.npz" in failed.error
    assert all(t.summary.history == [] and t.summary.n == 60 for t in read if t.done)
    settings = group_settings([t for t in read if t.done])
    assert {s.label for s in settings} == {"CE", "BL γ=0.4, d=0", "auto criterion holdout-gap"}
    rows = trial_table(read)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done", "pending", "failed"}

    copy = tmp_path / "v1.db"
    shutil.copy(V1_DB, copy)
    with ResultStore(copy) as store:
        assert {t.hash for t in store.trials()} == {t.hash for t in read}
    with sqlite3.connect(copy) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(version[0]) == SCHEMA_VERSION
