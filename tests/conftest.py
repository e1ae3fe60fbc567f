"""Shared test settings: small, deterministic, and kind to a 2-core machine."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# One thread per test process: tests use tiny tensors, and several pytest processes (or a
# benchmark in the background) must not thrash two cores.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

# Timing on shared CI machines is noisy: hypothesis must not fail a test for being slow.
settings.register_profile(
    "robustloss", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile("robustloss")


@pytest.fixture(autouse=True)
def _isolated_data_root(tmp_path_factory, monkeypatch):
    """Tests never touch the user's data cache unless they ask for the real data."""
    if "ROBUSTLOSS_TEST_KEEP_DATA_ROOT" not in os.environ:
        monkeypatch.setenv("ROBUSTLOSS_DATA", str(tmp_path_factory.mktemp("data-root")))


# The user's real data root, captured before the autouse fixture above points
# $ROBUSTLOSS_DATA at a temporary folder for each test.
_REAL_DATA_ENV = os.environ.get("ROBUSTLOSS_DATA", "")


@pytest.fixture
def real_data_root():
    """The real data root ($ROBUSTLOSS_DATA as it was at start-up, else the user cache), for
    tests marked ``realdata``; use it with ``download=False`` only."""
    from pathlib import Path

    from robustloss.data import default_data_root

    return Path(_REAL_DATA_ENV).expanduser() if _REAL_DATA_ENV else default_data_root()
