"""The search's plan and budget (robustloss.search.plan): what it trains, on how many of the
examples, at what cost against one fixed-setting run, and the held-out split it needs."""

from __future__ import annotations

import numpy as np
import pytest

from robustloss.search.plan import _split, fixed_run_cost, plan_search

# ----- the plan and its budget -------------------------------------------------------------


def test_a_five_fold_run_fits_the_budget_whole():
    labels = np.arange(60_000) % 10
    plan = plan_search(labels, epochs=10, protocol="cv", folds=5)
    assert plan.n_search == plan.n_train == 54_000 and plan.n_held == 6_000
    assert plan.ratio <= 2.5
    # Rung 1: ce 5 + 4 blurry x 5 + gce 5 + pz: 2 x (5-2) + 2 x (5-4); rung 2: 4 x 5.
    assert plan.keep == 4 and plan.train_epochs == 5 + 20 + 5 + 6 + 2 + 20


def test_an_in_sample_run_searches_on_a_part_sized_to_the_budget():
    labels = np.arange(60_000) % 10
    plan = plan_search(labels, epochs=10, protocol="in-sample")
    assert plan.n_search < plan.n_train
    assert plan.ratio == pytest.approx(2.5, abs=0.01)
    assert any("stratified" in line for line in plan.lines())


def test_fixed_run_cost_per_protocol():
    assert fixed_run_cost("in-sample", 1000, 10, 5) == 10_000
    assert fixed_run_cost("cv", 1000, 10, 5) == 40_000
    assert fixed_run_cost("paper-cv", 1000, 10, 5) == 40_000  # K models, one carried



# ----- the held-out split ------------------------------------------------------------------


def test_a_data_set_too_small_to_hold_out_is_a_clear_error():
    with pytest.raises(ValueError, match=r"holds out \d+ of .*give the loss"):
        plan_search(np.arange(60) % 3, epochs=4, protocol="cv")


def test_a_class_with_one_example_stays_in_training():
    labels = np.concatenate([np.arange(390) % 3, [3]])  # class 3: one example
    plan = plan_search(labels, epochs=4, protocol="cv", num_classes=4)
    assert plan.n_held == 39 and plan.n_train == 352  # 13 of each class of 130; not class 3
    train_idx, held_idx = _split(labels, 0.1, 0)
    assert 390 in train_idx and 390 not in held_idx
