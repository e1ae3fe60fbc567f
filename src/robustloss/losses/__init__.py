r"""Loss functions robust to label errors, in PyTorch's conventions.

Notation (fixed for the whole module): N samples, C classes; ``input`` holds raw logits
``z`` of shape ``(N, C)``; ``target`` holds class indices ``t`` of shape ``(N,)`` with values
in ``[0, C)``; ``p = softmax(z)`` and ``p_t`` is the probability of the labelled class.
Equation numbers (1)-(4) are those of Pellegrino, Szczecina and Fieguth, *Loss Functions
Robust to the Presence of Label Errors* (the paper this package implements):

* ``cross_entropy``: :math:`-\log p_t`, equation (1);
* ``focal_loss``: :math:`-(1 - p_t)^\gamma \log p_t`, equation (2) (Lin et al. 2017);
* ``blurry_loss``: :math:`-p_t^\gamma \log p_t`, equation (3);
* ``piecewise_zero_loss``: :math:`0` if :math:`p_t \le c`, else :math:`-\log p_t`,
  equation (4);
* ``generalized_cross_entropy``: :math:`(1 - p_t^q) / q` (Zhang & Sabuncu 2018);
* ``mean_absolute_error``: :math:`\sum_k |e_{t,k} - p_k| = 2 (1 - p_t)` (Ghosh et al. 2017);
* ``symmetric_cross_entropy``: :math:`\alpha\,CE + \beta\,RCE` (Wang et al. 2019);
* ``nce_rce``: :math:`\alpha\,NCE + \beta\,RCE` (Ma et al. 2020).

Every functional takes ``(input, target, *, <hyperparameters>, reduction="mean")`` and has a
thin ``nn.Module`` twin that validates its arguments in ``__init__``. ``make_loss(name,
**params)`` builds a Module by name (:data:`LOSS_NAMES`, :data:`LOSS_PARAMS`) and
:class:`ScheduledLoss` switches from a warm-up loss (cross entropy) to the main loss after
``delay`` epochs (the paper's loss scheduling, section 3.3).

Numerics, shared by all losses:

* Everything is computed from ``log_softmax``: powers are taken as
  ``p_t^g = exp(g * log p_t)`` and ``1 - p_t = -expm1(log p_t)``, never as ``pt ** g``,
  so loss and gradient stay finite for logits as extreme as +-1e4 and for every exponent
  ``g > 0``, including ``g < 1`` where a naive power has an infinite derivative at 0.
* float16 and bfloat16 inputs are computed in float32 and the loss is returned in
  **float32** (the gradient reaches the half-precision input in its own dtype). float32 and
  float64 inputs are computed and returned in their own dtype.
* ``reduction="mean"`` of an empty batch is ``0`` (not NaN as in
  ``torch.nn.functional.cross_entropy``) and still supports ``backward()``, so a training
  loop never has to special-case an empty batch.
* ``target`` may have any integer dtype (int64 is the convention; others are converted).
* Bad arguments raise ``ValueError`` naming the argument, what was expected and what was got.
  Nothing is clipped silently. Logits are expected to be finite (not checked: a check would
  cost a pass over the input and a device synchronisation on every call).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = [
    "CONFIG_LOSS_PARAMS",
    "LOSS_NAMES",
    "LOSS_PARAMS",
    "LOSS_PARAM_SPECS",
    "REDUCTIONS",
    "BlurryLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "GCELoss",
    "LossParam",
    "MAELoss",
    "NCERCELoss",
    "PiecewiseZeroLoss",
    "SCELoss",
    "ScheduledLoss",
    "blurry_loss",
    "cross_entropy",
    "focal_loss",
    "generalized_cross_entropy",
    "make_loss",
    "mean_absolute_error",
    "nce_rce",
    "piecewise_zero_loss",
    "symmetric_cross_entropy",
]

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

_HALF_DTYPES = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------------------
# Validation: arguments first, then tensors; each helper raises a ValueError that names the
# argument, what was expected and what was got.
# --------------------------------------------------------------------------------------


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"Expected argument `reduction` to be one of {REDUCTIONS}, but got {reduction!r}"
        )
    return reduction


def _check_real(name: str, value: Any, expected: str, ok: Callable[[float], bool]) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not ok(float(value))
    ):
        raise ValueError(f"Expected argument `{name}` to be {expected}, but got {value!r}")
    return float(value)


def _check_gamma(gamma: Any) -> float:
    return _check_real("gamma", gamma, "a finite float >= 0", lambda v: v >= 0.0)


def _check_cutoff(cutoff: Any) -> float:
    return _check_real("cutoff", cutoff, "a float in [0, 1)", lambda v: 0.0 <= v < 1.0)


def _check_q(q: Any) -> float:
    return _check_real("q", q, "a float in (0, 1]", lambda v: 0.0 < v <= 1.0)


def _check_weight(name: str, value: Any) -> float:
    return _check_real(name, value, "a finite float >= 0", lambda v: v >= 0.0)


def _check_log_zero(log_zero: Any) -> float:
    return _check_real("log_zero", log_zero, "a finite float < 0", lambda v: v < 0.0)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Expected argument `{name}` to be a bool, but got {value!r}")
    return value


def _prepare(input: Any, target: Any, *, min_classes: int = 1) -> tuple[Tensor, Tensor]:
    """Validate ``input`` (N, C) logits and ``target`` (N,) indices; return compute tensors.

    Half-precision logits are cast to float32 (differentiably); the target is returned as
    int64 (the index dtype ``gather`` needs).
    """
    if not isinstance(input, Tensor):
        raise ValueError(
            f"Expected argument `input` to be a torch.Tensor of logits, but got "
            f"{type(input).__name__}"
        )
    if not isinstance(target, Tensor):
        raise ValueError(
            f"Expected argument `target` to be a torch.Tensor of class indices, but got "
            f"{type(target).__name__}"
        )
    if not input.is_floating_point():
        raise ValueError(
            "Expected argument `input` to have a floating dtype (float16, bfloat16, float32 "
            f"or float64), but got {input.dtype}"
        )
    if input.dim() != 2:
        raise ValueError(
            f"Expected argument `input` to be logits of shape (N, C), but got shape "
            f"{tuple(input.shape)}"
        )
    n, c = input.shape
    if c < min_classes:
        raise ValueError(
            f"Expected argument `input` to have at least {min_classes} class column(s), but "
            f"got shape {tuple(input.shape)}"
        )
    if target.dtype == torch.bool or target.is_floating_point() or target.is_complex():
        raise ValueError(
            "Expected argument `target` to hold class indices with an integer dtype "
            f"(torch.int64), but got {target.dtype}"
        )
    if target.dim() != 1 or target.shape[0] != n:
        raise ValueError(
            f"Expected argument `target` to have shape (N,) = ({n},) to match `input` of shape "
            f"{tuple(input.shape)}, but got shape {tuple(target.shape)}"
        )
    if n > 0:
        low, high = torch.aminmax(target)
        low_v, high_v = int(low), int(high)
        if low_v < 0 or high_v >= c:
            raise ValueError(
                f"Expected argument `target` to have values in [0, {c}) (C = {c} classes), "
                f"but got values from {low_v} to {high_v}"
            )
    if input.dtype in _HALF_DTYPES:
        input = input.float()
    if target.dtype != torch.int64:
        target = target.long()
    return input, target


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


# --------------------------------------------------------------------------------------
# Functionals
# --------------------------------------------------------------------------------------


def cross_entropy(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Cross entropy, the paper's equation (1).

    .. math::
        \ell_i = CE(p_t) = -\log p_t, \qquad p = \mathrm{softmax}(z_i)

    ``torch.nn.functional.cross_entropy`` with this module's conventions: half precision is
    computed in float32, targets are range-checked with a ``ValueError``, and the mean of an
    empty batch is 0.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        reduction: ``"mean"`` (average over the N samples), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`, float16, bfloat16, float32 or float64.
        - Target: :math:`(N,)`, integer (int64).
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``; float32 for half-precision
          input, else the input dtype.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = cross_entropy(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    x, t = _prepare(input, target)
    return _reduce(F.cross_entropy(x, t, reduction="none"), reduction)


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    detach_weight: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Focal loss (Lin et al. 2017), the paper's equation (2): emphasises hard samples.

    .. math::
        \ell_i = FL(p_t) = -(1 - p_t)^\gamma \log p_t

    ``gamma = 0`` is cross entropy (1). With ``detach_weight=False`` (the default, Lin et al.'s
    loss as in ``torchvision.ops.sigmoid_focal_loss``) the gradient flows through the weight
    :math:`(1 - p_t)^\gamma`; with ``detach_weight=True`` the weight is a constant in the
    backward pass (gradient :math:`(1-p_t)^\gamma \nabla CE`), the variant of the paper
    authors' code. The weight is computed as ``exp(gamma * log(-expm1(log p_t)))`` so that
    the gradient stays finite for ``gamma < 1`` as ``p_t -> 1``.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        gamma: focusing exponent :math:`\gamma \ge 0`.
        detach_weight: treat :math:`(1 - p_t)^\gamma` as a constant in the backward pass.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = focal_loss(logits, target, gamma=2.0)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    detach_weight = _check_bool("detach_weight", detach_weight)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    if gamma == 0.0:  # (1 - p_t)^0 = 1, also where p_t = 1
        return _reduce(-log_pt, reduction)
    weight = _one_minus_pow(log_pt, gamma)  # (N,)
    if detach_weight:
        weight = weight.detach()
    return _reduce(-weight * log_pt, reduction)


def blurry_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float,
    detach_weight: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Blurry loss, the paper's equation (3): de-weights samples with a low :math:`p_t`.

    .. math::
        \ell_i = BL(p_t) = -p_t^\gamma \log p_t, \qquad p_t^\gamma = \exp(\gamma \log p_t)

    ``gamma = 0`` is cross entropy (1). The value lies in :math:`[0, CE]`; for
    :math:`\gamma > 0` it is zero at both ends (:math:`p_t \to 0` and :math:`p_t = 1`) with a
    maximum :math:`1/(e\gamma)` at :math:`p_t = e^{-1/\gamma}`.

    The two gradients (with :math:`\nabla CE = (p - e_t)`, the cross-entropy gradient with
    respect to the logits, :math:`e_t` the one-hot target):

    * ``detach_weight=True`` (**default**): the weight :math:`p_t^\gamma` is a constant in the
      backward pass, as in the authors' early implementation, the one that very likely
      produced the paper's results. The gradient is :math:`p_t^\gamma \nabla CE`: identical
      to the gradient of generalized cross entropy with :math:`q = \gamma`
      (:func:`generalized_cross_entropy`); only the reported loss value differs.
    * ``detach_weight=False``: the literal formula (3), gradient flowing through
      :math:`p_t^\gamma`: :math:`p_t^\gamma (1 + \gamma \log p_t) \nabla CE`. It changes sign
      below :math:`p_t = e^{-1/\gamma}` (the loss is non-monotone), so samples the model
      already gets badly wrong, including correctly labelled ones at initialisation, are
      pushed further away. Measured here: with :math:`\gamma = 0.4` from epoch 0 (delay
      :math:`d = 0`) it collapsed, 9.9% training accuracy after 10 epochs on MNIST, while the
      detached variant reached a label-error detection F1 of 0.987. Use it only to study
      the formula as printed.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        gamma: exponent :math:`\gamma \ge 0` (required: the paper sweeps it; 0.2-0.5 work).
        detach_weight: treat :math:`p_t^\gamma` as a constant in the backward pass.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = blurry_loss(logits, target, gamma=0.4)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    detach_weight = _check_bool("detach_weight", detach_weight)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    weight = _pow_exp(log_pt, gamma)  # p_t^gamma, (N,)
    if detach_weight:
        weight = weight.detach()
    return _reduce(-weight * log_pt, reduction)


def piecewise_zero_loss(
    input: Tensor, target: Tensor, *, cutoff: float, reduction: str = "mean"
) -> Tensor:
    r"""Piecewise-zero loss, the paper's equation (4): ignores samples with :math:`p_t \le c`.

    .. math::
        \ell_i = PZ(p_t) = \begin{cases} 0 & p_t \le c \\ -\log p_t & p_t > c \end{cases}

    Below (and at) the cutoff both the value and the gradient are exactly zero, so those
    samples do not move the weights; above it value and gradient are exactly cross
    entropy's. ``cutoff = 0`` is cross entropy. The comparison is made in log space,
    :math:`\log p_t \le \log c`, so it stays right when :math:`p_t` underflows. With
    ``reduction="mean"`` the sum is divided by all N samples, ignored ones included.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        cutoff: :math:`c \in [0, 1)` (required; the paper's best is 0.05).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = piecewise_zero_loss(logits, target, cutoff=0.05)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    cutoff = _check_cutoff(cutoff)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    ce = -log_pt
    if cutoff == 0.0:
        return _reduce(ce, reduction)
    keep = log_pt > math.log(cutoff)  # p_t > c
    return _reduce(torch.where(keep, ce, torch.zeros_like(ce)), reduction)


def generalized_cross_entropy(
    input: Tensor, target: Tensor, *, q: float = 0.7, reduction: str = "mean"
) -> Tensor:
    r"""Generalized cross entropy (Zhang & Sabuncu 2018).

    .. math::
        \ell_i = \frac{1 - p_t^q}{q} = -\frac{\mathrm{expm1}(q \log p_t)}{q} \in [0, 1/q]

    Its gradient is :math:`p_t^q \nabla CE`: the same as detached Blurry loss with
    :math:`\gamma = q`. :math:`q \to 0` approaches cross entropy, :math:`q = 1` is
    :math:`1 - p_t`, half the MAE.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        q: exponent :math:`q \in (0, 1]`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = generalized_cross_entropy(logits, target, q=0.7)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    q = _check_q(q)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    return _reduce(torch.expm1(log_pt * q) / -q, reduction)


def mean_absolute_error(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Mean absolute error between the one-hot target and the softmax (Ghosh et al. 2017).

    .. math::
        \ell_i = \sum_k |e_{t,k} - p_k| = 2 (1 - p_t) = -2\,\mathrm{expm1}(\log p_t) \in [0, 2]

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = mean_absolute_error(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    return _reduce(torch.expm1(log_pt) * -2.0, reduction)


def symmetric_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Symmetric cross entropy (Wang et al. 2019): cross entropy plus reverse cross entropy.

    .. math::
        \ell_i = \alpha\,CE + \beta\,RCE, \qquad
        RCE = -\sum_k p_k \log e_{t,k} = -A (1 - p_t)

    where :math:`\log 0` is replaced by the constant :math:`A` = ``log_zero`` < 0 (the
    paper's :math:`A = -4`), so :math:`RCE \in [0, -A]`.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        alpha: weight of cross entropy, >= 0.
        beta: weight of reverse cross entropy, >= 0.
        log_zero: the value :math:`A < 0` that stands for :math:`\log 0`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = symmetric_cross_entropy(logits, target, alpha=0.1, beta=1.0)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    alpha = _check_weight("alpha", alpha)
    beta = _check_weight("beta", beta)
    log_zero = _check_log_zero(log_zero)
    x, t = _prepare(input, target)
    log_pt = _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)
    # alpha * (-log p_t) + beta * (-A) * (1 - p_t), with 1 - p_t = -expm1(log p_t)
    loss = log_pt * -alpha + torch.expm1(log_pt) * (beta * log_zero)
    return _reduce(loss, reduction)


def nce_rce(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    log_zero: float = -4.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Normalized cross entropy plus reverse cross entropy (Ma et al. 2020, "NCE+RCE").

    .. math::
        \ell_i = \alpha\,NCE + \beta\,RCE, \qquad
        NCE = \frac{\log p_t}{\sum_k \log p_k} \in [0, 1], \qquad RCE = -A (1 - p_t)

    with :math:`A` = ``log_zero`` as in :func:`symmetric_cross_entropy`. The denominator is
    the row sum of ``log_softmax``, finite for finite logits however extreme, and strictly
    negative for C >= 2: ``log_softmax`` subtracts the row maximum first, so every
    non-maximal class has :math:`\log p_k \le z_k - \max z < 0` and tied maxima share
    :math:`\log p_k = -\log(\#\text{ties}) < 0` exactly. Needs C >= 2 classes.

    Args:
        input: logits.
        target: class indices in ``[0, C)``.
        alpha: weight of NCE, >= 0.
        beta: weight of RCE, >= 0.
        log_zero: the value :math:`A < 0` that stands for :math:`\log 0`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` with :math:`C \ge 2`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        >>> loss = nce_rce(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    alpha = _check_weight("alpha", alpha)
    beta = _check_weight("beta", beta)
    log_zero = _check_log_zero(log_zero)
    x, t = _prepare(input, target, min_classes=2)
    return _reduce(_NCERCE.apply(x, t, alpha, beta * log_zero), reduction)


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


# --------------------------------------------------------------------------------------
# Modules: validate in __init__, call the functional in forward.
# --------------------------------------------------------------------------------------


class _Loss(nn.Module):
    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def _hyper(self) -> dict[str, Any]:
        return {}

    def extra_repr(self) -> str:
        items = {**self._hyper(), "reduction": self.reduction}
        return ", ".join(f"{k}={v!r}" for k, v in items.items())


class CrossEntropyLoss(_Loss):
    r"""Module form of :func:`cross_entropy`: :math:`-\log p_t` (equation (1)).

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = CrossEntropyLoss()
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(input, target, reduction=self.reduction)


class FocalLoss(_Loss):
    r"""Module form of :func:`focal_loss`: :math:`-(1 - p_t)^\gamma \log p_t` (equation (2)).

    Args:
        gamma: focusing exponent >= 0 (default 2.0, Lin et al.'s choice).
        detach_weight: treat the weight as a constant in backward (default ``False``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = FocalLoss(gamma=2.0)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(
        self, *, gamma: float = 2.0, detach_weight: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.gamma = _check_gamma(gamma)
        self.detach_weight = _check_bool("detach_weight", detach_weight)

    def _hyper(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "detach_weight": self.detach_weight}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return focal_loss(
            input,
            target,
            gamma=self.gamma,
            detach_weight=self.detach_weight,
            reduction=self.reduction,
        )


class BlurryLoss(_Loss):
    r"""Module form of :func:`blurry_loss`: :math:`-p_t^\gamma \log p_t` (equation (3)).

    By default (``detach_weight=True``) the weight :math:`p_t^\gamma` is a constant in the
    backward pass, as in the authors' early implementation: the gradient is then
    :math:`p_t^\gamma \nabla CE`, identical to GCE's with :math:`q = \gamma`.
    ``detach_weight=False`` follows the literal formula, gradient
    :math:`p_t^\gamma (1 + \gamma \log p_t) \nabla CE`, which changes sign below
    :math:`p_t = e^{-1/\gamma}`; measured here it collapsed training (9.9% training accuracy
    after 10 epochs on MNIST, :math:`\gamma = 0.4`, :math:`d = 0`) where the detached variant
    reached detection F1 0.987. See :func:`blurry_loss`.

    Args:
        gamma: exponent >= 0 (required).
        detach_weight: treat :math:`p_t^\gamma` as a constant in backward (default ``True``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = BlurryLoss(gamma=0.4)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(
        self, *, gamma: float, detach_weight: bool = True, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.gamma = _check_gamma(gamma)
        self.detach_weight = _check_bool("detach_weight", detach_weight)

    def _hyper(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "detach_weight": self.detach_weight}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return blurry_loss(
            input,
            target,
            gamma=self.gamma,
            detach_weight=self.detach_weight,
            reduction=self.reduction,
        )


class PiecewiseZeroLoss(_Loss):
    r"""Module form of :func:`piecewise_zero_loss`: 0 if :math:`p_t \le c` else CE (eq. (4)).

    Args:
        cutoff: :math:`c \in [0, 1)` (required).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = PiecewiseZeroLoss(cutoff=0.05)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(self, *, cutoff: float, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.cutoff = _check_cutoff(cutoff)

    def _hyper(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return piecewise_zero_loss(input, target, cutoff=self.cutoff, reduction=self.reduction)


class GCELoss(_Loss):
    r"""Module form of :func:`generalized_cross_entropy`: :math:`(1 - p_t^q)/q`.

    Args:
        q: exponent in (0, 1] (default 0.7, Zhang & Sabuncu's choice).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = GCELoss(q=0.7)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(self, *, q: float = 0.7, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.q = _check_q(q)

    def _hyper(self) -> dict[str, Any]:
        return {"q": self.q}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return generalized_cross_entropy(input, target, q=self.q, reduction=self.reduction)


class MAELoss(_Loss):
    r"""Module form of :func:`mean_absolute_error`: :math:`2 (1 - p_t)`.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = MAELoss()
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mean_absolute_error(input, target, reduction=self.reduction)


class SCELoss(_Loss):
    r"""Module form of :func:`symmetric_cross_entropy`: :math:`\alpha CE + \beta RCE`.

    Args:
        alpha: weight of cross entropy (default 0.1).
        beta: weight of reverse cross entropy (default 1.0).
        log_zero: the constant standing for :math:`\log 0` (default -4.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = SCELoss(alpha=0.1, beta=1.0)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        beta: float = 1.0,
        log_zero: float = -4.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.alpha = _check_weight("alpha", alpha)
        self.beta = _check_weight("beta", beta)
        self.log_zero = _check_log_zero(log_zero)

    def _hyper(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "log_zero": self.log_zero}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return symmetric_cross_entropy(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            log_zero=self.log_zero,
            reduction=self.reduction,
        )


class NCERCELoss(_Loss):
    r"""Module form of :func:`nce_rce`: :math:`\alpha NCE + \beta RCE`.

    Args:
        alpha: weight of normalized cross entropy (default 1.0).
        beta: weight of reverse cross entropy (default 1.0).
        log_zero: the constant standing for :math:`\log 0` (default -4.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        - Input: :math:`(N, C)` logits, :math:`C \ge 2`.
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        >>> criterion = NCERCELoss(alpha=1.0, beta=1.0)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        log_zero: float = -4.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.alpha = _check_weight("alpha", alpha)
        self.beta = _check_weight("beta", beta)
        self.log_zero = _check_log_zero(log_zero)

    def _hyper(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "log_zero": self.log_zero}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return nce_rce(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            log_zero=self.log_zero,
            reduction=self.reduction,
        )


# --------------------------------------------------------------------------------------
# Registry and scheduling
# --------------------------------------------------------------------------------------

LOSS_NAMES: tuple[str, ...] = ("ce", "focal", "blurry", "pz", "gce", "mae", "sce", "nce+rce")

@dataclass(frozen=True)
class LossParam:
    """One loss hyperparameter: the single place its name, type, help and owners live.

    Attributes:
        name: the keyword argument of the loss Modules (and the RunConfig field / CLI flag).
        type: ``float`` or ``bool``.
        help: one line for ``--help``.
        losses: the loss names that accept it, in :data:`LOSS_NAMES` order.
        config: whether runs expose it as a setting (RunConfig field, CLI flag, spec key);
            ``log_zero`` is a library-only option.
    """

    name: str
    type: type
    help: str
    losses: tuple[str, ...]
    config: bool = True


#: Every loss hyperparameter, in the order flags and config fields list them.
LOSS_PARAM_SPECS: dict[str, LossParam] = {
    p.name: p
    for p in (
        LossParam("gamma", float, "focal / blurry exponent (required for blurry)",
                  ("focal", "blurry")),
        LossParam("cutoff", float, "pz cutoff c in [0, 1) (required for pz)", ("pz",)),
        LossParam("q", float, "gce exponent q in (0, 1]", ("gce",)),
        LossParam("alpha", float, "sce / nce+rce weight of the first term", ("sce", "nce+rce")),
        LossParam("beta", float, "sce / nce+rce weight of the reverse CE term",
                  ("sce", "nce+rce")),
        LossParam("detach_weight", bool,
                  "focal / blurry: treat the weight as a constant (blurry's default: detached)",
                  ("focal", "blurry")),
        LossParam("log_zero", float, "sce / nce+rce: the value taken for log 0 in RCE",
                  ("sce", "nce+rce"), config=False),
    )
}

#: The hyperparameters each loss accepts (``reduction`` is accepted by all of them).
LOSS_PARAMS: dict[str, tuple[str, ...]] = {
    name: tuple(p.name for p in LOSS_PARAM_SPECS.values() if name in p.losses)
    for name in LOSS_NAMES
}

#: The hyperparameters a run exposes as settings (RunConfig fields, CLI flags, spec keys).
CONFIG_LOSS_PARAMS: tuple[str, ...] = tuple(p.name for p in LOSS_PARAM_SPECS.values() if p.config)

_LOSS_CLASSES: dict[str, type[_Loss]] = {
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "blurry": BlurryLoss,
    "pz": PiecewiseZeroLoss,
    "gce": GCELoss,
    "mae": MAELoss,
    "sce": SCELoss,
    "nce+rce": NCERCELoss,
}

# Hyperparameters without a default: the paper sweeps them, no value is a safe default.
_REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {"blurry": ("gamma",), "pz": ("cutoff",)}


def make_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss Module called ``name`` (one of :data:`LOSS_NAMES`).

    ``params`` are the keyword arguments of that Module: those in ``LOSS_PARAMS[name]`` plus
    ``reduction``. A value of ``None`` means "the loss's default" (so a config can carry
    unset fields); a required parameter (blurry's ``gamma``, pz's ``cutoff``) must be given.

    Raises:
        ValueError: unknown ``name``; a parameter that ``name`` does not accept (the message
            lists those it does); a missing required parameter; an invalid value.

    Examples::

        >>> criterion = make_loss("blurry", gamma=0.4)
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """
    if name not in _LOSS_CLASSES:
        raise ValueError(f"Expected argument `name` to be one of {LOSS_NAMES}, but got {name!r}")
    accepted = (*LOSS_PARAMS[name], "reduction")
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"loss {name!r} does not accept parameter(s) {unknown}; it accepts {list(accepted)}"
        )
    given = {key: value for key, value in params.items() if value is not None}
    missing = [key for key in _REQUIRED_PARAMS.get(name, ()) if key not in given]
    if missing:
        raise ValueError(
            f"loss {name!r} requires parameter(s) {missing} (no default); it accepts "
            f"{list(accepted)}"
        )
    return _LOSS_CLASSES[name](**given)


class ScheduledLoss(nn.Module):
    r"""Loss scheduling (the paper's section 3.3): ``warmup`` for ``delay`` epochs, then ``main``.

    The epoch is set from outside with :meth:`set_epoch` (0-based, call it at the start of
    every epoch). Epochs ``0 .. delay-1`` use ``warmup`` (cross entropy by default); from
    epoch ``delay`` on, ``main``. So ``delay`` counts warm-up epochs and ``delay = 0`` means
    ``main`` from the first epoch, as in the authors' code.

    Args:
        main: the loss used after the warm-up, e.g. ``BlurryLoss(gamma=0.4)``.
        delay: number of warm-up epochs :math:`d \ge 0`.
        warmup: the warm-up loss; ``None`` means :class:`CrossEntropyLoss` with ``main``'s
            ``reduction`` (if it has one, else ``"mean"``).

    Shape:
        As ``main`` and ``warmup``: input :math:`(N, C)` logits, target :math:`(N,)`.

    Examples::

        >>> criterion = ScheduledLoss(PiecewiseZeroLoss(cutoff=0.05), delay=4)
        >>> criterion.set_epoch(0)
        >>> criterion.in_warmup
        True
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
    """

    def __init__(self, main: nn.Module, *, delay: int, warmup: nn.Module | None = None) -> None:
        super().__init__()
        if not callable(main):
            raise ValueError(
                f"Expected argument `main` to be a loss Module, but got {type(main).__name__}"
            )
        if isinstance(delay, bool) or not isinstance(delay, numbers.Integral) or delay < 0:
            raise ValueError(f"Expected argument `delay` to be an int >= 0, but got {delay!r}")
        if warmup is None:
            warmup = CrossEntropyLoss(reduction=getattr(main, "reduction", "mean"))
        elif not callable(warmup):
            raise ValueError(
                f"Expected argument `warmup` to be a loss Module, but got {type(warmup).__name__}"
            )
        self.main = main
        self.warmup = warmup
        self.delay = int(delay)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the current 0-based epoch."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"Expected argument `epoch` to be an int >= 0, but got {epoch!r}")
        self.epoch = int(epoch)

    @property
    def in_warmup(self) -> bool:
        """Whether the current epoch uses the warm-up loss (``epoch < delay``)."""
        return self.epoch < self.delay

    @property
    def current(self) -> nn.Module:
        """The loss Module in use at the current epoch."""
        return self.warmup if self.in_warmup else self.main

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self.current(input, target)

    def extra_repr(self) -> str:
        return f"delay={self.delay}, epoch={self.epoch}"
