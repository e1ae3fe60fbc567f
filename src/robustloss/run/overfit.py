"""The paper's precursor experiment: when does a CE model start to overfit clean labels?

Train cross entropy on a clean training set and watch training and clean test loss per
epoch. The paper (section 4) measured "the crossover point between training and testing
loss", found overfitting to start at roughly 10 epochs, and trained every model for 10.
Reported: both losses per epoch; the first epoch whose test loss exceeds the minimum of the
epochs before it (:func:`first_rise`); the paper's crossover, the first epoch whose training
loss is below its test loss after one where it was not (:func:`crossover`); and the epoch of
the lowest test loss. The training loss is the running mean over the epoch's batches (train
mode, dropout on), the test loss is measured after the epoch in eval mode.

An experiment, not part of training: it loads a dataset (:mod:`robustloss.data`) and calls
:func:`robustloss.train.train`, so it lives above both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from robustloss.data import load_dataset
from robustloss.seeds import OVERFIT_SUBSET_STREAM
from robustloss.train import TrainConfig, train

# The experiment is cross entropy on clean labels: these are not free to override.
_FIXED = ("loss", "loss_params", "delay", "epochs", "seed")


def first_rise(losses: Sequence[float]) -> int | None:
    """1-based epoch of the first loss above the minimum of all epochs before it, or None.

    >>> first_rise([0.5, 0.3, 0.2, 0.25, 0.1])
    4
    """
    best = math.inf
    for i, value in enumerate(losses):
        if value > best:
            return i + 1
        best = min(best, value)
    return None


def crossover(train_losses: Sequence[float], test_losses: Sequence[float]) -> int | None:
    """1-based epoch where training loss first drops below test loss after not being below.

    None when the curves never cross that way (including training loss below test loss from
    the first epoch on).

    >>> crossover([0.9, 0.5, 0.2], [0.6, 0.4, 0.3])
    3
    """
    was_above = False
    for i, (tr, te) in enumerate(zip(train_losses, test_losses, strict=True)):
        if tr < te and was_above:
            return i + 1
        was_above = was_above or tr >= te
    return None


def _subset(n: int, size: int | None, rng: np.random.Generator) -> np.ndarray | None:
    if size is None or size >= n:
        return None
    return np.sort(rng.choice(n, size=size, replace=False))


def find_overfit_point(
    dataset: str,
    *,
    epochs: int = 15,
    subset: int | None = None,
    seed: int = 0,
    root: str | None = None,
    download: bool = True,
    quiet: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Train CE on ``dataset``'s clean training set, evaluating on its test set each epoch.

    Args:
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        epochs: epochs to train (more than the expected overfit point, so it can show).
        subset: use a random ``subset`` of the training images and at most as many test
            images (drawn with ``seed``); None: all of them.
        seed: training seed (and subset draw).
        root, download: passed to :func:`robustloss.data.load_dataset`.
        quiet: no progress bars.
        **overrides: other :class:`TrainConfig` fields (``precision``, ``batch_size``, ``lr``,
            ``threads``, ...); not ``loss``, ``loss_params``, ``delay``.

    Returns:
        A JSON-ready dict: ``dataset``, ``n_train``, ``n_test``, ``epochs``, ``train_loss``,
        ``test_loss``, ``test_acc`` (lists, one per epoch), ``overfit_epoch``
        (:func:`first_rise` of the test loss, None if it never rose), ``crossover_epoch``
        (:func:`crossover`, None if none), ``best_epoch`` (lowest test loss, 1-based),
        ``seconds``, ``history``, ``config`` and ``environment``.
    """
    fixed = sorted(set(overrides) & set(_FIXED))
    if fixed:
        raise ValueError(
            f"find_overfit_point trains cross entropy without delay; it does not take {fixed}"
        )
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int) or subset < 1
    ):
        raise ValueError(f"Expected `subset` to be an int >= 1 or None, but got {subset!r}")
    # test_every=1: this experiment IS the per-epoch test curve.
    overrides.setdefault("test_every", 1)
    config = TrainConfig(epochs=epochs, seed=seed, loss="ce", delay=0, **overrides)
    images, labels = load_dataset(dataset, "train", root=root, download=download)
    test_images, test_labels = load_dataset(dataset, "test", root=root, download=download)
    rng = np.random.default_rng([seed, OVERFIT_SUBSET_STREAM])
    idx = _subset(images.shape[0], subset, rng)
    if idx is not None:
        images, labels = images[idx], labels[idx]
    idx = _subset(test_images.shape[0], subset, rng)
    if idx is not None:
        test_images, test_labels = test_images[idx], test_labels[idx]

    t0 = time.perf_counter()
    result = train(
        config, images, labels, test_images=test_images, test_labels=test_labels, quiet=quiet
    )
    train_loss = [r["train_loss"] for r in result.history]
    test_loss = [r["test_loss"] for r in result.history]
    return {
        "dataset": dataset,
        "n_train": int(images.shape[0]),
        "n_test": int(test_images.shape[0]),
        "epochs": epochs,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "test_acc": [r["test_acc"] for r in result.history],
        "overfit_epoch": first_rise(test_loss),
        "crossover_epoch": crossover(train_loss, test_loss),
        "best_epoch": int(np.argmin(test_loss)) + 1,
        "seconds": time.perf_counter() - t0,
        "history": result.history,
        "config": result.config,
        "environment": result.environment,
    }
