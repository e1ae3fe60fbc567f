"""The candidate settings of a ``--loss auto`` search (robustloss.search.candidates): the
full grid, the one-parameter grids, and the delays."""

from __future__ import annotations

import pytest

from robustloss.search.candidates import DEFAULT_CANDIDATE, candidate_grid, rung_epochs

# ----- the grid ----------------------------------------------------------------------------


def test_full_grid_at_ten_epochs():
    names = [c.name for c in candidate_grid(10)]
    assert names == [
        "ce",
        "blurry gamma=0.2",
        "blurry gamma=0.3",
        "blurry gamma=0.4",
        "blurry gamma=0.6",
        "gce q=0.7",
        "pz cutoff=0.05 d=2",
        "pz cutoff=0.05 d=4",
        "pz cutoff=0.1 d=2",
        "pz cutoff=0.1 d=4",
    ]
    assert DEFAULT_CANDIDATE in candidate_grid(10)


def test_one_parameter_grids_keep_the_fixed_ones():
    blurry = candidate_grid(10, loss="blurry", fixed={"detach_weight": False})
    assert [c.loss_params() for c in blurry] == [
        {"detach_weight": False, "gamma": g} for g in (0.2, 0.3, 0.4, 0.6)
    ]
    pz = candidate_grid(10, loss="pz")
    assert {(c.loss_params()["cutoff"], c.delay) for c in pz} == {
        (c, d) for c in (0.05, 0.1, 0.2) for d in (2, 4)
    }
    with pytest.raises(ValueError, match="parameter can be chosen"):
        candidate_grid(10, loss="mae")


def test_delays_leave_a_rung_one_epoch_with_the_loss_in_use():
    for epochs in range(1, 21):
        r = rung_epochs(epochs)
        for c in candidate_grid(epochs):
            assert c.delay < r or c.delay == 0
