"""benchmarks/time_to_detect.py end to end on a tiny subset: rows, fields, resume, refusal.

The race is the README's speed claim, so its script must keep running: these tests run it as
a user does (a subprocess), on 300 real MNIST images and one epoch, and check what it writes,
not how fast anything is (no timing is asserted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustloss.data import DataError, load_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "time_to_detect.py"
ARGS = ["--dataset", "mnist", "--subset", "300", "--seeds", "0", "--epochs", "1",
        "--threads", "1"]

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture
def race(real_data_root):
    try:
        load_dataset("mnist", "train", root=real_data_root, download=False)
    except DataError as exc:
        pytest.skip(f"MNIST is not cached in {real_data_root} ({exc}); `make offline-data`")
    env = {**os.environ, "ROBUSTLOSS_DATA": str(real_data_root)}

    def run(*extra: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), *ARGS, *extra], env=env,
                              capture_output=True, text=True, check=check, timeout=600)

    return run


def test_every_path_is_timed_scored_and_recorded(race, tmp_path):
    out = tmp_path / "race.json"
    proc = race("--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert sorted(r["path"] for r in rows) == ["i", "ii", "ii10", "iii"]
    for r in rows:
        assert r["n"] == 300 and r["seed"] == 0 and r["dataset"] == "mnist"
        assert r["seconds"] > 0 and 0.0 <= r["f1"] <= 1.0 and r["flagged"] >= 0
        assert r["cpu_capability"] and r["precision_used"] in ("fp32", "bf16")
    by_path = {r["path"]: r for r in rows}
    assert by_path["i"]["precision_used"] == "fp32"  # the plain loop, as users write it
    assert len(by_path["iii"]["epochs"]) == 5  # five folds
    # (ii) records early stopping's label-free signal: one held-out accuracy per epoch run
    (curve,) = by_path["ii"]["holdout_acc"]
    assert len(curve) >= 1 and all(0.0 <= a <= 1.0 for a in curve)
    assert by_path["ii10"]["holdout_acc"] == [[None]]  # no early stopping, no held-out split
    assert "ratio to (i)" in proc.stdout  # the printed table


def test_a_rerun_resumes_and_another_setting_is_refused(race, tmp_path):
    out = tmp_path / "race.json"
    race("--json", str(out), "--paths", "i,ii")
    first = json.loads(out.read_text())["rows"]
    proc = race("--json", str(out), "--paths", "i,ii,ii10")  # only ii10 is new
    rows = json.loads(out.read_text())["rows"]
    assert [r["path"] for r in rows] == [r["path"] for r in first] + ["ii10"]
    assert rows[: len(first)] == first  # the measured rows are kept as they were
    assert "seed 0 ii10" in proc.stdout and "seed 0 i " not in proc.stdout
    refused = race("--json", str(out), "--epochs", "2", check=False)
    assert refused.returncode != 0
    assert "epochs" in (refused.stderr + refused.stdout)
