"""The criteria of a ``--loss auto`` search (robustloss.search.criteria): the default per
protocol, the holdout gap, and the stop epoch every criterion scores a candidate at."""

from __future__ import annotations

import numpy as np
import pytest

from robustloss.search.candidates import candidate_grid
from robustloss.search.criteria import _gap_scores, default_criterion, standard_error, stop_epoch
from robustloss.search.plan import plan_search
from robustloss.search.results import CandidateResult
from robustloss.search.search import _decide, select_settings
from search_fakes import noisy_toy, tiny_train_config

# ----- the default criterion ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("in-sample", "canary-f1-structured"), ("paper-cv", "canary-f1-structured"),
     ("cv", "holdout-acc")],
)  # fmt: skip
def test_the_default_criterion_follows_where_the_probabilities_come_from(protocol, expected):
    assert default_criterion(protocol) == expected
    labels = np.arange(3000) % 10
    assert plan_search(labels, epochs=10, protocol=protocol).criterion == expected
    assert plan_search(labels, epochs=10, protocol=protocol, criterion="cl-cleaned").criterion == (
        "cl-cleaned"
    )
    with pytest.raises(ValueError, match="or None for the protocol's default"):
        plan_search(labels, epochs=10, protocol=protocol, criterion="oracle")



# ----- criterion holdout-gap ---------------------------------------------------------------


def test_holdout_gap_penalises_fitting_the_training_labels_past_the_held_out_ones():
    assert _gap_scores([0.8, 0.8, 0.8], [0.7, 0.9, 1.0]) == pytest.approx(
        (0.8, 0.7, 0.6)
    )
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(), criterion="holdout-gap", quiet=True
    )
    chosen = next(r for r in sel.results if r.status == "chosen")
    assert sel.settings()["epochs"] == chosen.stop_epoch
    assert len(chosen.train_curve) == len(chosen.curve) == 4
    gaps = _gap_scores(chosen.curve, chosen.train_curve)
    assert chosen.holdout_gap == gaps[chosen.stop_epoch - 1]  # scored where it would stop
    row = next(r for r in sel.table() if r["status"] == "chosen")
    assert row["train_acc_by_epoch"].count(";") == 3 and row["stop_epoch"] == chosen.stop_epoch



# ----- the stop epoch ----------------------------------------------------------------------


def test_standard_error_is_the_binomial_one():
    assert standard_error(0.8, 100) == pytest.approx(0.04)
    assert standard_error(1.0, 50) == 0.0
    assert standard_error(0.5, 0) == 0.0


@pytest.mark.parametrize(
    ("curve", "first", "n_held", "expected"),
    [
        ((0.70, 0.80, 0.79, 0.78), 0, 100, 4),  # SE 0.04: the last three are the peak's
        ((0.70, 0.80, 0.79, 0.70), 0, 100, 3),  # the last fell more than one SE
        ((0.70, 0.80, 0.79, 0.78), 0, 100_000, 2),  # a large split tells them apart
        ((0.90, 0.50, 0.60, 0.62), 1, 100, 4),  # the warm-up's epoch does not count
        ((0.5,), 0, 10, 1),
    ],
)
def test_the_stop_epoch_is_the_latest_within_one_standard_error_of_the_peak(
    curve, first, n_held, expected
):
    assert stop_epoch(curve, first=first, n_held=n_held) == expected


def test_the_stop_epoch_refuses_an_empty_curve():
    with pytest.raises(ValueError, match="non-empty curve"):
        stop_epoch((), n_held=10)
    with pytest.raises(ValueError, match="first=3"):
        stop_epoch((0.5, 0.6), first=3, n_held=10)


def _finalist(name: str, curve, train_curve, n_held: int) -> CandidateResult:
    c = next(c for c in candidate_grid(4) if c.name == name)
    stop = stop_epoch(curve, n_held=n_held)
    gaps = _gap_scores(curve, train_curve)
    return CandidateResult(
        c, "kept", len(curve), tuple(curve), curve[stop - 1], int(np.argmax(curve)) + 1, None,
        train_curve=tuple(train_curve), holdout_gap=gaps[stop - 1], stop_epoch=stop,
    )  # fmt: skip


def test_a_fast_learner_is_scored_where_its_final_run_would_stop_not_at_its_early_peak():
    """The failure the stop epoch fixes: cross entropy peaks early on the gap (before it
    memorises) and its held-out accuracy stays within one SE to the end, so its final run
    would train on and memorise: scored there, it loses to a robust loss that fits slower."""
    n_held = 300  # SE about 0.023
    ce = _finalist("ce", (0.76, 0.79, 0.80, 0.80), (0.76, 0.80, 0.88, 0.95), n_held)
    robust = _finalist(
        "blurry gamma=0.6", (0.70, 0.75, 0.78, 0.79), (0.70, 0.76, 0.80, 0.82), n_held
    )
    early_peak = max(_gap_scores(ce.curve, ce.train_curve))
    assert early_peak > max(_gap_scores(robust.curve, robust.train_curve))
    assert ce.stop_epoch == 4 and ce.holdout_gap == pytest.approx(0.65)
    plan = plan_search(np.arange(3000) % 3, epochs=4, protocol="in-sample", criterion="holdout-gap")
    sel = _decide(plan, [ce, robust], 0.0, 0.0)
    assert sel.chosen.name == "blurry gamma=0.6" and sel.settings()["epochs"] == 4
    assert "at its stop epoch" in sel.why and "runner-up ce" in sel.why
