"""The finished trials of one or more results databases or specs, for reports and tables.

A *source* is a results database file, or a spec (bundled name or file) whose default
database (``runs/<name>/results.db``, :func:`~robustloss.sweeps.results.resolve_source`)
holds its trials; a spec reads only its own trials. :func:`load_trials` reads them all, as
:class:`~robustloss.sweeps.results.StoredTrial` records, with a :class:`TrialSource` per
source saying what it held.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from robustloss.sweeps.results import StoredTrial, resolve_source
from robustloss.sweeps.store import ResultStore

__all__ = ["TrialSource", "load_trials"]


@dataclass(frozen=True, kw_only=True)
class TrialSource:
    """What one source held.

    Attributes:
        db: the database file.
        sweep: the spec's sweep for a spec source, None for a database (all its trials).
        sweeps: every sweep recorded in the database.
        counts: trials per status (of ``sweep`` when given), every status present.
        failures: ``(hash, last line of the error)`` of each failed trial (the line, or
            nothing for an empty error, as a list of at most one line).
    """

    db: str
    sweep: str | None
    sweeps: list[str]
    counts: dict[str, int]
    failures: list[tuple[str, list[str]]]


def load_trials(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[list[StoredTrial], list[TrialSource]]:
    """Done trials of results databases or specs, each once (the first source's when found
    in several); and per source, what it held.

    Raises:
        ValueError: a source that is neither a database nor a spec with results.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    trials: dict[str, StoredTrial] = {}
    info: list[TrialSource] = []
    for source in sources:
        path, sweep = resolve_source(source)
        with ResultStore(path, readonly=True) as store:
            rows = store.trials(sweep=sweep)
            info.append(TrialSource(
                db=str(path),
                sweep=sweep,
                sweeps=[s.name for s in store.sweeps()],
                counts=store.counts(sweep=sweep),
                failures=[(t.hash, (t.error or "").strip().splitlines()[-1:])
                          for t in rows if t.status == "failed"],
            ))  # fmt: skip
        for row in rows:
            if row.done:
                trials.setdefault(row.hash, row)
    return list(trials.values()), info
