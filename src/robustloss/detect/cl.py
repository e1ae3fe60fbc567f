"""Confident Learning (cleanlab): finding the wrong labels, ranking them, scoring what was found.

Notation, fixed for the whole module: N examples, K classes; ``labels`` (N,) are the given
(possibly wrong) class indices in ``0..K-1``; ``pred_probs`` (N, K) are a model's predicted
probabilities ``P(class = k | x_i)``, rows summing to 1. They should be out-of-sample
(cross-validated) probabilities: in-sample probabilities of a model that has fitted the wrong
labels hide those labels (see ``DESIGN.md``).

Data arguments are positional, options keyword-only, and every option that cleanlab would
otherwise default is passed explicitly (``filter_by="both"`` is *not* cleanlab's default).

Examples:
    >>> import numpy as np
    >>> labels = np.array([0, 0, 0, 1, 1, 1, 1])
    >>> pred_probs = np.array([[0.9, 0.1]] * 3 + [[0.1, 0.9]] * 3 + [[0.95, 0.05]])
    >>> find_label_errors(labels, pred_probs, method="both").tolist()
    [6]
    >>> score_detections([6], np.array([0, 0, 0, 0, 0, 0, 1], dtype=bool))["f1"]
    1.0
"""

from __future__ import annotations

import numpy as np
from cleanlab.count import compute_confident_joint
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

__all__ = [
    "METHODS",
    "PROB_ATOL",
    "RANK_BY",
    "RANK_DECIMALS",
    "estimate_errors_per_class",
    "estimate_joint",
    "find_label_errors",
    "rank_order",
    "rank_scores",
    "score_detections",
    "validate_inputs",
]

METHODS: tuple[str, ...] = (
    "both",
    "prune_by_noise_rate",
    "prune_by_class",
    "confident_learning",
    "predicted_neq_given",
)
"""Values of ``method`` (cleanlab's ``filter_by``). "both" is the paper's and its authors' choice:
an example is flagged only when pruning by noise rate AND pruning by class both flag it."""

RANK_BY: tuple[str, ...] = ("self_confidence", "normalized_margin")
"""Label-quality scores that order the flagged examples (low score = most suspect):
``self_confidence = p[label]`` (the authors' choice);
``normalized_margin = (p[label] - max_{k != label} p[k] + 1) / 2``."""

RANK_DECIMALS: int = 6
"""Rank scores are compared after rounding to this many decimals (:func:`rank_order`): closer
scores are ties, broken by the other score of :data:`RANK_BY`, then by index."""

PROB_ATOL: float = 1e-4
"""Tolerance on ``|sum_k pred_probs[i, k] - 1|``: float32 softmax outputs are well within it."""

# Methods for which cleanlab's frac_noise has an effect (it warns and ignores it for the rest).
_FRAC_NOISE_METHODS = ("both", "prune_by_noise_rate", "prune_by_class")


def validate_inputs(labels, pred_probs, *, min_classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Check ``labels`` (N,) and ``pred_probs`` (N, K); return them as int64 and float64 arrays.

    Raises ``ValueError`` (naming the argument, what was expected and what was got) unless:
    ``labels`` is a non-empty 1-D array of integers in ``[0, K)``; ``pred_probs`` is a 2-D
    array with N rows and K >= 2 columns, finite, non-negative, each row summing to 1 within
    :data:`PROB_ATOL`; and at least ``min_classes`` distinct classes occur in ``labels``.
    """
    labels_arr = _labels_array(labels)
    probs = _pred_probs_array(pred_probs, labels_arr.shape[0])
    _check_label_range(labels_arr, probs.shape[1])
    _check_probabilities(probs)
    n_classes = np.unique(labels_arr).size
    if n_classes < min_classes:
        raise ValueError(
            f"Expected `labels` to contain at least {min_classes} distinct classes, "
            f"but got {n_classes}"
        )
    return labels_arr.astype(np.int64, copy=False), probs


def _labels_array(labels) -> np.ndarray:
    """``labels`` as a non-empty 1-D integer array (N,)."""
    labels_arr = np.asarray(labels)
    if labels_arr.ndim != 1:
        raise ValueError(
            f"Expected `labels` to be a 1-D array of shape (N,), but got shape {labels_arr.shape}"
        )
    if labels_arr.size == 0:
        raise ValueError("Expected `labels` to hold at least one example, but got 0")
    if labels_arr.dtype == bool or not np.issubdtype(labels_arr.dtype, np.integer):
        raise ValueError(
            "Expected `labels` to be integer class indices 0..K-1, "
            f"but got an array of dtype {labels_arr.dtype}"
        )
    return labels_arr


def _pred_probs_array(pred_probs, n_labels: int) -> np.ndarray:
    """``pred_probs`` as a float64 (N, K) array with one row per label and K >= 2."""
    probs = np.asarray(pred_probs)
    if probs.ndim != 2:
        raise ValueError(
            f"Expected `pred_probs` to be a 2-D array of shape (N, K), but got shape {probs.shape}"
        )
    if not (np.issubdtype(probs.dtype, np.floating) or np.issubdtype(probs.dtype, np.integer)):
        raise ValueError(f"Expected `pred_probs` to hold real numbers, but got dtype {probs.dtype}")
    probs = probs.astype(np.float64, copy=False)
    n, k = probs.shape
    if n != n_labels:
        raise ValueError(
            f"Expected `pred_probs` to have one row per label ({n_labels}), but got {n} rows"
        )
    if k < 2:
        raise ValueError(f"Expected `pred_probs` to have at least 2 columns (classes), but got {k}")
    return probs


def _check_label_range(labels_arr: np.ndarray, k: int) -> None:
    low, high = int(labels_arr.min()), int(labels_arr.max())
    if low < 0:
        raise ValueError(f"Expected `labels` in [0, {k}), but got a label {low}")
    if high >= k:
        raise ValueError(
            f"pred_probs must have at least {high + 1} columns, based on the largest label "
            f"{high}, but it has {k}"
        )


def _check_probabilities(probs: np.ndarray) -> None:
    """Rows of (N, K) ``probs`` are finite, non-negative and sum to 1 within PROB_ATOL."""
    bad = ~np.isfinite(probs)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(
            f"Expected `pred_probs` to be finite, but got {int(bad.sum())} non-finite values "
            f"(first in row {row}: {probs[row].tolist()})"
        )
    if (probs < 0).any():
        row = int(np.flatnonzero((probs < 0).any(axis=1))[0])
        raise ValueError(
            f"Expected `pred_probs` to be non-negative, but got min {probs.min():.6g} (row {row})"
        )
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0)
    if (off > PROB_ATOL).any():
        row = int(np.argmax(off))
        raise ValueError(
            f"Expected each row of `pred_probs` to sum to 1 within {PROB_ATOL:g}, but row {row} "
            f"sums to {sums[row]:.6g} ({int((off > PROB_ATOL).sum())} rows off)"
        )


def rank_scores(labels, pred_probs, *, rank_by: str = "self_confidence") -> np.ndarray:
    """Label-quality score of every example; low = the given label is suspect.

    .. math::
        s_i = p_i[y_i] \\quad\\text{(self\\_confidence)}, \\qquad
        s_i = \\tfrac12\\,(p_i[y_i] - \\max_{k \\ne y_i} p_i[k] + 1)
        \\quad\\text{(normalized\\_margin)}

    computed by ``cleanlab.rank.get_label_quality_scores(..., adjust_pred_probs=False)``.

    Args:
        labels: given labels, (N,) integers in ``[0, K)``.
        pred_probs: predicted probabilities, (N, K).
        rank_by: one of :data:`RANK_BY`.

    Returns:
        (N,) float64 scores in [0, 1].
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"Expected `rank_by` to be one of {list(RANK_BY)}, but got {rank_by!r}")
    labels_arr, probs = validate_inputs(labels, pred_probs)
    scores = get_label_quality_scores(labels_arr, probs, method=rank_by, adjust_pred_probs=False)
    return np.asarray(scores, dtype=np.float64)


def find_label_errors(
    labels,
    pred_probs,
    *,
    method: str = "both",
    rank_by: str = "self_confidence",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    n_jobs: int = 1,
) -> np.ndarray:
    """Indices of the examples whose given label is probably wrong, most suspect first.

    Calls ``cleanlab.filter.find_label_issues(labels, pred_probs, filter_by=method,
    frac_noise=frac_noise, min_examples_per_class=min_examples_per_class, n_jobs=n_jobs,
    return_indices_ranked_by=None, num_to_remove_per_class=None, confident_joint=None)`` for
    the boolean mask, then orders the flagged examples with :func:`rank_order`: by
    :func:`rank_scores` rounded to :data:`RANK_DECIMALS` decimals (ascending), ties broken by
    the other score of :data:`RANK_BY`, then by index (a stable sort: cleanlab's own ranking
    uses an unstable sort, so equal scores could come out in any order). The flagged *set* is
    exactly cleanlab's.

    Args:
        labels: given labels, (N,) integers in ``[0, K)``, at least 2 distinct classes.
        pred_probs: predicted probabilities, (N, K), ideally out-of-sample.
        method: cleanlab's ``filter_by``, one of :data:`METHODS`.
        rank_by: one of :data:`RANK_BY`.
        frac_noise: in (0, 1]: keep only this fraction of the estimated errors per class.
            Only for "both", "prune_by_noise_rate" and "prune_by_class" (cleanlab ignores it
            otherwise, so any other value is an error here).
        min_examples_per_class: never flag so many that a class keeps fewer than this.
        n_jobs: cleanlab's process count; 1 (default) avoids a process pool, which is slower
            than one process at these sizes.

    Returns:
        (M,) int64 indices into ``labels``, M <= N, most suspect first.
    """
    _check_find_options(method, rank_by, frac_noise, min_examples_per_class, n_jobs)
    labels_arr, probs = validate_inputs(labels, pred_probs, min_classes=2)

    mask = find_label_issues(
        labels_arr,
        probs,
        return_indices_ranked_by=None,
        rank_by_kwargs=None,
        filter_by=method,
        frac_noise=float(frac_noise),
        num_to_remove_per_class=None,
        min_examples_per_class=int(min_examples_per_class),
        confident_joint=None,
        n_jobs=int(n_jobs),
        verbose=False,
        multi_label=False,
    )
    flagged = np.flatnonzero(np.asarray(mask, dtype=bool))
    return _rank(labels_arr, probs, flagged, rank_by)


def rank_order(labels, pred_probs, indices=None, *, rank_by: str = "self_confidence") -> np.ndarray:
    """``indices`` (default: all examples) sorted most suspect first, deterministically.

    Three keys, compared in turn, with a stable sort:

    1. the rank score ``s_i`` of ``rank_by`` (:func:`rank_scores`), rounded to
       :data:`RANK_DECIMALS` decimals: scores closer than that are ties (a ``p[given]`` of
       1e-23 and one of 1e-20 say the same thing: float32 probabilities do not resolve them);
    2. the other score of :data:`RANK_BY` (``normalized_margin`` when ranking by
       ``self_confidence``, and vice versa), ascending: among equally unlikely given labels,
       those whose best other class wins by more come first;
    3. the index.

    Args:
        labels: given labels, (N,) integers in ``[0, K)``.
        pred_probs: predicted probabilities, (N, K).
        indices: (M,) distinct indices to order, or None for ``arange(N)``.
        rank_by: one of :data:`RANK_BY`.

    Returns:
        (M,) int64 indices, most suspect first.
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"Expected `rank_by` to be one of {list(RANK_BY)}, but got {rank_by!r}")
    labels_arr, probs = validate_inputs(labels, pred_probs)
    idx = np.arange(labels_arr.size) if indices is None else np.asarray(indices, dtype=np.int64)
    return _rank(labels_arr, probs, idx, rank_by)


def _rank(labels: np.ndarray, probs: np.ndarray, idx: np.ndarray, rank_by: str) -> np.ndarray:
    (second,) = (r for r in RANK_BY if r != rank_by)
    primary = get_label_quality_scores(labels, probs, method=rank_by, adjust_pred_probs=False)
    tie_break = get_label_quality_scores(labels, probs, method=second, adjust_pred_probs=False)
    primary = np.round(np.asarray(primary, dtype=np.float64)[idx], RANK_DECIMALS)
    tie_break = np.asarray(tie_break, dtype=np.float64)[idx]
    order = np.lexsort((idx, tie_break, primary))  # last key first; lexsort is stable
    return idx[order].astype(np.int64)


def _check_find_options(
    method: str, rank_by: str, frac_noise: float, min_examples_per_class: int, n_jobs: int
) -> None:
    """The options of :func:`find_label_errors`, checked before the arrays."""
    if method not in METHODS:
        raise ValueError(f"Expected `method` to be one of {list(METHODS)}, but got {method!r}")
    if rank_by not in RANK_BY:
        raise ValueError(f"Expected `rank_by` to be one of {list(RANK_BY)}, but got {rank_by!r}")
    if isinstance(frac_noise, bool) or not isinstance(frac_noise, (int, float)):
        raise ValueError(f"Expected `frac_noise` to be a float in (0, 1], but got {frac_noise!r}")
    if not 0.0 < float(frac_noise) <= 1.0:
        raise ValueError(f"Expected `frac_noise` to be a float in (0, 1], but got {frac_noise}")
    if float(frac_noise) != 1.0 and method not in _FRAC_NOISE_METHODS:
        raise ValueError(
            f"`frac_noise` applies only to methods {list(_FRAC_NOISE_METHODS)}; "
            f"got frac_noise={frac_noise} with method {method!r}"
        )
    if (
        isinstance(min_examples_per_class, bool)
        or not isinstance(min_examples_per_class, (int, np.integer))
        or min_examples_per_class < 0
    ):
        raise ValueError(
            "Expected `min_examples_per_class` to be an integer >= 0, "
            f"but got {min_examples_per_class!r}"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"Expected `n_jobs` to be an integer >= 1, but got {n_jobs!r}")


def _as_index_set(x, name: str, n: int | None) -> tuple[np.ndarray, int | None]:
    """A boolean mask (N,) or integer indices -> (sorted unique indices, N or None)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"Expected `{name}` to be 1-D (a mask or indices), got shape {arr.shape}")
    if arr.dtype == bool:
        if n is not None and arr.shape[0] != n:
            raise ValueError(
                f"Expected `{name}` as a mask to have length {n} like the other mask, "
                f"but got {arr.shape[0]}"
            )
        return np.flatnonzero(arr), arr.shape[0]
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), n
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"Expected `{name}` to be a boolean mask or integer indices, but got dtype {arr.dtype}"
        )
    idx = arr.astype(np.int64)
    uniq = np.unique(idx)
    if uniq.size != idx.size:
        raise ValueError(
            f"Expected `{name}` indices to be unique, but got {idx.size - uniq.size} duplicates"
        )
    if uniq[0] < 0:
        raise ValueError(f"Expected `{name}` indices to be >= 0, but got {int(uniq[0])}")
    return uniq, n


def score_detections(flagged, corrupted) -> dict:
    """Precision, recall and F1 of the flagged examples against the known corruptions.

    .. math::
        P = \\frac{|F \\cap C|}{|F|}, \\quad R = \\frac{|F \\cap C|}{|C|}, \\quad
        F_1 = \\frac{2 |F \\cap C|}{|F| + |C|} \\;(= 2PR / (P + R))

    with F the flagged and C the corrupted examples. The paper's Figure 5 plots |F| ("total
    detections") and |F ∩ C| ("correct detections") against |C|.

    0/0 cases follow scikit-learn's ``zero_division=0``: P = 0.0 when nothing is flagged,
    R = 0.0 when nothing is corrupted, F1 = 0.0 when both are empty. The values equal
    ``sklearn.metrics.precision_recall_fscore_support(corrupted_mask, flagged_mask,
    average="binary", zero_division=0)``.

    Args:
        flagged: indices (e.g. from :func:`find_label_errors`) or a boolean mask (N,).
        corrupted: boolean mask (N,) (e.g. from ``robustloss.noise.corrupt_labels``) or indices.

    Returns:
        dict with float ``precision``, ``recall``, ``f1`` and int ``flagged`` (|F|),
        ``correct`` (|F ∩ C|), ``corrupted`` (|C|).
    """
    corrupted_idx, n = _as_index_set(corrupted, "corrupted", None)
    flagged_idx, n = _as_index_set(flagged, "flagged", n)
    # Re-check corrupted when only flagged was a mask (gives the length).
    if n is not None:
        for name, idx in (("flagged", flagged_idx), ("corrupted", corrupted_idx)):
            if idx.size and idx[-1] >= n:
                raise ValueError(
                    f"Expected `{name}` indices < {n} (the mask's length), but got {int(idx[-1])}"
                )
    n_flagged, n_corrupted = int(flagged_idx.size), int(corrupted_idx.size)
    correct = int(np.intersect1d(flagged_idx, corrupted_idx, assume_unique=True).size)
    precision = correct / n_flagged if n_flagged else 0.0
    recall = correct / n_corrupted if n_corrupted else 0.0
    denom = n_flagged + n_corrupted
    f1 = 2.0 * correct / denom if denom else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "flagged": n_flagged,
        "correct": correct,
        "corrupted": n_corrupted,
    }


def estimate_joint(labels, pred_probs) -> np.ndarray:
    """Cleanlab's *calibrated* confident joint: estimated counts of (given, true) label pairs.

    ``Q[k, j]`` (K, K) estimates how many examples are labelled k while truly of class j
    (``cleanlab.count.compute_confident_joint(..., calibrate=True)``: each row sums to the
    number of examples labelled k). Its off-diagonal is where the wrong labels go: column j
    off its diagonal is how class j's examples were mislabelled.

    Args:
        labels: given labels, (N,) integers in ``[0, K)``, at least 2 distinct classes.
        pred_probs: predicted probabilities, (N, K).

    Returns:
        (K, K) float64 array.
    """
    labels_arr, probs = validate_inputs(labels, pred_probs, min_classes=2)
    return np.asarray(
        compute_confident_joint(labels_arr, probs, calibrate=True, multi_label=False),
        dtype=np.float64,
    )


def estimate_errors_per_class(labels, pred_probs) -> np.ndarray:
    """Estimated number of wrong labels among the examples given each class.

    .. math::
        e_k = \\sum_{j \\ne k} \\tilde Q[k, j]

    where :math:`\\tilde Q` (K, K) is cleanlab's calibrated confident joint
    (:func:`estimate_joint`). So ``e_k`` counts estimated errors by *given* label.
    It is an estimate of the amount of noise, not the count of :func:`find_label_errors`.

    Args:
        labels: given labels, (N,) integers in ``[0, K)``, at least 2 distinct classes.
        pred_probs: predicted probabilities, (N, K).

    Returns:
        (K,) int64 array.
    """
    joint = estimate_joint(labels, pred_probs)  # (K, K)
    errors = joint.sum(axis=1) - np.diag(joint)
    return np.rint(errors).astype(np.int64)
