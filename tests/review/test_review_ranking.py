"""The suspects' order: ties in the rank score are broken by the second key, then the index."""

from __future__ import annotations

import numpy as np

from robustloss.detect import RANK_DECIMALS, find_label_errors, rank_order, rank_scores


def _probs(rows):
    return np.array(rows, dtype=np.float64)


def test_exact_tie_broken_by_normalized_margin():
    labels = np.array([0, 0, 0])
    # all three give p[given] = 0; the margin of the best other class decides
    probs = _probs([[0.0, 0.6, 0.4], [0.0, 0.9, 0.1], [0.0, 0.75, 0.25]])
    assert rank_scores(labels, probs).tolist() == [0.0, 0.0, 0.0]
    assert rank_order(labels, probs).tolist() == [1, 2, 0]


def test_scores_closer_than_the_rounding_are_ties():
    labels = np.array([0, 0])
    # p[given] 1e-12 vs 1e-9: apart by less than 10**-RANK_DECIMALS, so tied; the second
    # key (normalized margin) puts the example whose other class wins by more first
    probs = _probs([[1e-12, 0.6, 0.4 - 1e-12], [1e-9, 0.99, 0.01 - 1e-9]])
    scores = rank_scores(labels, probs)
    assert scores[0] < scores[1] and scores[1] - scores[0] < 10.0**-RANK_DECIMALS
    assert rank_order(labels, probs).tolist() == [1, 0]


def test_full_tie_falls_back_to_index_and_ranking_by_margin_uses_confidence():
    labels = np.array([1, 1])
    probs = _probs([[0.8, 0.2], [0.8, 0.2]])
    assert rank_order(labels, probs).tolist() == [0, 1]
    assert rank_order(labels, probs, [1, 0]).tolist() == [0, 1]
    labels = np.array([0, 0])
    # equal margins (0.3 - 0.5 + 1)/2 = (0.2 - 0.4 + 1)/2 = 0.4; self-confidence breaks it
    probs = _probs([[0.3, 0.5, 0.2], [0.2, 0.4, 0.4]])
    assert rank_order(labels, probs, rank_by="normalized_margin").tolist() == [1, 0]


def test_find_label_errors_orders_ties_by_the_second_key():
    rng = np.random.default_rng(0)
    n = 200
    labels = np.arange(n) % 3
    probs = np.full((n, 3), 0.02)
    probs[np.arange(n), labels] = 0.96
    # four mislabelled examples with p[given] below 1e-6: tied on the first key
    wrong = {10: 0.975, 20: 0.999, 30: 0.98, 40: 0.99}
    for i, top in wrong.items():
        other = (labels[i] + 1) % 3
        probs[i] = 0.0
        probs[i, labels[i]] = rng.uniform(0, 1e-8)
        probs[i, other] = top
        probs[i, (labels[i] + 2) % 3] = 1.0 - top - probs[i, labels[i]]
    flagged = find_label_errors(labels, probs, method="both")
    assert set(flagged.tolist()) == set(wrong)
    assert flagged.tolist() == [20, 40, 30, 10]  # by how strongly the other class wins
