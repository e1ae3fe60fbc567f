r"""Numerics shared by the functionals: reductions, stable powers, the fused NCE+RCE backward.

Powers of probabilities are taken in log space (``p^g = exp(g log p)``, ``1 - p =
-expm1(log p)``), never as ``p ** g``: loss and gradient stay finite for extreme logits and
for every exponent ``g > 0`` (see the package docstring).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable


def _target_log_prob(logp: Tensor, target: Tensor) -> Tensor:
    """``log p_t`` per sample: (N, C), (N,) -> (N,)."""
    return logp.gather(1, target.unsqueeze(1)).squeeze(1)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # The mean of an empty batch is 0, with a graph, instead of NaN.
    return loss.mean() if loss.numel() > 0 else loss.sum()


def _pow_exp(log_base: Tensor, exponent: float) -> Tensor:
    """``base ** exponent`` as ``exp(exponent * log base)``: finite gradient for any base > 0."""
    return torch.exp(log_base * exponent)


def _one_minus_pow(log_pt: Tensor, gamma: float) -> Tensor:
    """``(1 - p_t) ** gamma`` for gamma > 0, with a finite gradient everywhere.

    ``1 - p_t = -expm1(log p_t)`` is accurate when p_t is near 1. Where it is exactly 0 the
    power is 0 and its gradient is taken as 0 (the derivative ``gamma u^(gamma-1)`` is infinite
    there for gamma < 1, but every caller multiplies it by ``-log p_t = 0``, whose product
    tends to 0). Elsewhere ``u^gamma = exp(gamma log u)``, whose backward divides by ``u > 0``
    instead of forming ``u^(gamma-1)``, so it cannot overflow to inf.
    """
    u = -torch.expm1(log_pt)  # 1 - p_t, in [0, 1]
    positive = u > 0
    u_safe = torch.where(positive, u, torch.ones_like(u))
    return torch.where(positive, torch.exp(torch.log(u_safe) * gamma), torch.zeros_like(u))


class _NCERCE(torch.autograd.Function):
    """Per-sample ``alpha * NCE + beta * RCE`` with a fused analytic backward.

    Autograd through ``logp.sum(dim=1)`` costs two extra (N, C) passes; this backward needs
    one. With ``S = sum_k log p_k`` and ``l = alpha log p_t / S + B expm1(log p_t)``
    (``B = beta * log_zero``): ``dl/dlog p_t = a = alpha / S + B p_t`` and
    ``dl/dS = b = -alpha log p_t / S^2``, so ``dl/dlog p_k = b + [k = t] a`` and through
    ``log_softmax``: ``dl/dz_j = b + [j = t] a - p_j (C b + a)``. Checked against autograd
    by ``torch.autograd.gradcheck`` in the tests.
    """

    @staticmethod
    def forward(ctx, x: Tensor, target: Tensor, alpha: float, rce_coef: float) -> Tensor:
        logp = F.log_softmax(x, dim=1)  # (N, C)
        log_pt = _target_log_prob(logp, target)  # (N,)
        denom = logp.sum(dim=1)  # (N,), < 0 for C >= 2 (see nce_rce's docstring)
        ctx.save_for_backward(logp, target, log_pt, denom)
        ctx.alpha, ctx.rce_coef = alpha, rce_coef
        return (log_pt / denom) * alpha + torch.expm1(log_pt) * rce_coef

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        logp, target, log_pt, denom = ctx.saved_tensors
        a = grad * (ctx.alpha / denom + torch.exp(log_pt) * ctx.rce_coef)  # (N,)
        b = grad * ((log_pt / denom) / denom * -ctx.alpha)  # (N,); no S^2 overflow
        c = logp.shape[1]
        grad_x = torch.exp(logp).mul_((b * c + a).neg_().unsqueeze(1)).add_(b.unsqueeze(1))
        grad_x.scatter_add_(1, target.unsqueeze(1), a.unsqueeze(1))  # (N, C)
        return grad_x, None, None, None
