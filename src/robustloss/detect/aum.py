"""Area Under the Margin (Pleiss et al., NeurIPS 2020): wrong labels are learnt late.

N examples, K classes; ``labels`` (N,) the given labels. The AUM of example i is its logit
margin ``z[y_i] - max_{k != y_i} z[k]`` averaged over the training epochs (recorded by the
training loop: :mod:`robustloss.train.margins`); a mislabelled example is pulled towards its
true class by its neighbours, so its margin stays low or negative. Two ways to decide how
many to flag:

``threshold samples`` (the paper's)
    A second training in which ``N // (K + 1)`` examples, drawn at random, are given a fake
    class K that no image truly has (:func:`threshold_sample_labels`; the model has K + 1
    outputs). Those are mislabelled by construction; the 99th percentile of their AUMs
    (:func:`aum_threshold`) is the threshold, and an example whose AUM is below it is
    flagged. Cost: one more training.
``count`` (label-free, no second training)
    The examples with the lowest AUM, as many as Confident Learning estimates are wrong
    (``cleanlab.count.num_label_issues`` on the model's probabilities).

The corruption mask is not an argument of anything here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "THRESHOLD_PERCENTILE",
    "aum_threshold",
    "find_by_aum",
    "threshold_sample_labels",
]

#: Pleiss et al.: the 99th percentile of the threshold samples' AUMs.
THRESHOLD_PERCENTILE: float = 99.0


def _aum_array(aum, n: int | None = None) -> np.ndarray:
    arr = np.asarray(aum, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = "(N,)" if n is None else f"({n},), one per label"
        raise ValueError(f"Expected `aum` of shape {want}, but got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"Expected `aum` to be finite, but got {bad} non-finite values (examples never "
            "trained on have no margin)"
        )
    return arr


def threshold_sample_labels(
    labels, num_classes: int, *, rng: np.random.Generator | int | None, count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels for the threshold run: ``count`` random examples moved to the fake class K.

    Args:
        labels: (N,) given labels in ``[0, num_classes)``.
        num_classes: K; the fake class is K, so the threshold model needs K + 1 outputs.
        rng: a numpy Generator or seed.
        count: how many threshold samples; default ``N // (K + 1)`` (Pleiss et al.: as many
            as an extra class of average size).

    Returns:
        ``(threshold_labels, indices)``: (N,) int64 labels with ``threshold_labels[indices]
        == K`` and every other label unchanged; (M,) sorted int64 indices.
    """
    labels_arr = np.asarray(labels, dtype=np.int64)
    n = labels_arr.shape[0]
    if labels_arr.size and (labels_arr.min() < 0 or labels_arr.max() >= num_classes):
        raise ValueError(
            f"Expected `labels` in [0, {num_classes}), but got [{labels_arr.min()}, "
            f"{labels_arr.max()}]"
        )
    m = n // (num_classes + 1) if count is None else int(count)
    if not 1 <= m < n:
        raise ValueError(
            f"Expected between 1 and {n - 1} threshold samples of {n} examples, but got {m}"
        )
    idx = np.sort(np.random.default_rng(rng).choice(n, size=m, replace=False)).astype(np.int64)
    out = labels_arr.copy()
    out[idx] = num_classes
    return out, idx


def aum_threshold(threshold_aum, *, percentile: float = THRESHOLD_PERCENTILE) -> float:
    """The ``percentile`` (default 99) of the threshold samples' AUMs (M,)."""
    arr = _aum_array(threshold_aum)
    if arr.size == 0:
        raise ValueError("Expected at least one threshold sample's AUM, but got 0")
    return float(np.percentile(arr, percentile))


def find_by_aum(
    labels, aum, *, threshold: float | None = None, num_to_flag: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(flagged, scores)``: examples by ascending AUM, cut by a threshold or a count.

    Args:
        labels: (N,) given labels (only their number is used: the AUMs are already relative
            to them).
        aum: (N,) mean margins, finite.
        threshold: flag ``aum < threshold`` (threshold samples' :func:`aum_threshold`).
        num_to_flag: flag the ``num_to_flag`` lowest (the label-free count option).
            Exactly one of ``threshold`` and ``num_to_flag``.

    Returns:
        (M,) int64 flagged indices, lowest AUM first (ties by index), and the (N,) float64
        AUMs as scores (low = suspect).
    """
    n = np.asarray(labels).shape[0]
    arr = _aum_array(aum, n)
    if (threshold is None) == (num_to_flag is None):
        raise ValueError(
            "Expected exactly one of `threshold` and `num_to_flag`, but got "
            + ("both" if threshold is not None else "neither")
        )
    order = np.lexsort((np.arange(n), arr))  # ascending AUM, then index
    if threshold is not None:
        if not np.isfinite(threshold):
            raise ValueError(f"Expected a finite `threshold`, but got {threshold!r}")
        flagged = order[arr[order] < threshold]
    else:
        if isinstance(num_to_flag, bool) or not 0 <= int(num_to_flag) <= n:
            raise ValueError(f"Expected `num_to_flag` in [0, {n}], but got {num_to_flag!r}")
        flagged = order[: int(num_to_flag)]
    return flagged.astype(np.int64), arr
