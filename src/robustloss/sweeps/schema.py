"""The results database's schema: its tables, its version, and the upgrade of older ones.

Tables (schema version :data:`SCHEMA_VERSION`, :data:`SCHEMA_SQL`):

- ``trials``: one row per trial, keyed by ``hash`` (:func:`config_hash` of its resolved
  config): ``config`` JSON, ``status`` (one of :data:`STATUSES`), ``error`` text of a
  failure, ``summary`` JSON (``run_experiment``'s summary without its history), ``worker``
  (host:pid that ran it), ``attempts``, timestamps.
- ``history``: one row per trial, fold and epoch (JSON of that epoch's training record).
- ``sweeps``: each spec recorded in this database (name, TOML text, source);
  ``sweep_trials`` links sweeps to trials (a trial shared by two specs runs once).
- ``runs``: one row per invocation of the sweep driver (host, pid, executor, counts).
- ``meta``: ``schema_version``.

Version 2 (from 1): a search's hash names the criterion it chose by. Version 1 hashed a
``loss = "auto"`` trial without ``auto_criterion`` when it was left to the protocol's
default, so the same hash meant whatever the default was when the trial ran; now
:meth:`RunConfig.resolved <robustloss.run.config.RunConfig.resolved>` fills the
default in before hashing. The upgrade (:func:`name_recorded_criteria`) gives each such
finished trial the criterion its summary recorded, and one that has not run today's
default, under the hash its config now has. :class:`robustloss.sweeps.store.ResultStore`
upgrades the file when it opens it for writing, and reads an upgraded in-memory copy when
it opens it read-only.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from robustloss._io import json_text
from robustloss.run.config import RunConfig, config_hash

__all__ = [
    "READABLE_VERSIONS",
    "SCHEMA_SQL",
    "SCHEMA_VERSION",
    "STATUSES",
    "name_recorded_criteria",
    "stored_json",
    "upgrade_from_1",
]

SCHEMA_VERSION = 2
#: Versions an open accepts (an older one is upgraded: in the file when opened for writing,
#: in an in-memory copy when read-only).
READABLE_VERSIONS: tuple[int, ...] = (1, 2)
STATUSES: tuple[str, ...] = ("pending", "running", "done", "failed")

#: The tables, created idempotently (``CREATE ... IF NOT EXISTS``).
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    hash TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error TEXT,
    summary TEXT,
    worker TEXT,
    seconds REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_id INTEGER,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep TEXT NOT NULL,
    hash TEXT NOT NULL REFERENCES trials (hash) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (sweep, hash)
);
CREATE TABLE IF NOT EXISTS history (
    hash TEXT NOT NULL REFERENCES trials (hash) ON DELETE CASCADE,
    fold INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (hash, fold, epoch)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    executor TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    finished REAL,
    submitted INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
"""


def stored_json(value: Any) -> str:
    """JSON that always parses back: NaN/inf (e.g. an empty run's F1) become null."""
    return json_text(value, sort_keys=True)


def name_recorded_criteria(conn: sqlite3.Connection) -> int:
    """Upgrade a version-1 database's trials to version 2's hashes; return how many moved.

    A trial whose search left ``auto_criterion`` unset gets, when it finished, the criterion
    its summary recorded choosing by (it ran under the default of its day), and otherwise
    keeps it unset (it will run under today's default); either way it moves to the hash
    :func:`config_hash` now gives its config, with its history and sweep memberships. A
    finished trial that recorded no criterion, or whose config no longer validates, is left
    as it was. Where the new hash is already a trial (the same experiment run twice, once
    with the criterion named), the finished one is kept, the existing one if both are, and
    the other's sweep memberships join it. Call inside a transaction.
    """
    moved = 0
    for row in conn.execute("SELECT * FROM trials").fetchall():
        config = json.loads(row["config"])
        try:
            cfg = RunConfig.from_dict(config)
        except ValueError:
            continue
        if not cfg.chooses_settings or cfg.auto_criterion is not None:
            continue
        summary = json.loads(row["summary"]) if row["summary"] else {}
        recorded = (summary.get("auto") or {}).get("criterion")
        if row["status"] == "done" and recorded is None:
            continue
        if recorded is not None:
            config = {**config, "auto_criterion": recorded}
        try:
            new = config_hash(config)
        except ValueError:  # a recorded criterion this version does not know
            continue
        old = row["hash"]
        if new == old:
            continue
        other = conn.execute("SELECT status FROM trials WHERE hash = ?", (new,)).fetchone()
        members = conn.execute(
            "SELECT sweep, position FROM sweep_trials WHERE hash = ?", (old,)
        ).fetchall()
        if other is not None and (other["status"] == "done" or row["status"] != "done"):
            conn.execute("DELETE FROM trials WHERE hash = ?", (old,))
        else:
            if other is not None:  # this one finished, the other did not: this one stays
                members += conn.execute(
                    "SELECT sweep, position FROM sweep_trials WHERE hash = ?", (new,)
                ).fetchall()
                conn.execute("DELETE FROM trials WHERE hash = ?", (new,))
            values = {**dict(row), "hash": new, "config": stored_json(config)}
            conn.execute(
                f"INSERT INTO trials ({', '.join(values)}) "
                f"VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
            conn.execute("UPDATE history SET hash = ? WHERE hash = ?", (new, old))
            conn.execute("DELETE FROM trials WHERE hash = ?", (old,))
        conn.executemany(
            "INSERT INTO sweep_trials (sweep, hash, position) VALUES (?, ?, ?) "
            "ON CONFLICT (sweep, hash) DO NOTHING",
            [(m["sweep"], new, m["position"]) for m in members],
        )
        moved += 1
    return moved


def upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Version 1 to :data:`SCHEMA_VERSION` (2), inside the caller's transaction."""
    name_recorded_criteria(conn)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
    )
