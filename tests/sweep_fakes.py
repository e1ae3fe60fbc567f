"""Cheap stand-ins for a trial, importable by Dask workers (tests/ is on their sys.path).

``fake_trial`` returns a summary computed from the config alone (no data, no training), so
tests can check what the sweep wrote; ``ROBUSTLOSS_FAKE_SLEEP`` seconds of sleep make a
trial last long enough to be killed mid-sweep; a config with ``seed == 13`` fails.
``run_summary`` and ``stored_trial`` build the records a results database reads back
(a :class:`RunSummary`, a :class:`StoredTrial`) with every field a test does not care about
filled in.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from robustloss.run.records import RunSummary
from robustloss.sweeps.results import StoredTrial

#: What a fake summary holds besides its scores (the fields every RunSummary has).
_FILLER: dict[str, Any] = {
    "command": "run", "n": 1000, "num_classes": 10,
    "class_names": [str(k) for k in range(10)], "estimated_errors": 0,
    "estimated_errors_per_class": {}, "protocol_note": "fake", "config_hash": "",
    "loss_params_effective": {}, "top_suspects": [],
}  # fmt: skip


def run_summary(config: dict[str, Any] | None = None, **fields: Any) -> RunSummary:
    """A :class:`RunSummary` of ``config`` (a dict), every field not in ``fields`` filled
    in (no history; ``flagged`` 0)."""
    config = dict(config or {})
    base = {**_FILLER, "flagged": 0, "protocol": config.get("protocol", "in-sample"),
            "config": config, "history": []}  # fmt: skip
    return RunSummary(**{**base, **fields})


def stored_trial(
    config: dict[str, Any],
    *,
    status: str = "done",
    hash: str | None = None,
    seconds: float | None = None,
    **summary: Any,
) -> StoredTrial:
    """A trial as the results database returns it: ``config``, and when done the
    :func:`run_summary` of ``summary``'s fields (e.g. ``f1=0.9``); the hash, unless given,
    one of the config's text."""
    key = hash or hashlib.sha256(repr(sorted(config.items())).encode()).hexdigest()
    return StoredTrial(hash=key, sweep="fake", config=dict(config), status=status,
                       summary=run_summary(config, **summary) if status == "done" else None,
                       seconds=seconds)  # fmt: skip


def fake_summary(config: Any) -> dict[str, Any]:
    """A deterministic summary of ``config`` (a RunConfig, or its dict as the database
    holds it), in :meth:`RunSummary.to_dict`'s shape: F1 and counts that depend on its
    settings, every other field filled in."""
    if not isinstance(config, dict):
        config = config.to_dict()
    gamma = config.get("gamma") or 0.0
    cutoff = config.get("cutoff") or 0.0
    f1 = 0.5 + 0.1 * gamma + 0.2 * cutoff + 0.01 * config["seed"] - 0.001 * config["delay"]
    f1 = round(f1, 6)
    corrupted = int(1000 * config["noise"])
    correct = int(corrupted * f1)
    return {
        **_FILLER,
        "protocol": config.get("protocol"),
        "config": {},  # not the config: a worker fills its threads in
        "precision": f1,
        "recall": f1,
        "f1": f1,
        "flagged": correct + 7,
        "correct": correct,
        "corrupted": corrupted,
        "test_acc": 0.9,
        "history": [
            {"fold": None, "epoch": e, "train_loss": 1.0 / (e + 1), "loss_in_use": "ce"}
            for e in range(config["epochs"])
        ],
    }


def fake_trial(config: Any, **kwargs: Any) -> dict[str, Any]:
    """What a trial_fn gets on a worker: the trial's RunConfig."""
    if config.seed == 13:
        raise RuntimeError("seed 13 is unlucky")
    time.sleep(float(os.environ.get("ROBUSTLOSS_FAKE_SLEEP", "0")))
    return fake_summary(config)
