"""Predicted class probabilities from a trained model, in eval mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from robustloss.train.inputs import as_tensor


def predict_proba(
    model: nn.Module,
    images: Any,
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
) -> np.ndarray:
    r"""Softmax probabilities of every class for every image.

    .. math::
        P_{ik} = \exp(z_{ik}) / \sum_j \exp(z_{ij})

    with :math:`z` the model's float32 logits, the softmax taken in float64 so that each row
    sums to 1 to within 1e-12. The model runs in eval mode (no dropout) without autograd,
    in float32 whatever precision it was trained in; its train/eval mode is restored after.

    Args:
        model: takes raw images, as :func:`robustloss.train.train` returns it.
        images: raw images, numpy array or tensor, ``(N, H, W)`` or ``(N, H, W, C)``.
        batch_size: images per forward pass (memory only; results do not depend on it
            beyond the last bits of float32 arithmetic).
        device: where to compute; ``None``: where the model's parameters are.

    Returns:
        ``(N, K)`` float64 numpy array.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"Expected argument `batch_size` to be an int >= 1, but got {batch_size!r}"
        )
    x = as_tensor(images)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"Expected `images` of shape (N, H, W) or (N, H, W, C), but got {tuple(x.shape)}"
        )
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            # range(0, 1) when N = 0: one empty forward pass gives the (0, K) shape.
            for start in range(0, max(x.shape[0], 1), batch_size):
                xb = x[start : start + batch_size].to(device, non_blocking=True)
                logits = model(xb).float()  # (B, K)
                out.append(torch.softmax(logits.double(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()
