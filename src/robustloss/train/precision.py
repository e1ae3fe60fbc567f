"""Mixed precision: what a (resolved) ``precision`` setting means for the loop.

``"fp32"``: no autocast. ``"bf16"``: bfloat16 autocast (oneDNN's AVX512-BF16/AMX kernels on
a CPU). ``"amp"``: float16 autocast with loss scaling, on a GPU (``TrainConfig.resolved``
turns ``"amp"`` on a CPU into ``"bf16"``). The loss is always computed in float32.
"""

from __future__ import annotations

import torch

_AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "amp": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype forward passes autocast to under ``precision``; None for fp32."""
    return _AUTOCAST_DTYPES.get(precision)


def autocast(device_type: str, dtype: torch.dtype | None) -> torch.autocast:
    """A ``torch.autocast`` context to ``dtype`` on ``device_type``; disabled when None."""
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for float16 AMP (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type) if precision == "amp" else None
