"""Cheap stand-ins for a trial, importable by Dask workers (tests/ is on their sys.path).

``fake_trial`` returns a summary computed from the config alone (no data, no training), so
tests can check what the sweep wrote; ``ROBUSTLOSS_FAKE_SLEEP`` seconds of sleep make a
trial last long enough to be killed mid-sweep; a config with ``seed == 13`` fails.
"""

from __future__ import annotations

import os
import time
from typing import Any


def fake_summary(config: Any) -> dict[str, Any]:
    """A deterministic summary of ``config`` (a RunConfig, or its dict as the database
    holds it): F1 and counts that depend on its settings."""
    if not isinstance(config, dict):
        config = config.to_dict()
    gamma = config.get("gamma") or 0.0
    cutoff = config.get("cutoff") or 0.0
    f1 = 0.5 + 0.1 * gamma + 0.2 * cutoff + 0.01 * config["seed"] - 0.001 * config["delay"]
    f1 = round(f1, 6)
    corrupted = int(1000 * config["noise"])
    correct = int(corrupted * f1)
    return {
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
