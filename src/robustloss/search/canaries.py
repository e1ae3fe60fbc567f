"""Canaries: wrong labels planted on purpose in the search set, whose positions are known
without any ground truth, for the criteria ``canary-f1`` and ``canary-f1-structured``.

:func:`plant_canaries` flips :func:`canary_count` of the search set's labels, each to
another class drawn uniformly (``canary-f1``) or where the given labels' own wrong labels go
(``canary-f1-structured``: :func:`canary_transitions`, learnt by a cross-entropy probe of
:data:`CANARY_PROBE_EPOCHS` epochs, :func:`_probe_transitions`). After each rung, the share
of them a candidate's in-sample detection flags is its recall, and :func:`canary_f1` turns
the rung's recalls and flagged shares into F1 estimates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from robustloss.detect import estimate_joint
from robustloss.search.candidates import _epochs
from robustloss.seeds import CANARY_STREAM
from robustloss.train import TrainConfig, TrainResult, predict_proba

__all__ = [
    "CANARY_PROBE_EPOCHS",
    "canary_count",
    "canary_f1",
    "canary_transitions",
    "plant_canaries",
]

#: Criterion canary-f1 flips this share of the search set's labels (at least
#: :data:`MIN_CANARIES`, at most a tenth of the search set) ...
CANARY_FRACTION = 0.05
MIN_CANARIES = 30
#: ... and estimates the wrong-label rate from the candidates that find at least this share
#: of the canaries (their count of flags over recall is stable; see :func:`canary_f1`).
RELIABLE_RECALL = 0.5
#: canary-f1-structured learns where wrong labels go from a cross-entropy probe trained this
#: many epochs on the search set: early, before it memorises them (Arpit et al., ICML 2017,
#: "A Closer Look at Memorization in Deep Networks": clean patterns are learnt first).
CANARY_PROBE_EPOCHS = 2


def canary_count(n_search: int) -> int:
    """How many labels of the search set criterion canary-f1 flips: :data:`CANARY_FRACTION`
    of them, at least :data:`MIN_CANARIES`, at most a tenth."""
    return min(max(math.ceil(CANARY_FRACTION * n_search), MIN_CANARIES), n_search // 10)


def plant_canaries(
    labels: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    transitions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip :func:`canary_count` of these labels on purpose: wrong labels whose positions
    are known without any ground truth (they are ours), so how many of them a candidate's
    detection finds measures its recall of wrong labels.

    The positions are drawn uniformly (``SeedSequence([seed, CANARY_STREAM])``). Without
    ``transitions`` each canary's new label is drawn uniformly from the K - 1 classes other
    than its given one, as symmetric noise would; with them, a canary given class g becomes
    class j with probability ``transitions[g, j]`` (:func:`canary_transitions`).

    Args:
        transitions: (K, K) rows summing to 1, zero diagonal; None for uniform flips.

    Returns:
        ``(positions, labels)``: the sorted canary positions and a copy of ``labels`` with
        them flipped.
    """
    y = np.asarray(labels, dtype=np.int64)
    if num_classes < 2:
        raise ValueError(f"Expected at least 2 classes to flip labels, but got {num_classes}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), CANARY_STREAM]))
    positions = np.sort(rng.choice(y.size, size=canary_count(y.size), replace=False))
    out = y.copy()
    if transitions is None:
        shift = rng.integers(1, num_classes, size=positions.size)  # never 0: another class
        out[positions] = (y[positions] + shift) % num_classes
        return positions, out
    t = _check_transitions(transitions, num_classes)
    out[positions] = [rng.choice(num_classes, p=t[g]) for g in y[positions]]
    return positions, out


def canary_transitions(joint: np.ndarray) -> np.ndarray:
    """Where canaries go, learnt from where the given labels' own wrong labels go.

    .. math::
        T_{gj} = \\frac{Q_{jg} + 1}{\\sum_{j' \\ne g} (Q_{j'g} + 1)} \\quad (j \\ne g),
        \\qquad T_{gg} = 0

    with Q (K, K) the estimated joint of (given, true) labels (Confident Learning's
    calibrated confident joint, :func:`robustloss.detect.estimate_joint`): column g of Q
    off its diagonal counts how class g's examples were mislabelled. The add-one (Laplace)
    prior keeps every other class possible and weighs less as the counts grow: pair noise
    estimated from thousands of examples sends nearly every canary to the paired class;
    symmetric noise, or too few examples to tell, sends them about uniformly. So a canary
    is the kind of wrong label the data already has, and a candidate that memorises a
    systematic confusion misses the canaries as it misses the real ones.

    Args:
        joint: (K, K) non-negative finite counts, K >= 2.

    Returns:
        (K, K) rows summing to 1, zero diagonal.
    """
    q = np.asarray(joint, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 2:
        raise ValueError(f"Expected a (K, K) joint with K >= 2, but got shape {q.shape}")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("Expected a joint of finite non-negative counts")
    t = q.T + 1.0  # t[g, j] = Q[j, g] + 1: class g's examples labelled j
    np.fill_diagonal(t, 0.0)
    return t / t.sum(axis=1, keepdims=True)


def _check_transitions(transitions: np.ndarray, k: int) -> np.ndarray:
    t = np.asarray(transitions, dtype=np.float64)
    if t.shape != (k, k):
        raise ValueError(f"Expected ({k}, {k}) canary transitions, but got shape {t.shape}")
    if (
        not np.all(np.isfinite(t))
        or np.any(t < 0)
        or np.any(np.diag(t) != 0)
        or not np.allclose(t.sum(axis=1), 1.0)
    ):
        raise ValueError(
            "Expected canary transitions with rows of non-negative probabilities summing to 1 "
            "and a zero diagonal (a canary always changes class)"
        )
    return t / t.sum(axis=1, keepdims=True)


def canary_f1(recall: Sequence[float], flagged: Sequence[float]) -> tuple[float, ...]:
    """Each candidate's estimated F1 of its in-sample detection, from its canary recall r_i
    and the share f_i of the other search examples it flags, without ground truth.

    With w the true share of wrong labels among those examples and p_i a candidate's
    precision, f_i = r_i w / p_i, so f_i / r_i = w / p_i >= w: every candidate's ratio
    bounds w from above, and the smallest, from the most precise, is the estimate
    (``w_hat``; only candidates with r_i >= :data:`RELIABLE_RECALL`, whose ratio is not
    a small number's noise, count, or the highest-recall one if none does). Then
    ``F1_i = 2 r_i w_hat / (f_i + w_hat)`` (F1 = 2 TP / (flags + wrong labels)).

    It assumes the canaries are found as often as the real wrong labels: exact for
    symmetric noise (the canaries are symmetric), optimistic where the noise is structured
    (a systematic confusion is easier to memorise than a random one).

    Returns:
        F1 estimates in the order given; 0 for every one when no candidate finds a canary or
        flags anything.
    """
    r = np.asarray(recall, dtype=np.float64)
    f = np.asarray(flagged, dtype=np.float64)
    if r.shape != f.shape or r.ndim != 1:
        raise ValueError(
            f"Expected recall and flagged of one shape (C,), but got {r.shape} and {f.shape}"
        )
    if r.size == 0:
        return ()
    if np.any((r < 0) | (r > 1) | (f < 0) | (f > 1)) or not np.all(np.isfinite(r + f)):
        raise ValueError("Expected recall and flagged shares in [0, 1]")
    finding = r > 0
    if not finding.any():
        return tuple(0.0 for _ in r)
    reliable = r >= RELIABLE_RECALL
    pool = reliable if reliable.any() else r == r.max()
    w = float(np.min(f[pool] / r[pool]))
    if w <= 0:
        return tuple(0.0 for _ in r)
    return tuple(float(2 * ri * w / (fi + w)) for ri, fi in zip(r, f, strict=True))


def _probe_transitions(
    base: TrainConfig,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    k: int,
    trainer: Callable[..., TrainResult],
) -> tuple[np.ndarray | None, str]:
    """canary-f1-structured's canary transitions (:func:`canary_transitions`) from a
    cross-entropy probe trained ``epochs`` on the search set's given labels, scored in
    sample; ``(None, why)`` (uniform canaries) when the probe fails."""
    cfg = dataclasses.replace(base, loss="ce", loss_params={}, delay=0, epochs=epochs)
    try:
        model = trainer(cfg, x, y, num_classes=k, quiet=True).model
        joint = estimate_joint(y, predict_proba(model, x))
        return canary_transitions(joint), (
            f"drawn from Confident Learning's joint on a cross-entropy probe of "
            f"{_epochs(epochs)} ({joint.trace() / joint.sum():.1%} of the search labels "
            "estimated right)"
        )
    except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
        return None, (f"uniform: the cross-entropy probe failed ({type(exc).__name__}: {exc})")
