"""Label issues from neighbours in feature space: Datalab's ``features=`` path.

N examples, K classes, D feature dimensions; ``labels`` (N,), ``features`` (N, D) (e.g. a
trained CNN's penultimate-layer embeddings). What cleanlab's
``Datalab(data={"label": labels}, label_name="label").find_issues(features=features,
issue_types={"label": {"k": k}})`` does (``cleanlab/datalab/internal/issue_manager/label.py``,
``LabelIssueManager.find_issues``, cleanlab 2.9):

1. ``KNeighborsClassifier(n_neighbors=k + 1)`` (Euclidean, uniform weights) fitted on
   (features, labels) and asked about the same points;
2. made leave-one-out: ``p = (p - onehot(label) / (k + 1)) * (k + 1) / k`` (each point is
   its own nearest neighbour), so ``p`` is the label distribution of its k other neighbours;
3. ``cleanlab.classification.CleanLearning().find_label_issues(labels, pred_probs=p)``
   (with ``n_jobs=1``).

Why not Datalab itself: it imports Hugging Face ``datasets`` (and pyarrow) at import time,
which is not a dependency of this package. These are the same steps with the same cleanlab
call, with one guard Datalab lacks: where a point is not among its own k + 1 neighbours
(exact duplicates with another label), step 2 would give a negative entry; it is clipped at 0
and the row renormalised. The flagged set is cleanlab's; the order is
:func:`robustloss.detect.cl.rank_order`'s on ``p``.
"""

from __future__ import annotations

import numpy as np
from cleanlab.classification import CleanLearning
from sklearn.neighbors import KNeighborsClassifier

from robustloss.detect.cl import rank_order, rank_scores, validate_inputs

__all__ = ["KNN_K", "find_by_knn", "knn_pred_probs"]

#: Datalab's default number of neighbours.
KNN_K: int = 10


def knn_pred_probs(labels, features, *, num_classes: int, k: int = KNN_K) -> np.ndarray:
    """(N, K) leave-one-out k-nearest-neighbour label distributions (steps 1 and 2)."""
    labels_arr = np.asarray(labels, dtype=np.int64)
    feats = np.asarray(features, dtype=np.float64)
    n = labels_arr.shape[0]
    if feats.ndim != 2 or feats.shape[0] != n:
        raise ValueError(
            f"Expected `features` of shape ({n}, D), one row per label, but got {feats.shape}"
        )
    if not np.isfinite(feats).all():
        raise ValueError("Expected `features` to be finite, but got non-finite values")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"Expected `k` to be an integer in [1, {n - 1}], but got {k!r}")
    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(feats, labels_arr)
    seen = knn.predict_proba(feats)  # (N, classes present), columns knn.classes_
    probs = np.zeros((n, num_classes), dtype=np.float64)
    probs[:, knn.classes_] = seen
    onehot = np.eye(num_classes, dtype=np.float64)[labels_arr]
    probs = (probs - onehot / (k + 1)) * (k + 1) / k
    probs = np.clip(probs, 0.0, None)
    return probs / probs.sum(axis=1, keepdims=True)


def find_by_knn(
    labels, features, *, num_classes: int, k: int = KNN_K
) -> tuple[np.ndarray, np.ndarray]:
    """``(flagged, scores)``: CleanLearning's issues on the kNN probabilities, most suspect
    first, and their (N,) self-confidence scores (low = suspect)."""
    probs = knn_pred_probs(labels, features, num_classes=num_classes, k=k)
    labels_arr, probs = validate_inputs(labels, probs, min_classes=2)
    # n_jobs=1: no process pool (slower at these sizes, and refused inside a Dask worker).
    cl = CleanLearning(verbose=False, find_label_issues_kwargs={"n_jobs": 1})
    issues = cl.find_label_issues(labels=labels_arr, pred_probs=probs)
    flagged = np.flatnonzero(issues["is_label_issue"].to_numpy(dtype=bool))
    ranked = rank_order(labels_arr, probs, flagged, rank_by="self_confidence")
    return ranked, rank_scores(labels_arr, probs, rank_by="self_confidence")
