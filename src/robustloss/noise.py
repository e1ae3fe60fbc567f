"""Synthetic label noise: corrupt clean labels in an exactly reproducible way.

Notation: N examples, K classes, ``labels`` an integer array ``(N,)`` in [0, K). A noise
process is described by its transition matrix ``T`` (K, K) with
``T[i, j] = P(noisy = j | true = i)``; rows sum to 1, ``1 - T[i, i]`` is the rate at which
class i is corrupted.

Kinds (:data:`NOISE_KINDS`), each drawing only from the ``rng`` it is given:

- ``"symmetric"``: exactly ``round(rate * N)`` examples (Python's ``round``, halves to even),
  chosen uniformly without replacement; each gets a label uniform over the other K - 1
  classes. Implied ``T``: ``1 - rate`` on the diagonal, ``rate / (K - 1)`` elsewhere (in
  expectation per class; the total count is exact).
- ``"bernoulli"``: each example independently with probability ``rate``, to a uniform other
  class (what the paper authors' code did: the count is Binomial(N, rate)). Same implied T.
- ``"pair"``: exactly ``round(rate * N)`` examples chosen uniformly; one of class k becomes
  ``(k + 1) mod K``. Implied ``T``: ``1 - rate`` on the diagonal, ``rate`` at
  ``(k, (k + 1) mod K)``.
- ``"matrix"``: a given ``T``; for each class i exactly ``round(n_i * (1 - T[i, i]))`` of its
  n_i examples change, chosen uniformly, their new labels split in proportion to the
  off-diagonal row ``T[i, j], j != i`` (largest-remainder rounding, ties to the lower class).
  ``rate`` must be None.

A corrupted example always gets a different class, so ``corrupted_mask == (noisy !=
labels)``. The caller records the corruption (seed, kind, indices) with its results.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["NOISE_KINDS", "corrupt_labels", "noise_transition_matrix"]

NOISE_KINDS: tuple[str, ...] = ("symmetric", "bernoulli", "pair", "matrix")

_ROW_SUM_ATOL = 1e-6


def corrupt_labels(
    labels,
    rate: float | None,
    *,
    num_classes: int | None = None,
    kind: str = "symmetric",
    transition=None,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a copy of ``labels`` (the kinds and their exact counts: module docstring).

    Args:
        labels: integer array-like ``(N,)`` in [0, K). Never modified.
        rate: the fraction to corrupt, in [0, 1]; None for ``kind="matrix"``.
        num_classes: K; default: ``transition.shape[0]`` for "matrix", else
            ``max(labels) + 1``. Must be at least 2.
        kind: one of :data:`NOISE_KINDS`.
        transition: ``T`` (K, K), only for ``kind="matrix"``: non-negative, rows sum to 1.
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).

    Returns:
        ``(noisy_labels, corrupted_mask)``: ``int64 (N,)`` and ``bool (N,)``.

    Raises:
        ValueError: unknown kind; rate not in [0, 1] (or given with "matrix", or missing
            without it); labels not integers in [0, K); K < 2; a transition that is not
            (K, K), has negative entries, or rows that do not sum to 1.

    Example:
        >>> noisy, mask = corrupt_labels([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 0.2, rng=0)
        >>> int(mask.sum())
        2
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
    labels = _check_labels(labels)
    matrix = None
    if kind == "matrix":
        if rate is not None:
            raise ValueError(
                f"rate must be None for kind='matrix' (T gives the rates), got {rate!r}"
            )
        if transition is None:
            raise ValueError("kind='matrix' needs transition=T, a (K, K) row-stochastic matrix")
        matrix = _check_transition(transition, num_classes)
        num_classes = matrix.shape[0]
    else:
        if transition is not None:
            raise ValueError(f"transition is only for kind='matrix', got kind={kind!r}")
        rate = _check_rate(rate)
    k = _check_num_classes(labels, num_classes)
    generator = _check_rng(rng)
    n = len(labels)
    noisy = labels.copy()

    if kind == "matrix":
        for i in range(k):
            members = np.flatnonzero(labels == i)
            changes = round(len(members) * (1.0 - matrix[i, i]))
            if changes == 0:
                continue
            chosen = generator.permutation(members)[:changes]
            noisy[chosen] = np.repeat(np.arange(k), _destination_counts(matrix[i], i, changes))
    else:
        if kind == "bernoulli":
            chosen = np.flatnonzero(generator.random(n) < rate)
        else:
            chosen = np.sort(generator.choice(n, size=round(rate * n), replace=False))
        if kind == "pair":
            noisy[chosen] = (labels[chosen] + 1) % k
        else:  # a uniform other class: add an offset in 1..K-1
            noisy[chosen] = (labels[chosen] + generator.integers(1, k, size=len(chosen))) % k
    return noisy, noisy != labels


def noise_transition_matrix(kind: str, rate: float, num_classes: int) -> np.ndarray:
    """The transition matrix ``T`` (K, K) implied by "symmetric", "bernoulli" or "pair".

    For "symmetric" and "pair" this is the expectation: the total number of corrupted
    examples is exact, the split between classes is random.
    """
    if kind not in ("symmetric", "bernoulli", "pair"):
        raise ValueError(
            f"kind must be 'symmetric', 'bernoulli' or 'pair' (a 'matrix' is its own T), "
            f"got {kind!r}"
        )
    rate = _check_rate(rate)
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    k = int(num_classes)
    if k < 2:
        raise ValueError(f"num_classes must be at least 2, got {k}")
    if kind == "pair":
        t = np.eye(k) * (1.0 - rate)
        t[np.arange(k), (np.arange(k) + 1) % k] += rate
        return t
    t = np.full((k, k), rate / (k - 1))
    np.fill_diagonal(t, 1.0 - rate)
    return t


# ---------------------------------------------------------------------------- validation


def _check_labels(labels) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_rate(rate) -> float:
    if (
        not isinstance(rate, numbers.Real)
        or isinstance(rate, bool)
        or not np.isfinite(rate)
        or not 0.0 <= rate <= 1.0
    ):
        raise ValueError(f"rate must be a number in [0, 1], got {rate!r}")
    return float(rate)


def _check_num_classes(labels: np.ndarray, num_classes) -> int:
    if num_classes is None:
        k = int(labels.max()) + 1 if labels.size else 0
        if k < 2:
            raise ValueError(
                f"cannot infer num_classes >= 2 from labels with maximum {k - 1}; pass num_classes"
            )
    else:
        if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        k = int(num_classes)
        if k < 2:
            raise ValueError(f"num_classes must be at least 2, got {k}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(
            f"labels must be in [0, {k}) for num_classes={k}, got minimum {labels.min()} "
            f"and maximum {labels.max()}"
        )
    return k


def _check_transition(transition, num_classes) -> np.ndarray:
    t = np.asarray(transition, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"transition must be a square (K, K) matrix, got shape {t.shape}")
    k = t.shape[0]
    if num_classes is not None and num_classes != k:
        raise ValueError(f"transition is ({k}, {k}) but num_classes={num_classes}")
    if not np.all(np.isfinite(t)) or t.min() < 0:
        raise ValueError(f"transition must be finite and non-negative, got minimum {t.min()}")
    sums = t.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_ATOL)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"transition rows must sum to 1 (T[i, j] = P(noisy=j | true=i)), but row {i} "
            f"sums to {sums[i]:.6g} ({bad.size} bad row(s))"
        )
    return t


def _check_rng(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator, a non-negative int seed or None, got {rng!r}")


def _destination_counts(row: np.ndarray, source: int, total: int) -> np.ndarray:
    """Split ``total`` changes among classes j != source in proportion to ``row[j]``,
    by largest remainders (ties to the lower class). Returns (K,) counts, 0 at ``source``."""
    weights = row.astype(np.float64).copy()
    weights[source] = 0.0
    if weights.sum() <= 0:  # T[i, i] within tolerance of 1, yet round() gave changes
        weights = np.ones_like(weights)
        weights[source] = 0.0
    quotas = total * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    remainder = total - int(counts.sum())
    order = np.lexsort((np.arange(len(quotas)), -(quotas - counts)))  # largest first, low j
    order = order[weights[order] > 0]
    counts[order[:remainder]] += 1
    return counts
