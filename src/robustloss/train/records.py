"""What a run records: the per-epoch history (:data:`HISTORY_KEYS`) and :class:`TrainResult`.

:func:`epoch_record` builds one epoch's history record from the epoch's sums;
:func:`format_epoch` is the one-line summary printed to the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from robustloss.train.loop import EpochSums
from robustloss.train.margins import MarginRecord

__all__ = ["HISTORY_KEYS", "TrainResult", "epoch_record", "format_epoch"]

HISTORY_KEYS: tuple[str, ...] = (
    "epoch",  # epochs done, 1-based
    "loss_in_use",  # "ce" during the warm-up, else config.loss
    "train_loss",  # mean loss over the epoch's batches (train mode, weights moving)
    "train_acc",  # accuracy of those same forward passes vs the given labels
    "train_acc_true",  # ... vs true_labels, or None
    "frac_below_cutoff",  # epochs with PZ in use: fraction with p_t <= cutoff, else None
    "test_loss",  # cross entropy on the test set after the epoch (eval mode), or None
    "test_acc",  # accuracy on the test set, or None (see TrainConfig.test_every)
    "holdout_acc",  # early_stop: accuracy on the held-out part vs its GIVEN labels, or None
    "probe_acc",  # eval-mode accuracy of the `probe` training examples vs their labels, or None
    "seconds",  # wall time of the epoch, evaluation included
    "samples_per_s",  # N / seconds of the training pass alone
)


@dataclass
class TrainResult:
    """What :func:`~robustloss.train.engine.train` returns.

    Attributes:
        model: an :class:`~robustloss.models.images.ImageClassifier` in eval mode; takes raw images.
        history: one dict per epoch with :data:`HISTORY_KEYS`.
        config: the resolved :class:`TrainConfig` as a dict (device, threads, precision and
            channels_last as used), and the :data:`~robustloss.train.config.RECORD_KEYS`:
            ``precision_requested``, ``memory_format``, ``cpu_capability``, ``native_bf16``
            (:class:`~robustloss.train.precision.PrecisionChoice`), ``epochs_run`` and
            ``chosen_epoch`` (the epoch whose weights ``model`` has: the last one, or early
            stopping's best). ``TrainConfig.from_dict`` rebuilds the config from it.
        environment: :func:`robustloss.provenance.environment_info` during the run.
        test_loss, test_acc: ``model`` on the test set, when one was given, else None.
        margins: with ``config.record_margins``, the per-example logit margins of every
            training pass of this call (:class:`~robustloss.train.margins.MarginRecord`, N
            rows in the order of ``images``; count 0 for examples early stopping held out;
            epochs restored from ``resume_from`` are not in it), else None.
    """

    model: nn.Module
    history: list[dict[str, Any]]
    config: dict[str, Any]
    environment: dict[str, Any]
    test_loss: float | None = None
    test_acc: float | None = None
    margins: MarginRecord | None = None


def format_epoch(record: dict[str, Any], epochs: int | None = None) -> str:
    """One line summarising a history record, e.g. for logs."""
    head = f"epoch {record['epoch']}" + (f"/{epochs}" if epochs else "")
    parts = [
        f"{head} [{record['loss_in_use']}]",
        f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.4f}",
    ]
    if record.get("train_acc_true") is not None:
        parts.append(f"acc(true) {record['train_acc_true']:.4f}")
    if record.get("frac_below_cutoff") is not None:
        parts.append(f"p_t<=c {record['frac_below_cutoff']:.4f}")
    if record.get("test_loss") is not None:
        parts.append(f"test loss {record['test_loss']:.4f} acc {record['test_acc']:.4f}")
    if record.get("holdout_acc") is not None:
        parts.append(f"held-out acc {record['holdout_acc']:.4f}")
    parts.append(f"{record['seconds']:.1f} s, {record['samples_per_s']:,.0f} samples/s")
    return " | ".join(parts)


def epoch_record(
    epoch: int,
    loss_in_use: str,
    sums: EpochSums,
    test: tuple[float, float] | None,
    seconds: float,
    train_seconds: float,
) -> dict[str, Any]:
    """One history record, with :data:`HISTORY_KEYS` in order."""
    n = sums.n
    return {
        "epoch": epoch + 1,
        "loss_in_use": loss_in_use,
        "train_loss": sums.loss / n,
        "train_acc": sums.correct / n,
        "train_acc_true": None if sums.correct_true is None else sums.correct_true / n,
        "frac_below_cutoff": None if sums.below is None else sums.below / n,
        "test_loss": None if test is None else test[0],
        "test_acc": None if test is None else test[1],
        "holdout_acc": None,
        "probe_acc": None,
        "seconds": seconds,
        "samples_per_s": n / train_seconds if train_seconds > 0 else math.inf,
    }
