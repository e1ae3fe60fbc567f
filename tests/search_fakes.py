"""Small inputs for the tests of the ``--loss auto`` search (tests/search/): a noisy toy
data set, tiny training settings, and a tiny ``loss="auto"`` run config."""

from __future__ import annotations

import numpy as np

from robustloss.train import TrainConfig
from synthetic import synthetic_images


def noisy_toy(n: int = 300, seed: int = 0, rate: float = 0.2):
    images, labels = synthetic_images(n, seed)
    rng = np.random.default_rng(seed)
    flip = rng.random(n) < rate
    noisy = labels.copy()
    noisy[flip] = (labels[flip] + 1) % 3
    return images, noisy, flip


def tiny_train_config(**kw) -> TrainConfig:
    base = dict(model="tiny", epochs=4, batch_size=32, lr=1e-2, threads=1, device="cpu")
    return TrainConfig(**{**base, **kw})


def tiny_run(**kw) -> dict:
    base = {"model": "tiny", "epochs": 4, "batch_size": 32, "lr": 1e-2, "threads": 1,
            "device": "cpu", "noise": 0.2, "loss": "auto"}  # fmt: skip
    return {**base, **kw}
