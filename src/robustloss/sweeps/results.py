"""Where a sweep's results live, the records of a trial, and trials as flat rows.

- :func:`default_db_path` and :func:`resolve_source`: the results database of a spec, or
  a database given by path (what ``robustloss results`` and ``report`` read).
- :class:`TrialRecord`: what one trial (or a dedicated warm-up) produced on a worker. Built
  in one place (:mod:`robustloss.sweeps.worker`); it crosses the Dask boundary as
  :meth:`TrialRecord.to_dict` and is written by
  :meth:`robustloss.sweeps.store.ResultStore.record`.
- :class:`StoredTrial`: a trial as the database holds it, what
  :meth:`robustloss.sweeps.store.ResultStore.trials` returns.
- :func:`trial_table` and :func:`write_trials_csv`: trials as one flat CSV row each.
- :func:`precision_mix`: the warning when one sweep's trials resolved ``precision``
  differently (e.g. a sweep resumed on another machine).

Resume policy: a trial's identity is its *requested* config (``precision = "auto"`` hashes
as "auto"), so a sweep resumed on a machine where "auto" resolves differently keeps its
finished trials and runs only the rest there. Every finished trial records what it resolved
to (``precision_used``, ``memory_format``, ``cpu_capability``, ``native_bf16`` in its
summary, hence in its row and ``trials.csv``), and ``robustloss results`` and the sweep
report warn when they differ within a sweep: seeds of one setting trained in bf16 and in
fp32 agree only statistically, not bitwise.

Imports no Dask and no driver: the report reads results through this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustloss._io import write_csv
from robustloss.run.config import RunConfig
from robustloss.run.records import RunSummary
from robustloss.sweeps.spec import load_spec

__all__ = [
    "DriverRun",
    "StoredTrial",
    "SweepEntry",
    "TrialRecord",
    "default_db_path",
    "precision_mix",
    "resolve_source",
    "trial_table",
    "write_trials_csv",
]


def _from_row(cls, row: Mapping[str, Any]):
    """A record of the columns ``cls`` has, from a database row (a column an older version
    lacks takes the field's default)."""
    names = set(row.keys())
    return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in names})


@dataclasses.dataclass(frozen=True)
class SweepEntry:
    """A sweep as the results database lists it: its name, description, the spec's source
    path and text, and when it was first and last written."""

    name: str
    description: str = ""
    source: str = ""
    spec: str = ""
    created: float = 0.0
    updated: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SweepEntry:
        return _from_row(cls, row)


@dataclasses.dataclass(frozen=True)
class DriverRun:
    """One ``robustloss sweep`` invocation on a database: where it ran (``host``, ``pid``,
    ``executor``), when, and how many trials it submitted and saw finish or fail."""

    id: int
    sweep: str
    host: str
    pid: int
    executor: str = ""
    started: float = 0.0
    finished: float | None = None
    submitted: int = 0
    done: int = 0
    failed: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DriverRun:
        return _from_row(cls, row)


def default_db_path(spec_name: str) -> Path:
    """``runs/<spec name>/results.db``, relative to the current directory."""
    return Path("runs") / spec_name / "results.db"


def resolve_source(source: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``(database, sweep name or None)`` for a results database file or a spec.

    A spec (bundled name or file) means its default database, read for its own sweep only.

    Raises:
        ValueError: neither an existing database file nor a spec whose database exists.
    """
    path = Path(source)
    if path.is_file() and path.suffix != ".toml":
        return path, None
    spec = load_spec(source)
    db = default_db_path(spec.name)
    if not db.is_file():
        raise ValueError(
            f"no results for spec {spec.name!r}: {str(db)!r} does not exist "
            f"(run `robustloss sweep {source}` first, or give the database path)"
        )
    return db, spec.name


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """The outcome of one task on a worker: a trial, or a dedicated shared warm-up.

    Attributes:
        status: ``"done"`` or ``"failed"``.
        summary: the trial's summary (``RunSummary.to_dict()``'s shape, or what a test's
            ``trial_fn`` returned); None when it failed and for a warm-up.
        error: the traceback text of a failure, else None.
        worker: ``host:pid`` that ran it (None when the task never reached a worker).
        seconds: wall time on the worker (None when it never ran).
        hash: the trial's config hash, when the driver named it.
        epochs, reused: a dedicated warm-up's epochs and whether a complete one on disk was
            reused (None for a trial).
    """

    status: str
    summary: dict[str, Any] | None = None
    error: str | None = None
    worker: str | None = None
    seconds: float | None = None
    hash: str | None = None
    epochs: int | None = None
    reused: bool | None = None

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def to_dict(self) -> dict[str, Any]:
        """The plain form that crosses the Dask boundary and that the store writes."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        """Read :meth:`to_dict`'s shape back (missing keys take their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredTrial:
    """One trial as the results database holds it (:meth:`ResultStore.trials
    <robustloss.sweeps.store.ResultStore.trials>`).

    Attributes:
        hash: its key, the config hash of ``config``.
        sweep: the sweep that first listed it (others may list it too).
        config: the resolved config as hashed (:meth:`RunConfig.to_dict
            <robustloss.run.config.RunConfig.to_dict>`'s shape; a database written by an
            older version keeps that version's keys: :meth:`run_config` reads it).
        status: ``pending``, ``running``, ``done`` or ``failed``.
        summary: when done, what the trial recorded, without its history (kept in a table
            of its own: :meth:`ResultStore.history`); else None.
        error: the traceback text of a failure, else None.
        worker: ``host:pid`` that ran it last; ``seconds`` its wall time there.
        attempts: how often it was submitted; ``run_id`` the driver run that last did.
        created, started, finished: Unix times (None: not yet).
    """

    hash: str
    sweep: str
    config: dict[str, Any]
    status: str
    summary: RunSummary | None = None
    error: str | None = None
    worker: str | None = None
    seconds: float | None = None
    attempts: int = 0
    run_id: int | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def error_line(self) -> str | None:
        """The last line of the error (the exception), or None."""
        lines = (self.error or "").strip().splitlines()
        return lines[-1] if lines else None

    def run_config(self) -> RunConfig:
        """The config as a :class:`~robustloss.run.config.RunConfig` (ValueError where an
        older version's config no longer validates)."""
        return RunConfig.from_dict(self.config)


def trial_table(trials: Sequence[StoredTrial]) -> list[dict[str, Any]]:
    """Flat rows of trials: identity and status, config keys, scalar summary values (the
    summary's in the order of their names, as the database stores them)."""
    rows = []
    for trial in trials:
        row: dict[str, Any] = {
            "hash": trial.hash,
            "status": trial.status,
            "worker": trial.worker,
            "seconds": trial.seconds,
            "error": trial.error_line,
        }
        row.update(trial.config)
        summary = {} if trial.summary is None else trial.summary.to_dict()
        for key, value in sorted(summary.items()):
            if key not in row and (value is None or isinstance(value, (int, float, str, bool))):
                row[key] = value
        rows.append(row)
    return rows


def precision_mix(trials: Sequence[StoredTrial]) -> str | None:
    """One line when the finished ``trials`` resolved to more than one precision, else None.

    Counts trials per ``(precision_used, memory_format, cpu_capability)`` of their summaries;
    trials recorded before these fields existed are left out.
    """
    counts: dict[tuple[str, str, str], int] = {}
    for trial in trials:
        summary = trial.summary
        if not trial.done or summary is None or summary.precision_used is None:
            continue
        key = (
            str(summary.precision_used),
            str(summary.memory_format),
            str(summary.cpu_capability),
        )
        counts[key] = counts.get(key, 0) + 1
    if len({k[:2] for k in counts}) <= 1:
        return None
    parts = ", ".join(
        f"{n} in {p} ({m}, CPU {c})" for (p, m, c), n in sorted(counts.items())
    )
    return (
        f"warning: these trials resolved their precision differently: {parts}; "
        "seeds of one setting compare statistically only (resumed on another machine?)"
    )


def write_trials_csv(trials: Sequence[StoredTrial], path: str | os.PathLike[str]) -> Path:
    """One CSV row per trial: hash, status, every config key, every scalar summary key."""
    rows = trial_table(trials)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return write_csv(path, rows, columns or ["hash"])
