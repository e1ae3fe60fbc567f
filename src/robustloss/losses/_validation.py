"""Validation of the losses' arguments and tensors (torchmetrics' fixed private pipeline).

Arguments first (``_check_*``: host-side Python values, free), then tensors (:func:`_prepare`:
types, shapes and dtypes, which are metadata and free, then the target's values, which are
not). Each helper raises a ``ValueError`` that names the argument, what was expected and
what was got.

The value check (:func:`_check_target_values`) is the only one that reads tensor data: on a
GPU it is a device-to-host synchronisation per call. ``validate_args=False`` skips it, for a
caller that has checked its labels once already (the training engine, per dataset).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

_HALF_DTYPES = (torch.float16, torch.bfloat16)


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


def _check_rce_weights(alpha: Any, beta: Any, log_zero: Any) -> tuple[float, float, float]:
    """The ``alpha``, ``beta`` and ``log_zero`` of the losses with a reverse-CE term."""
    return _check_weight("alpha", alpha), _check_weight("beta", beta), _check_log_zero(log_zero)


def _prepare(
    input: Any, target: Any, *, min_classes: int = 1, validate_args: bool = True
) -> tuple[Tensor, Tensor]:
    """Validate ``input`` (N, C) logits and ``target`` (N,) indices; return compute tensors.

    Types, shapes and dtypes are always checked; the target's values only with
    ``validate_args`` (see :func:`_check_target_values`). Half-precision logits are cast to
    float32 (differentiably); the target is returned as int64 (the index dtype ``gather``
    needs).
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
    if validate_args:
        _check_target_values(target, c)
    if input.dtype in _HALF_DTYPES:
        input = input.float()
    if target.dtype != torch.int64:
        target = target.long()
    return input, target


def _check_target_values(target: Tensor, num_classes: int) -> None:
    """Raise unless every index in ``target`` (N,) lies in ``[0, num_classes)``.

    Reads the values: one ``aminmax`` pass and, on a GPU, a device-to-host synchronisation.
    """
    if target.numel() == 0:
        return
    low, high = torch.aminmax(target)
    low_v, high_v = int(low), int(high)
    if low_v < 0 or high_v >= num_classes:
        c = num_classes
        raise ValueError(
            f"Expected argument `target` to have values in [0, {c}) (C = {c} classes), "
            f"but got values from {low_v} to {high_v}"
        )
