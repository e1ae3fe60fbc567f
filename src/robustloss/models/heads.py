"""Classifier heads on embeddings: linear and a one-hidden-layer MLP, with standardized inputs.

N examples, D embedding dimensions, K classes, B examples per batch. A head takes *raw*
features ``(B, D)`` (any float dtype) and returns logits ``(B, K)``: a
:class:`FeatureClassifier` puts a :class:`Standardize` layer (the training rows' per-column
mean and standard deviation, stored as buffers so they travel with ``state_dict``) in front
of the network, as :class:`robustloss.models.images.ImageClassifier` does for images.

- ``linear``: ``Linear(D, K)``: multinomial logistic regression, what cleanlab's tutorials
  fit on embeddings.
- ``mlp``: ``Linear(D, H) - ReLU - dropout p - Linear(H, K)`` with :data:`MLP_HIDDEN` = 256
  hidden units and :data:`MLP_DROPOUT` = 0.2 by default: enough capacity to bend the class
  boundaries of a frozen encoder's space, small enough to train in seconds on a CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robustloss.models.images import BitDropout

__all__ = [
    "HEAD_NAMES",
    "MLP_DROPOUT",
    "MLP_HIDDEN",
    "FeatureClassifier",
    "LinearHead",
    "MLPHead",
    "Standardize",
    "make_head",
    "penultimate",
]

HEAD_NAMES: tuple[str, ...] = ("linear", "mlp")

#: Hidden units and dropout of the ``mlp`` head (defaults).
MLP_HIDDEN = 256
MLP_DROPOUT = 0.2


class Standardize(nn.Module):
    """``(x - mean) / std`` per column, in float32.

    Args:
        mean, std: ``(D,)`` per-column statistics; a ``std`` of 0 (a constant column) is
            taken as 1.

    Shape:
        Input: ``(B, D)`` any float dtype. Output: ``(B, D)`` float32.
    """

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(
                f"Expected mean and std of one shape (D,), but got {tuple(mean.shape)} and "
                f"{tuple(std.shape)}"
            )
        std = torch.where(std > 0, std, torch.ones_like(std))
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"Expected features of shape (B, {self.mean.shape[0]}), but got {tuple(x.shape)}"
            )
        return (x.float() - self.mean) / self.std  # (B, D)


class LinearHead(nn.Module):
    """``Linear(D, K)``. Shape: Input ``(B, D)`` float32, Output ``(B, K)`` logits."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        _check_sizes(in_features=in_features, num_classes=num_classes)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)  # (B, K)


class MLPHead(nn.Module):
    """``Linear(D, H) - ReLU - dropout p - Linear(H, K)``.

    Shape: Input ``(B, D)`` float32, Output ``(B, K)`` logits.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        hidden: int = MLP_HIDDEN,
        dropout: float = MLP_DROPOUT,
    ) -> None:
        super().__init__()
        _check_sizes(in_features=in_features, num_classes=num_classes, hidden=hidden)
        self.fc1 = nn.Linear(in_features, hidden)
        self.dropout = BitDropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.fc1(x))  # (B, H)
        return self.fc2(self.dropout(x))  # (B, K)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        low = 2 if name == "num_classes" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}")


class FeatureClassifier(nn.Module):
    """A head with its input standardization: takes raw features, returns logits.

    Shape: Input ``(B, D)``, Output ``(B, K)`` logits.
    """

    def __init__(self, scaling: Standardize, net: nn.Module) -> None:
        super().__init__()
        self.scaling = scaling
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.scaling(x))  # (B, K)


def make_head(
    name: str,
    *,
    in_features: int,
    num_classes: int,
    hidden: int = MLP_HIDDEN,
    dropout: float = MLP_DROPOUT,
) -> nn.Module:
    """A freshly initialised head by name (one of :data:`HEAD_NAMES`); initialisation draws
    from torch's global generator (seed or fork it first)."""
    if name == "linear":
        return LinearHead(in_features, num_classes)
    if name == "mlp":
        return MLPHead(in_features, num_classes, hidden=hidden, dropout=dropout)
    raise ValueError(f"Expected argument `head` to be one of {HEAD_NAMES}, but got {name!r}")


def penultimate(model: nn.Module, x: Tensor) -> Tensor:
    """The input of ``model``'s last ``nn.Linear`` layer for input ``x``: its penultimate
    embeddings (for :class:`~robustloss.models.images.PaperCNN`, the 128 ReLU units of ``fc1``; in
    eval mode, so after an identity dropout). Shape: ``(B, E)``."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take embeddings at")
    seen: list[Tensor] = []
    handle = linears[-1].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[-1].flatten(1)
