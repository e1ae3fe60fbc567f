"""Per-example logit margins, summed over the training forward passes (for AUM).

N training examples, K logits. The margin of example i in one forward pass is

.. math::
    m_i = z_i[y_i] - \\max_{k \\ne y_i} z_i[k]

with ``z`` the float32 logits of the training pass (train mode: dropout on, weights moving)
and ``y_i`` the label trained on. Pleiss et al. (2020, "Identifying Mislabeled Data using the
Area Under the Margin Ranking") average it over the training epochs: the AUM. The training
loop (:func:`robustloss.train.loop.run_epoch`) adds each batch's margins into a
:class:`MarginAccumulator` from the logits it computed anyway (no extra forward pass), under
``torch.no_grad()``; :class:`MarginRecord` is what a run hands on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

__all__ = ["MarginAccumulator", "MarginRecord", "batch_margins"]


def batch_margins(logits: Tensor, y: Tensor) -> Tensor:
    """(B,) margins ``z[y] - max_{k != y} z[k]`` of (B, K) ``logits`` and (B,) labels ``y``."""
    assigned = logits.gather(1, y[:, None]).squeeze(1)  # (B,)
    others = logits.scatter(1, y[:, None], float("-inf"))  # (B, K), the assigned logit masked
    return assigned - others.amax(1)


@dataclasses.dataclass(frozen=True)
class MarginRecord:
    """Margins of N examples summed over the forward passes that trained on them.

    Attributes:
        sum: (N,) float64, the sum of the margins.
        count: (N,) int64, how many passes contributed (the epochs, per model; 0 for an
            example never trained on, e.g. held out by early stopping).
    """

    sum: np.ndarray
    count: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """(N,) float64 AUM: ``sum / count``; NaN where ``count == 0``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), np.nan)

    def scattered(self, rows: np.ndarray, n: int) -> MarginRecord:
        """This record's examples at positions ``rows`` of a record of ``n`` examples."""
        total, count = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64)
        total[rows], count[rows] = self.sum, self.count
        return MarginRecord(sum=total, count=count)

    def __add__(self, other: MarginRecord) -> MarginRecord:
        if self.sum.shape != other.sum.shape:
            raise ValueError(
                f"Expected margin records of the same N, but got {self.sum.shape[0]} and "
                f"{other.sum.shape[0]}"
            )
        return MarginRecord(sum=self.sum + other.sum, count=self.count + other.count)


class MarginAccumulator:
    """Device-side (N,) float64 margin sums and int64 counts, added to batch by batch."""

    def __init__(self, n: int, device: torch.device):
        self.sum = torch.zeros(n, dtype=torch.float64, device=device)
        self.count = torch.zeros(n, dtype=torch.int64, device=device)

    @torch.no_grad()
    def add(self, idx: Tensor, logits: Tensor, y: Tensor) -> None:
        """Add the margins of a batch: rows ``idx`` (B,), float32 ``logits`` (B, K), ``y`` (B,)."""
        self.sum.index_add_(0, idx, batch_margins(logits.detach(), y).double())
        self.count.index_add_(0, idx, torch.ones_like(idx))

    def record(self) -> MarginRecord:
        return MarginRecord(sum=self.sum.cpu().numpy(), count=self.count.cpu().numpy())
