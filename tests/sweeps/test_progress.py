"""A sweep's progress: trials done / total and the time left from its measured trials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import robustloss.cli as cli
from robustloss.run.config import RunConfig
from robustloss.sweeps.progress import sweep_progress
from sweep_fakes import stored_trial


def _config(**kw) -> dict:
    base = {"dataset": "mnist", "noise": 0.2, "loss": "ce", "epochs": 10, "protocol": "cv",
            "folds": 5, "seed": 0}  # fmt: skip
    return RunConfig.from_dict({**base, **kw}).to_dict()


def test_the_time_left_is_the_measured_rate_times_the_epochs_not_done():
    trials = [
        stored_trial(_config(seed=0), seconds=500.0),  # 50 fold-epochs: 10 s each
        stored_trial(_config(seed=1), seconds=700.0),  # 50 more: 12 s each on average
        stored_trial(_config(seed=2), status="running"),
        stored_trial(_config(seed=3, protocol="in-sample"), status="pending"),  # 10
        stored_trial(_config(seed=4), status="failed"),
    ]
    p = sweep_progress(trials)
    assert (p.total, p.done, p.failed) == (5, 2, 1)
    assert (p.epochs_done, p.epochs_left) == (100, 50 + 10 + 50)
    assert p.seconds_per_epoch == pytest.approx(12.0)
    assert p.seconds_left == pytest.approx(12.0 * 110)
    line = p.line()
    assert line.startswith("2/5 trials done (1 failed); about 22 min of trial time left")
    assert "110 fold-epochs at the measured 12.0 s each" in line


def test_a_search_is_timed_by_the_fixed_trials_and_counted_at_its_budget():
    trials = [
        stored_trial(_config(seed=0), seconds=600.0),
        stored_trial(_config(seed=0, loss="auto"), seconds=3000.0),  # its budget is no rate
        stored_trial(_config(seed=1, loss="auto"), status="pending"),  # 2.5 x 50 = 125
    ]
    p = sweep_progress(trials)
    assert (p.epochs_done, p.epochs_left) == (50, 125)
    assert p.seconds_per_epoch == pytest.approx(12.0)


def test_a_trial_whose_config_no_longer_validates_is_counted_not_timed():
    retired = {**_config(seed=9), "protocol": "embed-cv"}  # retired: RunConfig refuses it
    trials = [stored_trial(_config(seed=0), seconds=500.0),
              stored_trial(retired, seconds=99.0),
              stored_trial(_config(seed=1), status="pending")]  # fmt: skip
    p = sweep_progress(trials)
    assert (p.total, p.done, p.unplanned) == (3, 2, 1)
    assert (p.epochs_done, p.epochs_left, p.seconds_done) == (50, 50, 500.0)
    assert p.line().startswith(
        "2/3 trials done (1 whose config no longer validates, not timed); about 8 min"
    )


def test_before_any_trial_is_done_and_after_all_are():
    pending = [stored_trial(_config(seed=s), status="pending") for s in range(3)]
    p = sweep_progress(pending)
    assert p.seconds_left is None
    assert p.line() == "0/3 trials done; 150 fold-epochs left, no trial done yet to time them"
    finished = [stored_trial(_config(seed=s), seconds=1.0) for s in range(2)]
    assert sweep_progress(finished).line() == "2/2 trials done, nothing left to run"
    assert sweep_progress(finished).seconds_left == 0.0
    assert sweep_progress([]).line() == "0/0 trials done, nothing left to run"


def test_results_and_the_sweep_print_it(tmp_path, capsys):
    """``robustloss results`` ends with the progress line (here of the committed version-1
    database: 6 of 8 trials done, one failed, one pending)."""
    fixture = Path(__file__).resolve().parents[1] / "data_fixtures" / "results-v1-a49b2ee.sqlite"
    db = tmp_path / "v1.db"
    shutil.copy(fixture, db)
    assert cli.main(["results", str(db)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("6/8 trials done (1 failed); about "), last
    assert "s of trial time left" in last or "min of trial time left" in last
