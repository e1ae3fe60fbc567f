"""Small learnable embeddings with known flipped labels, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAMES = ("ant", "bee", "fly", "moth")


def mixture(
    n: int = 600, d: int = 8, k: int = 4, *, rho: float = 0.1, seed: int = 0, spread: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (n, d) float32, noisy labels (n,), flipped (n,) bool): a Gaussian mixture
    whose classes a linear head separates, with round(rho n) labels moved to another class."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, spread, size=(k, d))
    true = np.arange(n) % k
    x = (means[true] + rng.normal(size=(n, d))).astype(np.float32)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=round(rho * n), replace=False)] = True
    noisy = true.copy()
    noisy[flipped] = (true[flipped] + rng.integers(1, k, size=int(flipped.sum()))) % k
    return x, noisy.astype(np.int64), flipped


def write_pair(folder: Path, n: int = 600, *, dtype=np.float32, names: bool = True):
    """features.npy and labels.txt (class names, one per line) or labels.npy; returns
    (features path, labels path, flipped)."""
    x, noisy, flipped = mixture(n)
    features = folder / "features.npy"
    np.save(features, x.astype(dtype))
    if names:
        labels = folder / "labels.txt"
        labels.write_text("\n".join(NAMES[j] for j in noisy) + "\n", encoding="utf-8")
    else:
        labels = folder / "labels.npy"
        np.save(labels, noisy)
    return features, labels, flipped
