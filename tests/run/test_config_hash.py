"""The config hash of the committed evidence: every trial of benchmarks/results/{auto,
auto-cv, auto-full}.db is found again by hashing its stored config today.

The sweeps key finished trials by :func:`config_hash`; a RunConfig change that moved a hash
(a field renamed, reordered into a nested record, a default changed) would make every
committed trial "not done" and re-run it. The databases are opened read-only and immutable
(no -wal/-shm written; the committed file as it is)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from robustloss.run.config import RunConfig, config_hash

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
DATABASES = ("auto.db", "auto-cv.db", "auto-full.db")

#: Trials written while RunConfig's ``auto_criterion`` defaulted to "holdout-acc" (commits
#: f9a60f0 to 3f3baef): their stored config names that default on a loss that searches
#: nothing, and the hash left the field out, as it leaves out every such field at its
#: default. The default is None since 2caffdd, so these configs hash under today's default
#: for the field; the bundled spec (which sets no criterion on them) finds them by that hash.
#: Counted, so that another kind of mismatch cannot hide among them.
LEGACY_CRITERION = "holdout-acc"
LEGACY_COUNTS = {"auto.db": 57, "auto-cv.db": 0, "auto-full.db": 0}


def _trials(name: str) -> list[tuple[str, dict]]:
    uri = f"file:{RESULTS / name}?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        rows = conn.execute("SELECT hash, config FROM trials ORDER BY hash").fetchall()
    finally:
        conn.close()
    return [(stored, json.loads(config)) for stored, config in rows]


def _legacy(config: dict) -> bool:
    return (
        config.get("auto_criterion") == LEGACY_CRITERION
        and not RunConfig.from_dict(config).chooses_settings
    )


@pytest.mark.parametrize("name", DATABASES)
def test_every_committed_trial_hashes_to_its_stored_hash(name):
    trials = _trials(name)
    assert len(trials) >= 30, f"{name}: {len(trials)} trials; the evidence should be there"
    wrong, legacy = [], 0
    for stored, config in trials:
        if _legacy(config):
            legacy += 1
            config = {**config, "auto_criterion": None}
        if config_hash(config) != stored:
            wrong.append(stored)
    assert not wrong, f"{name}: {len(wrong)} of {len(trials)} trials hash differently: {wrong[:3]}"
    assert legacy == LEGACY_COUNTS[name]


@pytest.mark.parametrize("name", DATABASES)
def test_stored_configs_are_flat_run_configs(name):
    """config.json / the database keep one flat dict of RunConfig's fields (no nesting)."""
    fields = set(RunConfig().to_dict())
    for _, config in _trials(name):
        assert set(config) == fields
        assert not any(isinstance(v, dict) for v in config.values())
