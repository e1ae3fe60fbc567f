"""Ranking by a label-quality score, flagging as many as Confident Learning estimates.

N examples, K classes; ``labels`` (N,), ``pred_probs`` (N, K) as in :mod:`.cl`. cleanlab's
``find_label_issues(filter_by="low_normalized_margin" | "low_self_confidence")`` sorts the
examples by the score (``normalized_margin = (p[y] - max_{k != y} p[k] + 1) / 2`` or
``self_confidence = p[y]``) and flags the lowest ``cleanlab.count.num_label_issues`` of them
(the off-diagonal of the confident joint): the same count as CL, another choice of which.
The flagged set is cleanlab's; the order is :func:`robustloss.detect.cl.rank_order`'s.
"""

from __future__ import annotations

import numpy as np
from cleanlab.filter import find_label_issues

from robustloss.detect.cl import rank_order, rank_scores, validate_inputs

__all__ = ["SCORE_FILTERS", "find_by_score"]

#: Detector name -> the score it ranks by (a value of :data:`robustloss.detect.RANK_BY`).
SCORE_FILTERS: dict[str, str] = {
    "margin": "normalized_margin",
    "self-confidence": "self_confidence",
}


def find_by_score(labels, pred_probs, *, score: str) -> tuple[np.ndarray, np.ndarray]:
    """``(flagged, scores)``: cleanlab's ``low_<score>`` flags, most suspect first, and the
    (N,) scores (low = suspect).

    Args:
        labels: (N,) given labels, at least 2 distinct classes.
        pred_probs: (N, K) predicted probabilities.
        score: "normalized_margin" or "self_confidence".
    """
    if score not in SCORE_FILTERS.values():
        raise ValueError(
            f"Expected `score` to be one of {sorted(SCORE_FILTERS.values())}, but got {score!r}"
        )
    labels_arr, probs = validate_inputs(labels, pred_probs, min_classes=2)
    mask = find_label_issues(
        labels_arr, probs, filter_by=f"low_{score}", return_indices_ranked_by=None, n_jobs=1,
        verbose=False, multi_label=False,
    )  # fmt: skip
    flagged = np.flatnonzero(np.asarray(mask, dtype=bool))
    ranked = rank_order(labels_arr, probs, flagged, rank_by=score)
    return ranked, rank_scores(labels_arr, probs, rank_by=score)
