"""The training configuration: one validated dataclass, recorded with every run.

:class:`TrainSettings` holds the settings that a run passes to its trainings as they are
(:class:`robustloss.run.config.RunConfig` inherits them: its flags and config.json keys are
these fields' names); :class:`TrainConfig` adds what a run derives (the loss and its
parameters as one dict, the optimizer, whether margins are recorded).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from robustloss.losses import LOSS_NAMES, make_loss
from robustloss.models.images import MODEL_NAMES, SCALINGS
from robustloss.provenance import available_cpus
from robustloss.train.precision import PRECISIONS, PrecisionChoice, resolve_precision

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")

#: Keys a run's recorded config holds beside the :class:`TrainConfig` fields: what the
#: machine decided (:meth:`PrecisionChoice.record`) and what early stopping chose. Facts,
#: not settings: :meth:`TrainConfig.from_dict` drops them.
RECORD_KEYS: tuple[str, ...] = (
    "precision_requested",
    "memory_format",
    "cpu_capability",
    "native_bf16",
    "epochs_run",
    "chosen_epoch",
)

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _quoted(key: str) -> str:
    return f"`{key}`"


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """The settings of a training that a run sets as they are, validated.

    Every :class:`TrainConfig` field but the loss (a run names it with flat hyperparameter
    fields, or "auto"), the optimizer (Adam) and ``record_margins`` (a run derives it from
    its detectors). Subclasses call :meth:`check_train_settings` from ``__post_init__``.
    """

    # The paper trains 10 epochs: its precursor run saw test loss turn up around epoch 10.
    epochs: int = 10
    batch_size: int = 64  # the authors' code
    # Adam's default. The authors' public code used 1e-4, but with it their protocol does
    # not reach the paper's Table 1, and 1e-3 does (DESIGN.md, "What the authors' code did";
    # robustloss.run.defaults.PRESETS["paper"] has theirs).
    lr: float = 1e-3
    # d: epochs with 0-based index < d train with cross entropy, then `loss` (d = 0: none).
    delay: int = 0
    seed: int = 0
    # "standardize": train-set mean/std per channel (well-conditioned for Adam at lr 1e-3);
    # "raw": pixel values 0..255 as floats, as the authors' code did.
    scaling: str = "standardize"
    device: str = "auto"  # "cuda" when available, else "mps" when available, else "cpu"
    # "auto": decided per machine (robustloss.train.precision): on a CPU bf16 only where it
    # computes bf16 natively (AVX512-BF16/AMX; elsewhere bf16 is ~11x SLOWER than fp32),
    # else fp32, channels-last either way; bf16 (or float16 AMP) autocast on CUDA. "fp32"
    # is bitwise reproducible on a CPU; "amp" is float16 autocast with loss scaling on a GPU
    # (bf16 on a CPU).
    precision: str = "auto"
    # None: channels-last exactly where precision "auto" resolves on a CPU (oneDNN's fast
    # kernels, bf16 and fp32, are the channels-last ones); an explicit precision keeps the
    # contiguous layout; a bool as given. It changes the convolution kernels (last-bit
    # numerics).
    channels_last: bool | None = None
    # The clean test split (when given) is evaluated after the last epoch only (0), or also
    # after every `test_every`-th epoch (1: the full per-epoch curve, as the overfit-point
    # experiment needs). Evaluation draws no random numbers: the trained weights are the
    # same either way.
    test_every: int = 0
    # Early stopping without ground truth (Chen et al., AAAI 2021; Toner & Storkey, 2024):
    # hold out a stratified `holdout` fraction of the given (noisy) labels, measure the
    # accuracy on them after every epoch and stop once it has not improved for `patience`
    # epochs; the weights of the best epoch are returned (`epochs` is then the most).
    early_stop: bool = False
    holdout: float = 0.1
    patience: int = 2
    threads: int | None = None  # torch intra-op threads; None: every CPU this process may use
    model: str = "paper-cnn"  # a name in robustloss.models.images.MODEL_NAMES

    def check_train_settings(self, where: Callable[[str], str] = _quoted) -> None:
        """Every field; ``where(key)`` names a bad one in the error (a run adds its flag).
        Makes ``lr`` and ``holdout`` floats, so that 1 and 1.0 are the same settings."""
        check_int("epochs", self.epochs, 1, where)
        check_int("batch_size", self.batch_size, 1, where)
        check_float("lr", self.lr, "a finite float > 0", lambda v: v > 0.0, where)
        check_int("delay", self.delay, 0, where)
        check_int("seed", self.seed, 0, where)
        if self.seed >= 2**63:
            raise ValueError(f"Expected {where('seed')} to be < 2**63, but got {self.seed}")
        check_choice("scaling", self.scaling, SCALINGS, where)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ValueError(
                f"Expected {where('device')} to be auto, cpu, cuda, cuda:N or mps, "
                f"but got {self.device!r}"
            )
        check_choice("precision", self.precision, PRECISIONS, where)
        check_bool("channels_last", self.channels_last, where, optional=True)
        check_int("test_every", self.test_every, 0, where)
        check_bool("early_stop", self.early_stop, where)
        check_float("holdout", self.holdout, "a fraction in (0, 1)", lambda v: 0.0 < v < 1.0, where)
        check_int("patience", self.patience, 1, where)
        if self.threads is not None:
            check_int("threads", self.threads, 1, where)
        check_choice("model", self.model, MODEL_NAMES, where)
        for key in ("lr", "holdout"):
            object.__setattr__(self, key, float(getattr(self, key)))

    def train_settings(self) -> dict[str, Any]:
        """The :class:`TrainSettings` fields and their values (a run's, for its TrainConfig)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainSettings)}


@dataclass(frozen=True, kw_only=True)
class TrainConfig(TrainSettings):
    """Everything that decides a training run's numbers, and nothing else.

    ``resolved()`` replaces the machine-dependent choices (``device="auto"``,
    ``threads=None``, ``precision="auto"``, ``channels_last=None``, ``precision="amp"`` on
    a CPU) by what was actually used; that resolved form is what results and checkpoints
    record.
    """

    optimizer: str = "adam"
    loss: str = "ce"  # a name in robustloss.losses.LOSS_NAMES
    loss_params: dict[str, Any] = field(default_factory=dict)  # e.g. {"gamma": 0.4}
    # Sum every training pass's per-example logit margin (the AUM detector's input,
    # robustloss.train.margins) from the logits the loop computes anyway; False: nothing
    # recorded, the run is bitwise the same as before the option existed.
    record_margins: bool = False

    def __post_init__(self) -> None:
        self.check_train_settings()
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_bool("record_margins", self.record_margins)
        self._check_loss()

    def _check_loss(self) -> None:
        check_choice("loss", self.loss, LOSS_NAMES)
        if not isinstance(self.loss_params, dict):
            raise ValueError(
                f"Expected `loss_params` to be a dict, but got {type(self.loss_params).__name__}"
            )
        if "reduction" in self.loss_params:
            raise ValueError(
                "Expected `loss_params` without 'reduction': training averages each batch, "
                f"but got reduction={self.loss_params['reduction']!r}"
            )
        object.__setattr__(self, "loss_params", dict(self.loss_params))
        try:
            make_loss(self.loss, **self.loss_params)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Invalid `loss`/`loss_params` {self.loss!r}, {self.loss_params}: {exc}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (``loss_params`` copied, not shared)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict such as :meth:`to_dict` (or a run's record) wrote.

        The :data:`RECORD_KEYS` of a run's recorded config are dropped; other unknown keys
        are an error.
        """
        if not isinstance(d, dict):
            raise ValueError(f"Expected a dict for TrainConfig, but got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k not in RECORD_KEYS}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"Unknown TrainConfig key(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**d)

    def resolved(self) -> TrainConfig:
        """A copy with ``device``, ``threads``, ``precision`` and ``channels_last`` as used here.

        ``device="auto"`` becomes ``"cuda"`` when torch sees a CUDA GPU, else ``"mps"`` on an
        Apple GPU, else ``"cpu"``; ``threads=None`` becomes the number of CPUs this process
        may use; ``precision`` and ``channels_last`` become :meth:`precision_choice`'s.
        """
        return self._resolve()[0]

    def precision_choice(self) -> PrecisionChoice:
        """What ``precision`` / ``channels_last`` mean on this machine and resolved device."""
        return self._resolve()[1]

    def _resolve(self) -> tuple[TrainConfig, PrecisionChoice]:
        import torch

        device = self.device
        mps = getattr(torch.backends, "mps", None)
        has_mps = mps is not None and mps.is_available()
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"Expected an available `device`, but got {device!r}: no CUDA here")
        if device == "mps" and not has_mps:
            raise ValueError(f"Expected an available `device`, but got {device!r}: no MPS here")
        choice = resolve_precision(
            self.precision, torch.device(device).type, channels_last=self.channels_last
        )
        threads = self.threads if self.threads is not None else available_cpus()
        resolved = dataclasses.replace(
            self,
            device=device,
            threads=threads,
            precision=choice.precision,
            channels_last=choice.channels_last,
        )
        return resolved, choice


# ----- checks that name the key: shared with robustloss.run.config ------------------------


def check_int(
    key: str,
    value: Any,
    low: int,
    where: Callable[[str], str] = _quoted,
    *,
    optional: bool = False,
) -> None:
    """An int >= ``low`` (not a bool); None too when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"Expected {where(key)} to be an integer >= {low}, but got {value!r}")


def check_choice(
    key: str, value: Any, choices: tuple[str, ...], where: Callable[[str], str] = _quoted
) -> None:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"Expected {where(key)} to be one of {', '.join(choices)}, but got {value!r}"
        )


def check_float(
    key: str,
    value: Any,
    expected: str,
    ok: Callable[[float], bool],
    where: Callable[[str], str] = _quoted,
) -> None:
    """A finite int or float (not a bool) for which ``ok`` holds; ``expected`` says what."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected {where(key)} to be {expected}, but got {value!r}")
    if not ok(float(value)):
        raise ValueError(f"Expected {where(key)} to be {expected}, but got {value!r}")


def check_bool(
    key: str, value: Any, where: Callable[[str], str] = _quoted, *, optional: bool = False
) -> None:
    """True or False; None (unset) too when ``optional``."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        unset = ", false or unset" if optional else " or false"
        raise ValueError(f"Expected {where(key)} to be true{unset}, but got {value!r}")
