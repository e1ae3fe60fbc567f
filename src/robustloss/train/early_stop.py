"""Early stopping without ground truth: a held-out part of the *given* (noisy) labels.

N training examples, K classes. With ``TrainConfig.early_stop`` a run holds out a stratified
fraction of its examples (:func:`holdout_split`, stratified on the labels it was given),
trains on the rest, measures accuracy on the held-out part against the given labels after
every epoch and stops once that accuracy has not improved for ``patience`` epochs; the
weights of the best epoch are returned (:class:`EarlyStopping`).

Why noisy labels are enough: Chen et al. (AAAI 2021, "Robustness of Accuracy Metric and its
Inspirations in Learning with Noisy Labels") show that under symmetric-like noise the
accuracy on a noisy validation set ranks models as the clean accuracy does, so a noisy
held-out split selects the epoch without any clean label; Toner & Storkey (2024) use such
label-free stopping for noisy-label training too. The clean labels a benchmark may know
never reach this module: its functions take only the labels the model trains on, and the
engine passes them nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from robustloss.seeds import HOLDOUT_STREAM  # the held-out split's stream id

__all__ = ["EarlyStopping", "holdout_split"]


def holdout_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """``(train_idx, held_idx)``: sorted int64 indices, ``fraction`` of each class held out.

    Args:
        labels: ``(N,)`` int64, the labels the model is given (noisy ones: no clean labels
            are asked for, or taken).
        fraction: in (0, 1); class k holds out ``round(fraction * n_k)`` examples.
        seed: the run's seed (the split uses ``SeedSequence([seed, HOLDOUT_STREAM])``).

    Raises:
        ValueError: no example would be held out, or none left to train on.
    """
    y = labels.cpu().numpy()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), HOLDOUT_STREAM]))
    held = []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        held.append(rng.permutation(idx)[: round(fraction * idx.size)])
    held_idx = np.sort(np.concatenate(held))
    n = y.shape[0]
    if held_idx.size == 0 or held_idx.size == n:
        raise ValueError(
            f"Expected early stopping's holdout={fraction} of {n} examples to leave at least "
            f"one to hold out and one to train on, but it holds out {held_idx.size}"
        )
    train_mask = np.ones(n, dtype=bool)
    train_mask[held_idx] = False
    return torch.from_numpy(np.flatnonzero(train_mask)), torch.from_numpy(held_idx)


@dataclass
class EarlyStopping:
    """Tracks the held-out accuracy per epoch; keeps the best epoch's weights.

    ``first_epoch`` (0-based) is the first epoch that counts: with a cross-entropy warm-up
    (``delay``), an epoch before the chosen loss is in use is never the one returned.
    """

    patience: int
    first_epoch: int = 0
    best_acc: float = -math.inf
    best_epoch: int | None = None  # 1-based
    since_best: int = 0
    best_state: dict[str, Tensor] | None = field(default=None, repr=False)

    def update(self, epoch: int, accuracy: float, model: nn.Module) -> bool:
        """Record 0-based ``epoch``'s held-out accuracy; True when training should stop."""
        if epoch < self.first_epoch:
            return False
        if accuracy > self.best_acc:  # ties keep the earlier (shorter) epoch
            self.best_acc, self.best_epoch, self.since_best = accuracy, epoch + 1, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.since_best += 1
        return self.since_best >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (nothing when none was counted)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
