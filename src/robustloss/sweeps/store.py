"""The results database of sweeps: one SQLite file (stdlib ``sqlite3``) in WAL mode.

Its tables and their version are :mod:`robustloss.sweeps.schema`'s: created idempotently; an
older database is upgraded when opened for writing, and read through an upgraded in-memory
copy when opened read-only, the file left as it is. Reads return typed records:
:meth:`ResultStore.trials` one :class:`~robustloss.sweeps.results.StoredTrial` per trial
(its config as hashed, its summary a :class:`~robustloss.run.records.RunSummary`).

Durability: only the sweep driver writes. Each finished trial is written in one
transaction (status, summary and all of its history rows together), committed with
``synchronous=FULL``, so a SIGKILL at any moment either keeps the whole trial or none of
it; rows are keyed by hash with ``INSERT ... ON CONFLICT``, so nothing is ever duplicated.
A trial left ``running`` by a killed driver is set back to ``pending`` when the next driver
opens the database (:meth:`ResultStore.open_for_sweep`); a lock file beside the database
keeps two drivers from sharing one.

The database belongs on a local disk: SQLite's WAL needs shared memory and POSIX locks
that network filesystems (NFS, Lustre, GPFS home directories) do not reliably provide.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from robustloss.run.config import RunConfig
from robustloss.run.records import RunSummary
from robustloss.sweeps.results import (
    DriverRun,
    StoredTrial,
    SweepEntry,
    TrialRecord,
    trial_table,
    write_trials_csv,
)
from robustloss.sweeps.schema import (
    READABLE_VERSIONS,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    STATUSES,
    name_recorded_criteria,
    stored_json,
    upgrade_from_1,
)

__all__ = [
    "SCHEMA_VERSION",  # re-exported from robustloss.sweeps.schema, as is the next
    "STATUSES",
    "ResultStore",
    "StoredTrial",  # re-exported from robustloss.sweeps.results, as are the last two
    "history_rows",
    "name_recorded_criteria",
    "trial_table",
    "write_trials_csv",
]

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-driver lock
    fcntl = None


def _config_dict(config: RunConfig | dict[str, Any]) -> dict[str, Any]:
    return config.to_dict() if isinstance(config, RunConfig) else config


def history_rows(history: Any) -> list[tuple[int, int, dict[str, Any]]]:
    """``(fold, epoch, record)`` rows of a summary's history.

    Accepts a list of per-epoch dicts (fold from a ``"fold"`` key, else 0), or a list of
    such lists (one per fold), or a dict ``{fold: [records]}``. The epoch comes from the
    record's ``"epoch"`` key, else its position.
    """
    if not history:
        return []
    if isinstance(history, dict):
        per_fold = [(int(k), v) for k, v in history.items()]
    elif all(isinstance(h, (list, tuple)) for h in history):
        per_fold = list(enumerate(history))
    else:
        per_fold = [(None, history)]
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for fold, records in per_fold:
        for position, record in enumerate(records):
            record = dict(record)
            f = fold if fold is not None else int(record.get("fold") or 0)
            epoch = record.get("epoch")
            rows.append((f, int(epoch) if epoch is not None else position, record))
    return rows


class ResultStore:
    """A results database at ``path`` (created with its folder on first use).

    Use as a context manager or call :meth:`close`. Readers may open the same file while a
    driver writes (WAL lets them read a consistent snapshot).
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False):
        self.path = Path(path)
        self._lock_fd: int | None = None
        if readonly:
            if not self.path.is_file():
                raise ValueError(f"results database {str(self.path)!r} does not exist")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if not readonly:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._create_schema()
        try:
            version = self._check_version()
        except ValueError:
            self._conn.close()
            raise
        if readonly and version < SCHEMA_VERSION:
            self._upgrade_in_memory()

    # -- set-up -----------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self.transaction() as c:
            for statement in SCHEMA_SQL.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row["value"] == "1":
                upgrade_from_1(c)

    def _check_version(self) -> int:
        try:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise ValueError(
                f"{str(self.path)!r} is not a robustloss results database: {exc}"
            ) from exc
        if row is None or int(row["value"]) not in READABLE_VERSIONS:
            found = None if row is None else row["value"]
            raise ValueError(
                f"results database {str(self.path)!r} has schema version {found}, "
                f"expected one of {READABLE_VERSIONS} (older ones are upgraded to "
                f"{SCHEMA_VERSION})"
            )
        return int(row["value"])

    def _upgrade_in_memory(self) -> None:
        """A read-only open of an older database reads an in-memory copy, upgraded as a
        writing open would upgrade the file, so that readers (a dry run, a report) see the
        hashes a sweep would; the file is left as it is."""
        memory = sqlite3.connect(":memory:", isolation_level=None)
        self._conn.backup(memory)
        self._conn.close()
        memory.row_factory = sqlite3.Row
        memory.execute("PRAGMA foreign_keys = ON")
        self._conn = memory
        with self.transaction() as c:
            upgrade_from_1(c)

    def close(self) -> None:
        self.unlock()
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back if the body raises."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def lock(self) -> None:
        """Take the driver lock (``<db>.lock``); ValueError if another driver holds it.

        The lock is an OS file lock, so a killed driver releases it with its process.
        """
        if fcntl is None:  # pragma: no cover - not POSIX: no cross-driver protection
            return
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(
                f"another sweep driver is using {str(self.path)!r} (lock {self.path}.lock); "
                "wait for it or use another --db"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the driver's writes ----------------------------------------------------------

    def open_for_sweep(
        self,
        *,
        name: str,
        trials: Sequence[tuple[str, RunConfig | dict[str, Any]]],
        description: str = "",
        source: str = "",
        spec: str = "",
        executor: str = "",
    ) -> int:
        """Record a sweep and its ``(hash, config)`` trials; return the new run's id.

        New trials are inserted as ``pending``; existing ones are kept as they are, except
        ``running`` rows, which a previous driver left behind when it died, and which go
        back to ``pending``. All in one transaction.
        """
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO sweeps (name, description, source, spec, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "description = excluded.description, source = excluded.source, "
                "spec = excluded.spec, updated = excluded.updated",
                (name, description, source, spec, now, now),
            )
            c.executemany(
                "INSERT INTO trials (hash, sweep, config, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (hash) DO NOTHING",
                [(h, name, stored_json(_config_dict(config)), now) for h, config in trials],
            )
            c.executemany(
                "INSERT INTO sweep_trials (sweep, hash, position) VALUES (?, ?, ?) "
                "ON CONFLICT (sweep, hash) DO UPDATE SET position = excluded.position",
                [(name, h, i) for i, (h, _) in enumerate(trials)],
            )
            c.execute("UPDATE trials SET status = 'pending' WHERE status = 'running'")
            cursor = c.execute(
                "INSERT INTO runs (sweep, host, pid, executor, started) VALUES (?, ?, ?, ?, ?)",
                (name, socket.gethostname(), os.getpid(), executor, now),
            )
        return int(cursor.lastrowid)

    def mark_running(self, hashes: Iterable[str], *, run_id: int | None = None) -> None:
        """Mark trials as submitted to the executor (queued or running)."""
        now = time.time()
        hashes = list(hashes)
        with self.transaction() as c:
            c.executemany(
                "UPDATE trials SET status = 'running', started = ?, run_id = ?, "
                "attempts = attempts + 1, error = NULL WHERE hash = ? AND status != 'done'",
                [(now, run_id, h) for h in hashes],
            )
            if run_id is not None:
                c.execute(
                    "UPDATE runs SET submitted = submitted + ? WHERE id = ?", (len(hashes), run_id)
                )

    def record(
        self,
        trial_hash: str,
        record: TrialRecord | Mapping[str, Any],
        *,
        run_id: int | None = None,
    ) -> None:
        """Write one finished trial: status, summary and history in one transaction.

        ``record`` is what a worker returned (:class:`TrialRecord`, or its ``to_dict()``
        shape): ``status`` (``done``/``failed``), ``summary`` (dict, may hold ``history``),
        ``error`` (text), ``worker``, ``seconds``. Recording a trial twice replaces its row
        and history (never duplicates them).
        """
        values = record.to_dict() if isinstance(record, TrialRecord) else dict(record)
        status = values.get("status", "done")
        if status not in ("done", "failed"):
            raise ValueError(f"record status must be 'done' or 'failed', but got {status!r}")
        summary = dict(values.get("summary") or {})
        history = summary.pop("history", None)
        if history is None:
            history = values.get("history")
        rows = history_rows(history) if status == "done" else []
        with self.transaction() as c:
            cursor = c.execute(
                "UPDATE trials SET status = ?, summary = ?, error = ?, worker = ?, seconds = ?, "
                "finished = ?, run_id = COALESCE(?, run_id) WHERE hash = ?",
                (
                    status,
                    stored_json(summary) if status == "done" else None,
                    values.get("error"),
                    values.get("worker"),
                    values.get("seconds"),
                    time.time(),
                    run_id,
                    trial_hash,
                ),
            )
            if cursor.rowcount != 1:
                raise ValueError(f"no trial with hash {trial_hash!r} in {str(self.path)!r}")
            c.execute("DELETE FROM history WHERE hash = ?", (trial_hash,))
            c.executemany(
                "INSERT INTO history (hash, fold, epoch, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (hash, fold, epoch) DO UPDATE SET record = excluded.record",
                [(trial_hash, fold, epoch, stored_json(r)) for fold, epoch, r in rows],
            )
            if run_id is not None:
                column = "done" if status == "done" else "failed"
                c.execute(f"UPDATE runs SET {column} = {column} + 1 WHERE id = ?", (run_id,))

    def reset_running(self) -> int:
        """Set ``running`` trials back to ``pending`` (a driver stopping early); the count."""
        with self.transaction() as c:
            return c.execute(
                "UPDATE trials SET status = 'pending' WHERE status = 'running'"
            ).rowcount

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    # -- reads ------------------------------------------------------------------------

    def sweeps(self) -> list[SweepEntry]:
        """The sweeps this database holds, oldest first."""
        rows = self._conn.execute("SELECT * FROM sweeps ORDER BY created").fetchall()
        return [SweepEntry.from_row(r) for r in rows]

    def trials(
        self, *, sweep: str | None = None, status: str | Sequence[str] | None = None
    ) -> list[StoredTrial]:
        """The trials (all, or ``sweep``'s, in its spec's order; of one or more ``status``).

        Raises:
            ValueError: an unknown status, or a stored summary that is not a run summary
                (the message names the database and the trial).
        """
        where, params = [], []
        if sweep is not None:
            query = (
                "SELECT t.* FROM trials t JOIN sweep_trials s ON s.hash = t.hash "
                "WHERE s.sweep = ?"
            )
            params.append(sweep)
        else:
            query = "SELECT t.* FROM trials t WHERE 1"
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise ValueError(f"status must be one of {STATUSES}, but got {bad[0]!r}")
            where.append(f"t.status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        for clause in where:
            query += f" AND {clause}"
        query += " ORDER BY s.position" if sweep is not None else " ORDER BY t.created, t.hash"
        return [self._stored(row) for row in self._conn.execute(query, params).fetchall()]

    def _stored(self, row: sqlite3.Row) -> StoredTrial:
        """A trials row as its record (``summary`` JSON read by :meth:`RunSummary.from_dict`,
        any version; an empty one is None)."""
        data = json.loads(row["summary"]) if row["summary"] else None
        try:
            summary = RunSummary.from_dict(data) if data else None
        except ValueError as exc:
            raise ValueError(
                f"results database {str(self.path)!r}: trial {row['hash']}'s summary is not a "
                f"run summary: {exc}"
            ) from None
        return StoredTrial(
            hash=row["hash"],
            sweep=row["sweep"],
            config=json.loads(row["config"]),
            status=row["status"],
            summary=summary,
            error=row["error"],
            worker=row["worker"],
            seconds=row["seconds"],
            attempts=int(row["attempts"]),
            run_id=row["run_id"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
        )

    def counts(self, *, sweep: str | None = None) -> dict[str, int]:
        """Trials per status (every status present, zeros included)."""
        if sweep is None:
            query, params = "SELECT status, COUNT(*) AS n FROM trials GROUP BY status", ()
        else:
            query = ("SELECT t.status, COUNT(*) AS n FROM trials t JOIN sweep_trials s "
                     "ON s.hash = t.hash WHERE s.sweep = ? GROUP BY t.status")  # fmt: skip
            params = (sweep,)
        counts = dict.fromkeys(STATUSES, 0)
        for row in self._conn.execute(query, params).fetchall():
            counts[row["status"]] += row["n"]
        return counts

    def history(self, trial_hash: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT fold, epoch, record FROM history WHERE hash = ? ORDER BY fold, epoch",
            (trial_hash,),
        ).fetchall()
        return [{**json.loads(r["record"]), "fold": r["fold"], "epoch": r["epoch"]} for r in rows]

    def runs(self) -> list[DriverRun]:
        """Every ``robustloss sweep`` invocation on this database, in order."""
        rows = self._conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [DriverRun.from_row(r) for r in rows]

    def export_csv(self, path: str | os.PathLike[str], *, sweep: str | None = None) -> Path:
        """One CSV row per trial (:func:`write_trials_csv`)."""
        return write_trials_csv(self.trials(sweep=sweep), path)
