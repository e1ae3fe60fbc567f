"""Small learnable image datasets that tests write themselves (never real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_images(n: int, seed: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 uint8 images: class c is a bright 8x8 block at a class position."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = 2 + 8 * c + rng.integers(-1, 2), 2 + 8 * c + rng.integers(-1, 2)
        images[i, r : r + 8, col : col + 8] = 220
    return images, labels.astype(np.int64)


def tiny_npz(path: Path) -> Path:
    """240 12x12 images of 4 classes: a noisy prototype per class (learnable in an epoch)."""
    rng = np.random.default_rng(0)
    labels = np.arange(240) % 4
    prototypes = rng.integers(0, 256, size=(4, 12, 12))
    images = prototypes[labels] * 0.6 + rng.integers(0, 100, size=(240, 12, 12))
    np.savez(path, images=np.clip(images, 0, 255).astype(np.uint8), labels=labels)
    return path
