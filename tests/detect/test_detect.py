"""robustloss.detect: cleanlab wrapper, validation, scoring, per-class error estimates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_fscore_support

from robustloss.detect import (
    METHODS,
    RANK_BY,
    estimate_errors_per_class,
    estimate_joint,
    find_label_errors,
    rank_scores,
    score_detections,
    validate_inputs,
)


def _flipped_problem(n=300, k=3, n_flip=30, seed=0, confident=0.8):
    """Known answer: true classes balanced; `n_flip` labels changed to another class, and the
    model puts `confident` on the TRUE class (the rest spread evenly, plus a little jitter)."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % k
    labels = true.copy()
    flip = np.sort(rng.choice(n, size=n_flip, replace=False))
    labels[flip] = (true[flip] + rng.integers(1, k, size=n_flip)) % k
    probs = np.full((n, k), (1.0 - confident) / (k - 1))
    probs[np.arange(n), true] = confident
    probs += rng.uniform(0, 0.01, size=probs.shape)
    probs /= probs.sum(axis=1, keepdims=True)
    return labels, probs, flip


# ----- find_label_errors ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_exactly_the_flipped_labels(method):
    labels, probs, flip = _flipped_problem()
    found = find_label_errors(labels, probs, method=method)
    assert found.dtype == np.int64
    np.testing.assert_array_equal(np.sort(found), flip)


def test_ranking_is_by_self_confidence_ascending():
    labels, probs, _ = _flipped_problem(seed=3)
    found = find_label_errors(labels, probs, method="both", rank_by="self_confidence")
    sc = probs[found, labels[found]]
    assert np.all(np.diff(sc) >= 0)
    np.testing.assert_allclose(rank_scores(labels, probs)[found], sc)


def test_self_confidence_and_normalized_margin_rank_differently():
    # A: p[label]=0.3, runner-up 0.7 -> sc 0.3, margin (0.3-0.7+1)/2 = 0.3
    # B: p[label]=0.2, runner-up 0.4 -> sc 0.2, margin (0.2-0.4+1)/2 = 0.4
    labels = np.array([0, 0, 1, 1, 0, 0])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.9, 0.05, 0.05],
            [0.05, 0.9, 0.05],
            [0.05, 0.9, 0.05],
            [0.3, 0.7, 0.0],  # A, index 4
            [0.2, 0.4, 0.4],  # B, index 5
        ]
    )
    by_sc = find_label_errors(
        labels, probs, method="predicted_neq_given", rank_by="self_confidence"
    )
    by_nm = find_label_errors(
        labels, probs, method="predicted_neq_given", rank_by="normalized_margin"
    )
    assert by_sc.tolist() == [5, 4]
    assert by_nm.tolist() == [4, 5]
    np.testing.assert_allclose(
        rank_scores(labels, probs, rank_by="normalized_margin")[[4, 5]], [0.3, 0.4]
    )


def test_equal_scores_are_ranked_by_index():
    labels = np.array([0] * 5 + [1] * 5 + [1, 1, 1])
    probs = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5 + [[0.8, 0.2]] * 3)
    found = find_label_errors(labels, probs, method="predicted_neq_given")
    assert found.tolist() == [10, 11, 12]


def test_frac_noise_keeps_fewer():
    labels, probs, _ = _flipped_problem(n=600, n_flip=60, seed=1)
    full = find_label_errors(labels, probs, method="both")
    half = find_label_errors(labels, probs, method="both", frac_noise=0.5)
    assert len(full) == 60
    assert 20 <= len(half) <= 40
    assert set(half.tolist()) <= set(full.tolist())


def test_min_examples_per_class_stops_pruning():
    labels, probs, _ = _flipped_problem()
    with pytest.warns(UserWarning, match="too few examples"):
        found = find_label_errors(labels, probs, min_examples_per_class=10_000)
    assert len(found) == 0


def test_clean_data_flags_nothing():
    labels, probs, _ = _flipped_problem(n_flip=0)
    for method in METHODS:
        assert find_label_errors(labels, probs, method=method).size == 0


def test_float32_probabilities_are_accepted():
    labels, probs, flip = _flipped_problem()
    found = find_label_errors(labels, probs.astype(np.float32))
    np.testing.assert_array_equal(np.sort(found), flip)


# ----- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "probs", "match"),
    [
        (np.array([[0, 1]]), np.eye(2), r"1-D"),
        (np.array([0.0, 1.0]), np.eye(2), r"integer class indices.*float64"),
        (np.array([True, False]), np.eye(2), r"integer class indices.*bool"),
        (np.array([0, 1]), np.array([0.5, 0.5]), r"2-D array of shape \(N, K\)"),
        (np.array([0, 1, 1]), np.eye(2), r"one row per label \(3\), but got 2 rows"),
        (np.array([0, 2]), np.eye(2), r"at least 3 columns.*largest label 2.*has 2"),
        (np.array([0, -1]), np.eye(2), r"in \[0, 2\), but got a label -1"),
        (np.array([0, 1]), np.array([[np.nan, 1.0], [0.0, 1.0]]), r"finite.*1 non-finite"),
        (np.array([0, 1]), np.array([[1.2, -0.2], [0.0, 1.0]]), r"non-negative.*-0.2"),
        (np.array([0, 1]), np.array([[0.5, 0.6], [0.0, 1.0]]), r"row 0 sums to 1.1"),
        (np.array([0, 0]), np.ones((2, 1)), r"at least 2 columns"),
        (np.array([], dtype=np.int64), np.zeros((0, 2)), r"at least one example"),
    ],
)
def test_validation_errors_name_the_problem(labels, probs, match):
    with pytest.raises(ValueError, match=match):
        find_label_errors(labels, probs)
    with pytest.raises(ValueError, match=match):
        rank_scores(labels, probs)


def test_rows_within_tolerance_pass_and_outside_fail():
    labels = np.array([0, 1])
    ok = np.array([[0.5 + 5e-5, 0.5], [0.0, 1.0]])
    bad = np.array([[0.5 + 5e-4, 0.5], [0.0, 1.0]])
    validate_inputs(labels, ok)
    with pytest.raises(ValueError, match=r"within 0\.0001"):
        validate_inputs(labels, bad)


def test_one_class_is_an_error_for_detection():
    with pytest.raises(ValueError, match="at least 2 distinct classes, but got 1"):
        find_label_errors(np.array([1, 1, 1]), np.tile([0.2, 0.8], (3, 1)))
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        estimate_errors_per_class(np.array([1, 1, 1]), np.tile([0.2, 0.8], (3, 1)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "prune"}, r"`method` to be one of .*'prune'"),
        ({"rank_by": "entropy"}, r"`rank_by` to be one of .*'entropy'"),
        ({"frac_noise": 0.0}, r"`frac_noise` to be a float in \(0, 1\], but got 0.0"),
        ({"frac_noise": 1.5}, r"but got 1.5"),
        ({"frac_noise": 0.5, "method": "confident_learning"}, r"applies only to methods"),
        ({"min_examples_per_class": -1}, r"`min_examples_per_class`.*-1"),
        ({"n_jobs": 0}, r"`n_jobs`.*0"),
    ],
)
def test_option_errors(kwargs, match):
    labels, probs, _ = _flipped_problem(n=30, n_flip=3)
    with pytest.raises(ValueError, match=match):
        find_label_errors(labels, probs, **kwargs)


def test_rank_scores_rejects_unknown_rank_by():
    with pytest.raises(ValueError, match="rank_by"):
        rank_scores(np.array([0, 1]), np.eye(2), rank_by="bogus")


# ----- score_detections ----------------------------------------------------------------


def test_score_detections_counts():
    corrupted = np.zeros(10, dtype=bool)
    corrupted[[1, 2, 3, 4]] = True
    s = score_detections(np.array([4, 3, 9]), corrupted)
    assert (s["flagged"], s["correct"], s["corrupted"]) == (3, 2, 4)
    np.testing.assert_allclose([s["precision"], s["recall"], s["f1"]], [2 / 3, 0.5, 4 / 7])


def test_score_detections_mask_and_indices_agree():
    corrupted = np.array([0, 1, 1, 0, 1, 0], dtype=bool)
    flagged_mask = np.array([1, 1, 0, 0, 1, 1], dtype=bool)
    a = score_detections(flagged_mask, corrupted)
    b = score_detections(np.flatnonzero(flagged_mask), np.flatnonzero(corrupted))
    c = score_detections(np.flatnonzero(flagged_mask)[::-1], corrupted)
    assert a == b == c


@pytest.mark.parametrize(
    ("flagged", "corrupted", "expected"),
    [
        # nothing flagged, corruptions exist: P = 0/0 -> 0, R = 0, F1 = 0
        ([], [1, 2], (0.0, 0.0, 0.0)),
        # flagged, nothing corrupted: P = 0, R = 0/0 -> 0, F1 = 0
        ([1], [], (0.0, 0.0, 0.0)),
        # nothing at all: everything 0/0 -> 0 (sklearn zero_division=0)
        ([], [], (0.0, 0.0, 0.0)),
        # perfect
        ([2, 1], [1, 2], (1.0, 1.0, 1.0)),
    ],
)
def test_score_detections_zero_division(flagged, corrupted, expected):
    s = score_detections(np.array(flagged, dtype=np.int64), np.array(corrupted, dtype=np.int64))
    assert (s["precision"], s["recall"], s["f1"]) == expected
    assert s["flagged"] == len(flagged) and s["corrupted"] == len(corrupted)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_score_detections_equals_sklearn(pairs):
    flagged = np.array([p[0] for p in pairs])
    corrupted = np.array([p[1] for p in pairs])
    s = score_detections(flagged, corrupted)
    p, r, f, _ = precision_recall_fscore_support(
        corrupted, flagged, average="binary", zero_division=0, pos_label=True, labels=[True]
    )
    np.testing.assert_allclose([s["precision"], s["recall"], s["f1"]], [p, r, f], atol=1e-12)


@pytest.mark.parametrize(
    ("flagged", "corrupted", "match"),
    [
        (np.array([1, 1]), np.zeros(5, dtype=bool), "unique"),
        (np.array([7]), np.zeros(5, dtype=bool), r"< 5.*got 7"),
        (np.zeros(4, dtype=bool), np.zeros(5, dtype=bool), "length 5"),
        (np.array([0.5]), np.zeros(5, dtype=bool), "dtype float64"),
        (np.array([-1]), np.zeros(5, dtype=bool), ">= 0"),
    ],
)
def test_score_detections_errors(flagged, corrupted, match):
    with pytest.raises(ValueError, match=match):
        score_detections(flagged, corrupted)


# ----- estimate_errors_per_class -------------------------------------------------------


def test_estimate_errors_per_class_hand_built():
    # 10 clean 0s, 10 clean 1s, 3 examples labelled 0 that the model is sure are 1s.
    labels = np.array([0] * 10 + [1] * 10 + [0] * 3)
    probs = np.array([[0.9, 0.1]] * 10 + [[0.2, 0.8]] * 10 + [[0.01, 0.99]] * 3)
    est = estimate_errors_per_class(labels, probs)
    assert est.dtype == np.int64
    assert est.tolist() == [3, 0]


def test_estimate_errors_per_class_by_given_label():
    labels, probs, flip = _flipped_problem(n=600, n_flip=60, seed=2)
    est = estimate_errors_per_class(labels, probs)
    expected = np.bincount(labels[flip], minlength=3)
    assert est.shape == (3,)
    np.testing.assert_array_equal(est, expected)


def test_estimate_joint_counts_given_against_true_labels():
    # Hand-built as above: the 3 examples labelled 0 are confidently 1s: Q[0, 1] = 3.
    labels = np.array([0] * 10 + [1] * 10 + [0] * 3)
    probs = np.array([[0.9, 0.1]] * 10 + [[0.2, 0.8]] * 10 + [[0.01, 0.99]] * 3)
    joint = estimate_joint(labels, probs)
    assert joint.shape == (2, 2) and joint.dtype == np.float64
    np.testing.assert_allclose(joint.sum(axis=1), np.bincount(labels))  # calibrated rows
    np.testing.assert_allclose(joint, [[10, 3], [0, 10]])
    with pytest.raises(ValueError):
        estimate_joint(np.zeros(4, dtype=int), np.full((4, 2), 0.5))  # one class


def test_constants():
    assert METHODS[0] == "both"
    assert RANK_BY == ("self_confidence", "normalized_margin")
