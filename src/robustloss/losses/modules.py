"""The loss Modules: each checks its arguments in ``__init__`` and calls its functional.

One Module per functional of :mod:`robustloss.losses.functional`, with the same
hyperparameters as keyword-only arguments (and the same defaults), ``reduction`` and
``validate_args``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from robustloss.losses._docs import fill_doc
from robustloss.losses._validation import (
    _check_bool,
    _check_cutoff,
    _check_gamma,
    _check_q,
    _check_rce_weights,
    _check_reduction,
)
from robustloss.losses.functional import (
    blurry_loss,
    cross_entropy,
    focal_loss,
    generalized_cross_entropy,
    mean_absolute_error,
    nce_rce,
    piecewise_zero_loss,
    symmetric_cross_entropy,
)

__all__ = [
    "BlurryLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "GCELoss",
    "MAELoss",
    "NCERCELoss",
    "PiecewiseZeroLoss",
    "SCELoss",
]


class _Loss(nn.Module):
    """The common part: ``reduction`` and ``validate_args``, checked and stored, and the repr."""

    def __init__(self, *, reduction: str = "mean", validate_args: bool = True) -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.validate_args = _check_bool("validate_args", validate_args)

    def _hyper(self) -> dict[str, Any]:
        """The hyperparameters (other than ``reduction``) that the repr shows."""
        return {}

    def extra_repr(self) -> str:
        items = {**self._hyper(), "reduction": self.reduction}
        if not self.validate_args:  # shown only when off: the default repr is unchanged
            items["validate_args"] = False
        return ", ".join(f"{k}={v!r}" for k, v in items.items())


@fill_doc
class CrossEntropyLoss(_Loss):
    r"""Module form of :func:`cross_entropy`: :math:`-\log p_t` (equation (1)).

    Args:
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = CrossEntropyLoss()
        $module_example
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(
            input, target, reduction=self.reduction, validate_args=self.validate_args
        )


@fill_doc
class FocalLoss(_Loss):
    r"""Module form of :func:`focal_loss`: :math:`-(1 - p_t)^\gamma \log p_t` (equation (2)).

    Args:
        gamma: focusing exponent >= 0 (default 2.0, Lin et al.'s choice).
        detach_weight: treat the weight as a constant in backward (default ``False``).
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = FocalLoss(gamma=2.0)
        $module_example
    """

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        detach_weight: bool = False,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(reduction=reduction, validate_args=validate_args)
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
            validate_args=self.validate_args,
        )


@fill_doc
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
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = BlurryLoss(gamma=0.4)
        $module_example
    """

    def __init__(
        self,
        *,
        gamma: float,
        detach_weight: bool = True,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(reduction=reduction, validate_args=validate_args)
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
            validate_args=self.validate_args,
        )


@fill_doc
class PiecewiseZeroLoss(_Loss):
    r"""Module form of :func:`piecewise_zero_loss`: 0 if :math:`p_t \le c` else CE (eq. (4)).

    Args:
        cutoff: :math:`c \in [0, 1)` (required).
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = PiecewiseZeroLoss(cutoff=0.05)
        $module_example
    """

    def __init__(
        self, *, cutoff: float, reduction: str = "mean", validate_args: bool = True
    ) -> None:
        super().__init__(reduction=reduction, validate_args=validate_args)
        self.cutoff = _check_cutoff(cutoff)

    def _hyper(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return piecewise_zero_loss(
            input,
            target,
            cutoff=self.cutoff,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )


@fill_doc
class GCELoss(_Loss):
    r"""Module form of :func:`generalized_cross_entropy`: :math:`(1 - p_t^q)/q`.

    Args:
        q: exponent in (0, 1] (default 0.7, Zhang & Sabuncu's choice).
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = GCELoss(q=0.7)
        $module_example
    """

    def __init__(
        self, *, q: float = 0.7, reduction: str = "mean", validate_args: bool = True
    ) -> None:
        super().__init__(reduction=reduction, validate_args=validate_args)
        self.q = _check_q(q)

    def _hyper(self) -> dict[str, Any]:
        return {"q": self.q}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return generalized_cross_entropy(
            input, target, q=self.q, reduction=self.reduction, validate_args=self.validate_args
        )


@fill_doc
class MAELoss(_Loss):
    r"""Module form of :func:`mean_absolute_error`: :math:`2 (1 - p_t)`.

    Args:
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = MAELoss()
        $module_example
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mean_absolute_error(
            input, target, reduction=self.reduction, validate_args=self.validate_args
        )


class _ReverseCEMix(_Loss):
    """What SCE and NCE+RCE share: ``alpha * <first term> + beta * RCE`` with a ``log_zero``.

    A subclass sets ``_functional`` and its own defaults in ``__init__``.
    """

    _functional: Callable[..., Tensor]

    def __init__(
        self,
        *,
        alpha: float,
        beta: float,
        log_zero: float,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(reduction=reduction, validate_args=validate_args)
        self.alpha, self.beta, self.log_zero = _check_rce_weights(alpha, beta, log_zero)

    def _hyper(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "log_zero": self.log_zero}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._functional(
            input,
            target,
            alpha=self.alpha,
            beta=self.beta,
            log_zero=self.log_zero,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )


@fill_doc
class SCELoss(_ReverseCEMix):
    r"""Module form of :func:`symmetric_cross_entropy`: :math:`\alpha CE + \beta RCE`.

    Args:
        alpha: weight of cross entropy (default 0.1).
        beta: weight of reverse cross entropy (default 1.0).
        log_zero: the constant standing for :math:`\log 0` (default -4.0).
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits.
        $module_target_output

    Examples::

        >>> criterion = SCELoss(alpha=0.1, beta=1.0)
        $module_example
    """

    _functional = staticmethod(symmetric_cross_entropy)

    def __init__(
        self,
        *,
        alpha: float = 0.1,
        beta: float = 1.0,
        log_zero: float = -4.0,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            alpha=alpha,
            beta=beta,
            log_zero=log_zero,
            reduction=reduction,
            validate_args=validate_args,
        )


@fill_doc
class NCERCELoss(_ReverseCEMix):
    r"""Module form of :func:`nce_rce`: :math:`\alpha NCE + \beta RCE`.

    Args:
        alpha: weight of normalized cross entropy (default 1.0).
        beta: weight of reverse cross entropy (default 1.0).
        log_zero: the constant standing for :math:`\log 0` (default -4.0).
        $module_args

    Shape:
        - Input: :math:`(N, C)` logits, :math:`C \ge 2`.
        $module_target_output

    Examples::

        >>> criterion = NCERCELoss(alpha=1.0, beta=1.0)
        $module_example
    """

    _functional = staticmethod(nce_rce)

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        log_zero: float = -4.0,
        reduction: str = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            alpha=alpha,
            beta=beta,
            log_zero=log_zero,
            reduction=reduction,
            validate_args=validate_args,
        )
