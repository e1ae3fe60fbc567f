"""The loss registry: names, the single description of every hyperparameter, ``make_loss``.

:data:`LOSS_PARAM_SPECS` is the one place a loss hyperparameter's name, type, help and
owning losses live; :data:`LOSS_PARAMS` (per loss) and :data:`CONFIG_LOSS_PARAMS` (the
run-level settings) derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from robustloss.losses.modules import (
    BlurryLoss,
    CrossEntropyLoss,
    FocalLoss,
    GCELoss,
    MAELoss,
    NCERCELoss,
    PiecewiseZeroLoss,
    SCELoss,
    _Loss,
)

__all__ = [
    "CONFIG_LOSS_PARAMS",
    "LOSS_NAMES",
    "LOSS_PARAMS",
    "LOSS_PARAM_SPECS",
    "LossParam",
    "make_loss",
]

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
        LossParam(
            "gamma", float, "focal / blurry exponent (required for blurry)", ("focal", "blurry")
        ),
        LossParam("cutoff", float, "pz cutoff c in [0, 1) (required for pz)", ("pz",)),
        LossParam("q", float, "gce exponent q in (0, 1]", ("gce",)),
        LossParam("alpha", float, "sce / nce+rce weight of the first term", ("sce", "nce+rce")),
        LossParam("beta", float, "sce / nce+rce weight of the reverse CE term", ("sce", "nce+rce")),
        LossParam(
            "detach_weight",
            bool,
            "focal / blurry: treat the weight as a constant (blurry's default: detached)",
            ("focal", "blurry"),
        ),
        LossParam(
            "log_zero",
            float,
            "sce / nce+rce: the value taken for log 0 in RCE",
            ("sce", "nce+rce"),
            config=False,
        ),
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


def make_loss(name: str, *, validate_args: bool = True, **params: Any) -> nn.Module:
    """Build the loss Module called ``name`` (one of :data:`LOSS_NAMES`).

    ``params`` are the keyword arguments of that Module: those in ``LOSS_PARAMS[name]`` plus
    ``reduction``. A value of ``None`` means "the loss's default" (so a config can carry
    unset fields); a required parameter (blurry's ``gamma``, pz's ``cutoff``) must be given.
    ``validate_args`` is passed to the Module: ``False`` for labels checked once already
    (the training engine does so per dataset), which saves a device sync per call.

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
    return _LOSS_CLASSES[name](validate_args=validate_args, **given)
