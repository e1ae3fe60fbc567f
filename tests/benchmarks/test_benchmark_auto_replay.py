"""benchmarks/auto_replay.py: the noise-aware replay picks by calibration, and says which
rows use ground truth.

Calibration to a target picks the robust candidate whose own estimated rate of wrong labels
is closest to the target (CE is never picked: it memorises); a (row, seed) without every
candidate's fixed run is left out rather than replayed on part of the grid.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from robustloss.search.candidates import candidate_grid
from robustloss.sweeps.results import StoredTrial
from sweep_fakes import stored_trial

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def replay():
    sys.path.insert(0, str(BENCH))  # auto_replay imports auto_table beside it
    try:
        spec = importlib.util.spec_from_file_location("auto_replay", BENCH / "auto_replay.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))
        sys.modules.pop("auto_table", None)


def _trial(seed: int, f1: float, est: float, *, loss: str, auto=None,
           **params) -> StoredTrial:  # fmt: skip
    n = 1000
    config = {"dataset": "mnist", "noise_kind": "symmetric", "noise": 0.2, "seed": seed,
              "epochs": 10, "protocol": "in-sample", "loss": loss, "delay": 0,
              **params}  # fmt: skip
    summary = {"f1": f1, "n": n, "estimated_errors": round(est * n), "corrupted": 200}
    return stored_trial(config, **summary, auto=auto)


def _trials(seed: int, *, full_grid: bool = True) -> list[StoredTrial]:
    """The grid as fixed trials: the candidate estimating 0.20 (the true rate) has F1 0.95,
    the others estimate 0.10 + 0.01 i and have F1 0.80; CE estimates 0.20 exactly too (and
    must not be picked); plus two auto trials: by the in-sample default (criterion unset,
    recorded canary-f1-structured; F1 0.80, chose gce) and by holdout-gap (F1 0.85)."""
    out = []
    grid = candidate_grid(10)
    for i, c in enumerate(grid if full_grid else grid[:3]):
        params = {k: v for k, v in c.loss_params().items()}
        if c.loss == "ce":
            out.append(_trial(seed, 0.30, 0.20, loss="ce"))
        elif c.name == "gce q=0.7":
            out.append(_trial(seed, 0.95, 0.20, loss=c.loss, delay=c.delay, **params))
        else:
            out.append(_trial(seed, 0.80, 0.10 + 0.001 * i, loss=c.loss, delay=c.delay, **params))
    gap = {"criterion": "holdout-gap", "settings": {"loss": "blurry", "gamma": 0.6, "delay": 0,
           "epochs": 10}, "ratio_measured": 2.5}  # fmt: skip
    out.append(_trial(seed, 0.85, 0.15, loss="auto", auto=gap, auto_criterion="holdout-gap"))
    candidates = [{"candidate": "gce q=0.7", "status": "chosen", "holdout_gap": 0.5,
                   "holdout_acc": 0.7}]  # fmt: skip
    default = {"criterion": "canary-f1-structured", "candidates": candidates,
               "settings": {"loss": "gce", "q": 0.7, "delay": 0, "epochs": 10},
               "ratio_measured": 2.5}  # fmt: skip
    out.append(_trial(seed, 0.80, 0.15, loss="auto", auto=default))
    return out


def _row(lines: list[str], rule: str) -> list[str]:
    [line] = [x for x in lines if x.startswith(f"| {rule} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_calibration_to_the_true_rate_picks_the_matching_robust_candidate(replay):
    lines = replay.replay(_trials(0) + _trials(1))
    assert lines[0].startswith("trials: 2 (row, seed) pairs, 1 rows")
    oracle = _row(lines, "oracle of the grid (GROUND TRUTH)")
    assert oracle[1] == "0.9500"
    calibrated = _row(lines, "calibrated to: true rate (GROUND TRUTH)")
    assert calibrated[1] == "0.9500" and calibrated[2] == "+0.0000"  # gce, not CE
    assert _row(lines, "auto as run")[1] == "0.8000"  # the default criterion's
    # the label-free targets sit below 0.20: they pick a 0.80 candidate
    assert _row(lines, "calibrated to: median of the candidates' estimates")[1] == "0.8000"


def test_rows_without_the_whole_grid_are_not_replayed(replay):
    lines = replay.replay(_trials(0, full_grid=False), "db")
    assert lines == ["db: no (row, seed) with every candidate's fixed run and an auto run"]


def test_out_of_sample_lists_estimated_against_true_rate(replay):
    lines = replay.out_of_sample([_trial(0, 0.9, 0.25, loss="ce")], "cv")
    assert "| mnist symmetric 0.2 | ce | 1 | 0.250 | 0.200 |" in lines


def test_canary_is_compared_with_the_gap_and_its_finalists_replayed(replay):
    candidates = [  # two finalists: gce (fixed F1 0.95) chosen, blurry 0.6 (0.80) kept
        {"candidate": "gce q=0.7", "status": "chosen", "holdout_gap": 0.5, "holdout_acc": 0.7},
        {"candidate": "blurry gamma=0.6", "status": "kept", "holdout_gap": 0.6,
         "holdout_acc": 0.6},
        {"candidate": "ce", "status": "pruned", "holdout_gap": 0.9, "holdout_acc": 0.9},
    ]  # fmt: skip
    record = {"criterion": "canary-f1", "settings": {"loss": "gce", "q": 0.7, "delay": 0,
              "epochs": 10}, "ratio_measured": 2.5, "candidates": candidates}  # fmt: skip
    trial = _trial(0, 0.90, 0.2, loss="auto", auto=record, auto_criterion="canary-f1")
    lines = replay.canary([*_trials(0), trial])
    assert "| symmetric | 1 | +0.0500 | 1 | 0 |" in lines  # 0.90 against the gap's 0.85
    assert "- canary-f1 (its choice): 0.9500" in lines
    assert "- holdout-gap: 0.8000" in lines  # the pruned CE is no finalist
    assert "- best finalist (GROUND TRUTH): 0.9500" in lines
    assert replay.canary(_trials(0)) == []  # no canary runs: no section


def test_each_canary_criterion_has_its_own_section(replay):
    """The default's trials (criterion unset) are found by the criterion they recorded."""
    lines = replay.canary(_trials(0), "canary-f1-structured")
    assert "canary-f1-structured − holdout-gap, paired, by noise kind:" in lines
    assert "| symmetric | 1 | -0.0500 | 0 | 1 |" in lines  # 0.80 against the gap's 0.85
    assert "- canary-f1-structured (its choice): 0.9500" in lines
    assert replay.canary(_trials(0)) == []  # not a canary-f1 run
