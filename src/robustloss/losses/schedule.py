"""Loss scheduling, the paper's section 3.3: a warm-up loss for ``delay`` epochs, then the main."""

from __future__ import annotations

import numbers

from torch import Tensor, nn

from robustloss.losses.modules import CrossEntropyLoss

__all__ = ["ScheduledLoss"]


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
            ``reduction`` and ``validate_args`` (if it has them, else ``"mean"`` and ``True``).

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
            warmup = CrossEntropyLoss(
                reduction=getattr(main, "reduction", "mean"),
                validate_args=getattr(main, "validate_args", True),
            )
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
