r"""The loss functionals: ``loss(input, target, *, <hyperparameters>, reduction="mean")``.

Notation and numerics as in the package docstring (:mod:`robustloss.losses`): N samples, C
classes, logits ``input`` (N, C), class indices ``target`` (N,), ``p_t`` the softmax
probability of the labelled class. Each functional validates its arguments, then its
tensors (:mod:`._validation`), then computes; ``validate_args=False`` skips only the check
of the target's values, the one check that reads tensor data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from robustloss.losses._docs import fill_doc
from robustloss.losses._numerics import (
    _NCERCE,
    _one_minus_pow,
    _pow_exp,
    _reduce,
    _target_log_prob,
)
from robustloss.losses._validation import (
    _check_bool,
    _check_cutoff,
    _check_gamma,
    _check_q,
    _check_rce_weights,
    _check_reduction,
    _prepare,
)

__all__ = [
    "blurry_loss",
    "cross_entropy",
    "focal_loss",
    "generalized_cross_entropy",
    "mean_absolute_error",
    "nce_rce",
    "piecewise_zero_loss",
    "symmetric_cross_entropy",
]


def _log_pt(input: Tensor, target: Tensor, validate_args: bool) -> Tensor:
    """``log p_t`` (N,) of logits (N, C) and targets (N,), validated by :func:`_prepare`."""
    x, t = _prepare(input, target, validate_args=validate_args)
    return _target_log_prob(F.log_softmax(x, dim=1), t)  # (N,)


@fill_doc
def cross_entropy(
    input: Tensor, target: Tensor, *, reduction: str = "mean", validate_args: bool = True
) -> Tensor:
    r"""Cross entropy, the paper's equation (1).

    .. math::
        \ell_i = CE(p_t) = -\log p_t, \qquad p = \mathrm{softmax}(z_i)

    ``torch.nn.functional.cross_entropy`` with this module's conventions: half precision is
    computed in float32, targets are range-checked with a ``ValueError``, and the mean of an
    empty batch is 0.

    Args:
        $tensor_args
        reduction: ``"mean"`` (average over the N samples), ``"sum"`` or ``"none"``.
        $validate_arg

    Shape:
        - Input: :math:`(N, C)`, float16, bfloat16, float32 or float64.
        - Target: :math:`(N,)`, integer (int64).
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``; float32 for half-precision
          input, else the input dtype.

    Examples::

        $example_inputs
        >>> loss = cross_entropy(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    x, t = _prepare(input, target, validate_args=validate_args)
    return _reduce(F.cross_entropy(x, t, reduction="none"), reduction)


@fill_doc
def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    detach_weight: bool = False,
    reduction: str = "mean",
    validate_args: bool = True,
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
        $tensor_args
        gamma: focusing exponent :math:`\gamma \ge 0`.
        detach_weight: treat :math:`(1 - p_t)^\gamma` as a constant in the backward pass.
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = focal_loss(logits, target, gamma=2.0)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    detach_weight = _check_bool("detach_weight", detach_weight)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    if gamma == 0.0:  # (1 - p_t)^0 = 1, also where p_t = 1
        return _reduce(-log_pt, reduction)
    weight = _one_minus_pow(log_pt, gamma)  # (N,)
    if detach_weight:
        weight = weight.detach()
    return _reduce(-weight * log_pt, reduction)


@fill_doc
def blurry_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float,
    detach_weight: bool = True,
    reduction: str = "mean",
    validate_args: bool = True,
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
        $tensor_args
        gamma: exponent :math:`\gamma \ge 0` (required: the paper sweeps it; 0.2-0.5 work).
        detach_weight: treat :math:`p_t^\gamma` as a constant in the backward pass.
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = blurry_loss(logits, target, gamma=0.4)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    detach_weight = _check_bool("detach_weight", detach_weight)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    weight = _pow_exp(log_pt, gamma)  # p_t^gamma, (N,)
    if detach_weight:
        weight = weight.detach()
    return _reduce(-weight * log_pt, reduction)


@fill_doc
def piecewise_zero_loss(
    input: Tensor,
    target: Tensor,
    *,
    cutoff: float,
    reduction: str = "mean",
    validate_args: bool = True,
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
        $tensor_args
        cutoff: :math:`c \in [0, 1)` (required; the paper's best is 0.05).
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = piecewise_zero_loss(logits, target, cutoff=0.05)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    cutoff = _check_cutoff(cutoff)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    ce = -log_pt
    if cutoff == 0.0:
        return _reduce(ce, reduction)
    keep = log_pt > math.log(cutoff)  # p_t > c
    return _reduce(torch.where(keep, ce, torch.zeros_like(ce)), reduction)


@fill_doc
def generalized_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    q: float = 0.7,
    reduction: str = "mean",
    validate_args: bool = True,
) -> Tensor:
    r"""Generalized cross entropy (Zhang & Sabuncu 2018).

    .. math::
        \ell_i = \frac{1 - p_t^q}{q} = -\frac{\mathrm{expm1}(q \log p_t)}{q} \in [0, 1/q]

    Its gradient is :math:`p_t^q \nabla CE`: the same as detached Blurry loss with
    :math:`\gamma = q`. :math:`q \to 0` approaches cross entropy, :math:`q = 1` is
    :math:`1 - p_t`, half the MAE.

    Args:
        $tensor_args
        q: exponent :math:`q \in (0, 1]`.
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = generalized_cross_entropy(logits, target, q=0.7)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    q = _check_q(q)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    return _reduce(torch.expm1(log_pt * q) / -q, reduction)


@fill_doc
def mean_absolute_error(
    input: Tensor, target: Tensor, *, reduction: str = "mean", validate_args: bool = True
) -> Tensor:
    r"""Mean absolute error between the one-hot target and the softmax (Ghosh et al. 2017).

    .. math::
        \ell_i = \sum_k |e_{t,k} - p_k| = 2 (1 - p_t) = -2\,\mathrm{expm1}(\log p_t) \in [0, 2]

    Args:
        $tensor_args
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = mean_absolute_error(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    return _reduce(torch.expm1(log_pt) * -2.0, reduction)


@fill_doc
def symmetric_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    reduction: str = "mean",
    validate_args: bool = True,
) -> Tensor:
    r"""Symmetric cross entropy (Wang et al. 2019): cross entropy plus reverse cross entropy.

    .. math::
        \ell_i = \alpha\,CE + \beta\,RCE, \qquad
        RCE = -\sum_k p_k \log e_{t,k} = -A (1 - p_t)

    where :math:`\log 0` is replaced by the constant :math:`A` = ``log_zero`` < 0 (the
    paper's :math:`A = -4`), so :math:`RCE \in [0, -A]`.

    Args:
        $tensor_args
        alpha: weight of cross entropy, >= 0.
        beta: weight of reverse cross entropy, >= 0.
        log_zero: the value :math:`A < 0` that stands for :math:`\log 0`.
        $reduction_args

    $shape

    Examples::

        $example_inputs
        >>> loss = symmetric_cross_entropy(logits, target, alpha=0.1, beta=1.0)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    alpha, beta, log_zero = _check_rce_weights(alpha, beta, log_zero)
    log_pt = _log_pt(input, target, validate_args)  # (N,)
    # alpha * (-log p_t) + beta * (-A) * (1 - p_t), with 1 - p_t = -expm1(log p_t)
    loss = log_pt * -alpha + torch.expm1(log_pt) * (beta * log_zero)
    return _reduce(loss, reduction)


@fill_doc
def nce_rce(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    log_zero: float = -4.0,
    reduction: str = "mean",
    validate_args: bool = True,
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
        $tensor_args
        alpha: weight of NCE, >= 0.
        beta: weight of RCE, >= 0.
        log_zero: the value :math:`A < 0` that stands for :math:`\log 0`.
        $reduction_args

    Shape:
        - Input: :math:`(N, C)` with :math:`C \ge 2`.
        - Target: :math:`(N,)`, integer.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.

    Examples::

        $example_inputs
        >>> loss = nce_rce(logits, target)
        >>> loss.backward()
    """
    reduction = _check_reduction(reduction)
    alpha, beta, log_zero = _check_rce_weights(alpha, beta, log_zero)
    x, t = _prepare(input, target, min_classes=2, validate_args=validate_args)
    return _reduce(_NCERCE.apply(x, t, alpha, beta * log_zero), reduction)
