"""Mixed precision: which precision a run uses on this machine, and what it means for the loop.

Requested settings (``TrainConfig.precision``):

``"auto"`` (the default)
    The code decides, not the user, because the fast setting depends on the hardware. On a
    CUDA GPU: bfloat16 autocast where the GPU supports it (``torch.cuda.is_bf16_supported``),
    else float16 AMP with loss scaling. On a CPU: bfloat16 autocast only where the CPU
    computes bf16 natively (AVX512-BF16 or AMX, :func:`cpu_has_native_bf16`), else fp32;
    either way in the channels-last memory format. Without native bf16, oneDNN emulates
    bf16 and a training step of the paper's CNN was measured 11x *slower* than fp32 (a
    2-core AVX2 machine). Channels-last is oneDNN's fast layout for these convolutions in
    fp32 too (its NCHW path reorders every tensor to a blocked layout and back, and
    PyTorch's NCHW max-pool is scalar): a training step measured 1.24x faster in fp32 on a
    2-core AVX512 CPU and 1.11x with PyTorch and oneDNN held to AVX2 kernels
    (``benchmarks/train_throughput.py``, docs/benchmarks/speed.md). It changes the float
    rounding of the convolutions, not their function: results are deterministic per
    machine but not bitwise those of the contiguous layout. On an Apple GPU (``mps``): fp32.
``"fp32"``
    No autocast, contiguous layout unless ``channels_last`` is given; bitwise reproducible
    on a CPU (as every setting is, per machine).
``"bf16"``
    bfloat16 autocast, wherever asked. On a CPU without native bf16 :func:`warn_if_slow`
    prints one line with this machine's measured slowdown (a short timing, once a process).
``"amp"``
    float16 autocast with loss scaling on a GPU; on a CPU it is bf16 autocast (float16
    autocast is a GPU feature). ``--preset paper`` asks for it: the authors used CUDA AMP.

:func:`resolve_precision` turns a request into a :class:`PrecisionChoice`: the precision and
memory format used, with the facts it was decided on (``torch.backends.cpu.
get_cpu_capability()``, the native-bf16 flag); every run records it (see
``TrainResult.config``). The loss is always computed in float32.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import torch

__all__ = [
    "PRECISIONS",
    "PrecisionChoice",
    "autocast",
    "autocast_dtype",
    "cpu_capability",
    "cpu_has_native_bf16",
    "cuda_has_bf16",
    "make_scaler",
    "measure_bf16_slowdown",
    "resolve_precision",
    "warn_if_slow",
]

#: Requested precisions; every one but "auto" is also a resolved one.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "amp")

_AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "amp": torch.float16}


def cpu_capability() -> str:
    """torch's SIMD level for this CPU: "AVX512", "AVX2", "DEFAULT", ... (or "unknown")."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # pragma: no cover - very old torch
        return "unknown"


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively: AVX512-BF16 or AMX tiles.

    Where it does not, oneDNN emulates bf16 and autocast makes training slower, not faster.
    """
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, name, None)
        try:
            if check is not None and bool(check()):
                return True
        except RuntimeError:  # pragma: no cover - a check this build cannot run
            continue
    return False


def cuda_has_bf16() -> bool:
    """True when the current CUDA GPU supports bfloat16 (Ampere and later)."""
    try:
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):  # pragma: no cover - a broken CUDA set-up
        return False


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """The precision and memory format a run uses, and the facts they were decided on.

    Attributes:
        requested: the setting asked for ("auto", "fp32", "bf16" or "amp").
        precision: the one used: "fp32", "bf16" or "amp" (float16 AMP, GPUs only).
        channels_last: channels-last memory format.
        cpu_capability: :func:`cpu_capability` of the machine.
        native_bf16: :func:`cpu_has_native_bf16` of the machine.
        device_type: "cpu", "cuda" or "mps".
    """

    requested: str
    precision: str
    channels_last: bool
    cpu_capability: str
    native_bf16: bool
    device_type: str

    @property
    def memory_format(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def slow_bf16(self) -> bool:
        """bf16 autocast on a CPU that emulates bf16 (much slower than fp32)."""
        return self.device_type == "cpu" and self.precision == "bf16" and not self.native_bf16

    def record(self) -> dict[str, object]:
        """The fields every run records beside its resolved training config."""
        return {
            "precision_requested": self.requested,
            "memory_format": self.memory_format,
            "cpu_capability": self.cpu_capability,
            "native_bf16": self.native_bf16,
        }


def resolve_precision(
    requested: str, device_type: str, *, channels_last: bool | None = None
) -> PrecisionChoice:
    """The precision and memory format ``requested`` means on ``device_type`` here.

    ``channels_last=None`` (the default) means: channels-last exactly where ``"auto"``
    resolves on a CPU (oneDNN's fast kernels, bf16 and fp32, are the channels-last ones);
    an explicit precision keeps the contiguous layout, so it reproduces earlier runs; an
    explicit bool is kept as given. See the module docstring for the rule.

    Raises:
        ValueError: an unknown ``requested`` or ``device_type``.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"Expected `precision` to be one of {PRECISIONS}, but got {requested!r}")
    if device_type not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"Expected `device_type` to be 'cpu', 'cuda' or 'mps', but got {device_type!r}"
        )
    native = cpu_has_native_bf16()
    precision = requested
    auto_channels_last = False
    if requested == "auto":
        if device_type == "cuda":
            precision = "bf16" if cuda_has_bf16() else "amp"
        elif device_type == "cpu":
            precision, auto_channels_last = ("bf16" if native else "fp32"), True
        else:
            precision = "fp32"
    elif requested == "amp" and device_type != "cuda":
        precision = "bf16"  # float16 autocast with loss scaling is a GPU feature
    return PrecisionChoice(
        requested=requested,
        precision=precision,
        channels_last=auto_channels_last if channels_last is None else bool(channels_last),
        cpu_capability=cpu_capability(),
        native_bf16=native,
        device_type=device_type,
    )


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype forward passes autocast to under a resolved ``precision``; None for fp32."""
    return _AUTOCAST_DTYPES.get(precision)


def autocast(device_type: str, dtype: torch.dtype | None) -> torch.autocast:
    """A ``torch.autocast`` context to ``dtype`` on ``device_type``; disabled when None."""
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for float16 AMP (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type) if precision == "amp" else None


# ----- the warning for emulated bf16 --------------------------------------------------------


def measure_bf16_slowdown(*, repeats: int = 3) -> float:
    """Seconds of a bf16-autocast conv step over those of the same step in fp32, here.

    The step is one 3x3 convolution of the paper CNN's second layer (16 images, 32 -> 64
    channels, 26 x 26) forward and backward, the best of ``repeats`` after a warm-up: about
    0.1-1 s in all. > 1 means bf16 is slower on this CPU.
    """
    gen = torch.Generator().manual_seed(0)  # local: torch's global generator is untouched
    x = torch.randn(16, 32, 26, 26, generator=gen)
    w = torch.randn(64, 32, 3, 3, generator=gen, requires_grad=True)

    def step(dtype: torch.dtype | None) -> float:
        best = float("inf")
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            with autocast("cpu", dtype):
                y = torch.nn.functional.conv2d(x, w)
            y.float().sum().backward()
            if i:  # the first is the warm-up
                best = min(best, time.perf_counter() - t0)
            w.grad = None
        return best

    fp32 = step(None)
    return step(torch.bfloat16) / max(fp32, 1e-9)


_WARNED: set[str] = set()


def warn_if_slow(
    choice: PrecisionChoice,
    *,
    measure: Callable[[], float] | None = None,
    stream=None,
) -> str | None:
    """Print one line to stderr when ``choice`` is bf16 on a CPU without native bf16.

    Printed once per process and CPU capability (a cross-validation's K models warn once);
    ``measure`` (default :func:`measure_bf16_slowdown`) gives the slowdown factor. Returns
    the line printed, or None.
    """
    if not choice.slow_bf16 or choice.cpu_capability in _WARNED:
        return None
    _WARNED.add(choice.cpu_capability)
    factor = (measure or measure_bf16_slowdown)()
    line = (
        f"[robustloss] warning: precision {choice.requested!r} is bf16 autocast, but this CPU "
        f"({choice.cpu_capability}) has no native bf16 (AVX512-BF16/AMX): a conv step measured "
        f"{factor:.1f}x the time of fp32 here; precision 'auto' would use fp32"
    )
    print(line, file=stream or sys.stderr, flush=True)
    return line
