"""The training run: ``train`` validates and resolves, ``_fit`` runs the phases.

N training images, K classes, B = ``config.batch_size``. ``_fit`` reads as its phases:
seed the generators (:mod:`.rng`), build the model, optimizer and loss, restore them from a
checkpoint when resuming, then per epoch train (:mod:`.loop`), record and save.

Why it is fast on a CPU: the N images live as one uint8 tensor on the device and a batch is
``images[perm[i : i + B]]``, so there is no per-sample Python, no collation and no worker
process; the model converts a batch to float itself. On the paper's CNN the arithmetic
dominates, so the options that matter are the ones that make it cheaper: bf16 autocast
where the CPU computes bf16 natively (AVX512-BF16/AMX: ``precision="auto"`` decides, see
:mod:`.precision`), channels-last memory format, fused Adam, and the model's own
max-pool-before-ReLU and fast dropout (see ``benchmarks/train_throughput.py``). The labels
are checked once per dataset (:mod:`.inputs`) and the loss is called without its per-batch
value check. Nothing is evaluated per epoch that the run did not ask for: the clean test
split after the last epoch only (``test_every=0``), the held-out labels only under
``early_stop`` (a small fraction of N).

Randomness, all from ``config.seed``: torch's global generator (initial weights, dropout) is
seeded with ``seed``, and restored on return, so the caller's global state is the same
after the call as before it; the per-epoch permutations come from a dedicated
``torch.Generator`` seeded with :func:`permutation_seed` ``(seed)``. numpy's random state is
not used. Same config, data and machine, CPU fp32: bitwise identical results.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from robustloss.losses import ScheduledLoss, make_loss
from robustloss.models.images import ImageClassifier, InputScaling, channel_stats, make_model
from robustloss.provenance import environment_info
from robustloss.train.checkpoint import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    warmup_compatible,
)
from robustloss.train.config import TrainConfig
from robustloss.train.early_stop import EarlyStopping, holdout_split
from robustloss.train.inputs import TrainData, as_tensor, prepare_data
from robustloss.train.loop import EpochContext, EpochSums, evaluate, run_epoch
from robustloss.train.margins import MarginAccumulator, MarginRecord
from robustloss.train.precision import PrecisionChoice, autocast_dtype, make_scaler, warn_if_slow
from robustloss.train.rng import (
    get_device_rng_state,
    isolated_run,
    permutation_seed,
    seed_run,
    set_device_rng_state,
)

__all__ = ["HISTORY_KEYS", "TrainResult", "as_tensor", "format_epoch", "permutation_seed", "train"]

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
    """What :func:`train` returns.

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


# ----- the public entry point -----------------------------------------------------------------


def train(
    config: TrainConfig,
    images: Any,
    labels: Any,
    *,
    true_labels: Any = None,
    test_images: Any = None,
    test_labels: Any = None,
    num_classes: int | None = None,
    model: nn.Module | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    probe: Any = None,
    quiet: bool = False,
) -> TrainResult:
    """Train a classifier on (possibly noisy) labels; return the model and its history.

    Args:
        config: the :class:`TrainConfig`; its resolved form is recorded in the result.
        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8 or float, values 0..255, H = W.
        labels: ``(N,)`` integer labels to train on (the noisy ones).
        true_labels: ``(N,)`` the clean labels, when known: adds ``train_acc_true`` (a
            report only: they reach neither the loss nor early stopping).
        test_images, test_labels: a clean test set, evaluated after the last epoch (and
            every ``config.test_every``-th epoch); the returned model's scores are in
            ``TrainResult.test_loss``/``test_acc`` and in its epoch's history record.
        num_classes: K; default ``max(label) + 1`` over all label arrays given.
        model: continue training this model with a fresh optimizer (the paper's carried-over
            folds); it is trained in place. An ``ImageClassifier`` (what ``train`` returns)
            keeps its input scaling; a bare network gets one computed from ``images``. With
            ``resume_from``, the checkpoint's weights are loaded into it (a custom network).
        checkpoint_dir: save ``epoch-{k:03d}.pt`` after every epoch k.
        resume_from: a checkpoint file to continue from: bitwise the run that wrote it, when
            :func:`~robustloss.train.checkpoint.warmup_compatible` allows the config.
        probe: ``(P,)`` indices into ``images``: after every epoch the model scores these
            training examples in eval mode against their given ``labels``, into the history
            key ``probe_acc``: how far the model *fits* the labels it trains on (the running
            ``train_acc`` has dropout on and the weights moving, and hides memorising). An
            evaluation only: the training and its randomness are unchanged.
        quiet: no progress bars (there are none when stderr is not a terminal anyway).

    Returns:
        :class:`TrainResult`.

    With ``config.early_stop`` a stratified ``config.holdout`` of the N examples (by their
    given labels) is held out of training and used to choose the epoch (see
    :mod:`robustloss.train.early_stop`); the model of the chosen epoch is returned.

    Raises:
        ValueError: bad arrays, a checkpoint that does not fit config or data, early stopping
            with checkpoints.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"Expected `config` to be a TrainConfig, but got {type(config).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"Expected `model` to be an nn.Module, but got {type(model).__name__}")
    if config.early_stop and (checkpoint_dir is not None or resume_from is not None):
        raise ValueError(
            "Expected early_stop=False with checkpoint_dir/resume_from (a checkpoint does not "
            "hold early stopping's best weights), but got early_stop=True"
        )
    cfg, choice = config._resolve()
    warn_if_slow(choice)
    data = prepare_data(images, labels, true_labels, test_images, test_labels, num_classes)
    probe_idx = _probe_indices(probe, data.x.shape[0])
    fingerprint = data.fingerprint() if (checkpoint_dir or resume_from) else None
    ckpt = None if resume_from is None else _load_resumable(resume_from, cfg, fingerprint)
    device = _device(cfg)
    # Seeding (in _fit) changes torch's global generators only inside this block.
    with isolated_run(device, threads=cfg.threads):
        return _fit(
            cfg,
            choice,
            data,
            device,
            model=model,
            ckpt=ckpt,
            fingerprint=fingerprint,
            checkpoint_dir=checkpoint_dir,
            probe=None if probe_idx is None else (data.x[probe_idx], data.y[probe_idx]),
            quiet=quiet,
        )


def _probe_indices(probe: Any, n: int) -> Tensor | None:
    """``probe`` checked: a 1-D integer array of indices in [0, N), or None."""
    if probe is None:
        return None
    idx = as_tensor(probe)
    if idx.ndim != 1 or idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise ValueError(
            f"Expected `probe` to be a 1-D array of integer indices into the {n} images, but "
            f"got shape {tuple(idx.shape)} of {idx.dtype}"
        )
    idx = idx.to(torch.int64)
    if idx.numel() == 0:
        raise ValueError("Expected `probe` to hold at least one index, but it is empty")
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= n:
        raise ValueError(
            f"Expected `probe` indices in [0, {n}) (the {n} images), but got values from "
            f"{low} to {high}"
        )
    return idx


def _load_resumable(
    path: str | os.PathLike[str], cfg: TrainConfig, fingerprint: dict[str, Any] | None
) -> Checkpoint:
    """The checkpoint at ``path``, refused unless ``cfg`` and the data may continue it."""
    ckpt = Checkpoint.from_dict(load_checkpoint(path))
    warmup_compatible(ckpt.config, cfg.to_dict(), ckpt.epoch)
    if ckpt.data != fingerprint:
        raise ValueError(
            f"cannot resume from {str(path)!r}: it was trained on other data "
            f"(checkpoint {ckpt.data}, given {fingerprint})"
        )
    return ckpt


def _device(cfg: TrainConfig) -> torch.device:
    """The resolved config's device, with an explicit index for CUDA."""
    device = torch.device(cfg.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


# ----- the run, as its phases -------------------------------------------------------------------


def _fit(
    cfg: TrainConfig,
    choice: PrecisionChoice,
    data: TrainData,
    device: torch.device,
    *,
    model: nn.Module | None,
    ckpt: Checkpoint | None,
    fingerprint: dict[str, Any] | None,
    checkpoint_dir: str | os.PathLike[str] | None,
    probe: tuple[Tensor, Tensor] | None,
    quiet: bool,
) -> TrainResult:
    full_y = data.y
    data, held = _hold_out(cfg, data)
    perm_gen = seed_run(cfg.seed, device)  # torch's global generators: forked by the caller
    ctx = _build(cfg, data, device, model, perm_gen, show=not quiet and sys.stderr.isatty())
    history, start = ([], 0) if ckpt is None else _restore(ctx, ckpt)
    stopper = None
    if held is not None:
        stopper = EarlyStopping(cfg.patience, first_epoch=cfg.delay if cfg.loss != "ce" else 0)
    for epoch in range(start, cfg.epochs):
        record = _train_epoch(cfg, ctx, data, epoch)
        stop = False
        if stopper is not None and held is not None:
            record["holdout_acc"] = _evaluate(ctx, held[0], held[1], data.label_high)[1]
            stop = stopper.update(epoch, record["holdout_acc"], ctx.model)
        if probe is not None:
            record["probe_acc"] = _evaluate(ctx, probe[0], probe[1], data.label_high)[1]
        history.append(record)
        if ctx.show:
            print(format_epoch(history[-1], cfg.epochs), file=sys.stderr)
        if checkpoint_dir is not None:
            _save(checkpoint_dir, _snapshot(cfg, ctx, epoch + 1, history, fingerprint))
        if stop:
            break
    chosen = len(history)
    if stopper is not None and stopper.best_epoch is not None:
        stopper.restore(ctx.model)
        chosen = stopper.best_epoch
    test = _final_test(ctx, data, history, chosen)
    ctx.model.eval()
    record = {**cfg.to_dict(), **choice.record(), "epochs_run": len(history),
              "chosen_epoch": chosen}
    margins = None if ctx.margins is None else _margins_of_all(cfg, ctx.margins, held, full_y)
    return TrainResult(
        model=ctx.model,
        history=history,
        config=record,
        environment=environment_info(),
        test_loss=None if test is None else test[0],
        test_acc=None if test is None else test[1],
        margins=margins,
    )


def _margins_of_all(
    cfg: TrainConfig, acc: MarginAccumulator, held: Any, full_y: Tensor
) -> MarginRecord:
    """The accumulated margins, with N rows of the given images (early stopping's held-out
    rows, never trained on, get count 0)."""
    record = acc.record()
    if held is None:
        return record
    train_idx, _ = holdout_split(full_y, cfg.holdout, cfg.seed)
    return record.scattered(np.asarray(train_idx), int(full_y.shape[0]))


def _hold_out(cfg: TrainConfig, data: TrainData) -> tuple[TrainData, tuple[Tensor, Tensor] | None]:
    """Under early stopping: (the training part, (held-out images, their GIVEN labels)).

    The held-out part is chosen from, and scored against, ``data.y`` (the labels trained
    on): ``data.y_true`` is only cut down with the training part, for its report.
    """
    if not cfg.early_stop:
        return data, None
    train_idx, held_idx = holdout_split(data.y, cfg.holdout, cfg.seed)
    part = dataclasses.replace(
        data,
        x=data.x[train_idx],
        y=data.y[train_idx],
        y_true=None if data.y_true is None else data.y_true[train_idx],
    )
    return part, (data.x[held_idx], data.y[held_idx])


def _evaluate(ctx: EpochContext, x: Tensor, y: Tensor, label_high: int | None):
    return evaluate(
        ctx.model,
        x,
        y,
        device=ctx.device,
        autocast_dtype=ctx.autocast_dtype,
        label_high=label_high,
    )


def _final_test(
    ctx: EpochContext, data: TrainData, history: list[dict[str, Any]], chosen: int
) -> tuple[float, float] | None:
    """The returned model (epoch ``chosen``) on the test set, into that epoch's record.

    Reuses the score when that epoch was evaluated already (``test_every``).
    """
    if data.x_test is None or not history:
        return None
    rec = next((r for r in history if r["epoch"] == chosen), history[-1])
    if rec["test_loss"] is None:  # else: tested already (the restored weights are its own)
        rec["test_loss"], rec["test_acc"] = _evaluate(
            ctx, data.x_test, data.y_test, data.test_label_high
        )
    return rec["test_loss"], rec["test_acc"]


def _build(
    cfg: TrainConfig,
    data: TrainData,
    device: torch.device,
    model: nn.Module | None,
    perm_gen: torch.Generator,
    *,
    show: bool,
) -> EpochContext:
    """Model (initial weights drawn here), optimizer, scaler, loss; the data on the device."""
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    clf = _build_model(cfg, data, model).to(device=device, memory_format=memory_format)
    return EpochContext(
        model=clf,
        optimizer=_make_optimizer(cfg, clf.parameters()),
        scaler=make_scaler(cfg.precision, device),
        criterion=_make_criterion(cfg),
        device=device,
        x=data.x.to(device),  # uint8 stays uint8: the model converts per batch
        y=data.y.to(device),
        y_true=None if data.y_true is None else data.y_true.to(device),
        label_high=data.label_high,
        perm_gen=perm_gen,
        batch_size=cfg.batch_size,
        autocast_dtype=autocast_dtype(cfg.precision),
        show=show,
        margins=MarginAccumulator(data.x.shape[0], device) if cfg.record_margins else None,
    )


def _build_model(cfg: TrainConfig, data: TrainData, model: nn.Module | None) -> ImageClassifier:
    if isinstance(model, ImageClassifier):
        if model.scaling.scaling != cfg.scaling:
            raise ValueError(
                f"Expected the given model's input scaling to be config.scaling="
                f"{cfg.scaling!r}, but it is {model.scaling.scaling!r}"
            )
        if model.scaling.in_channels != data.in_channels:
            raise ValueError(
                f"Expected images with the given model's {model.scaling.in_channels} "
                f"channel(s), but got {data.in_channels}"
            )
        model.scaling.channels_last = bool(cfg.channels_last)
        return model
    if cfg.scaling == "standardize":
        mean, std = channel_stats(data.x)
        std = std.clamp_min(1e-6)  # a constant channel: scale by 1e-6 rather than divide by 0
    else:
        mean, std = torch.zeros(data.in_channels), torch.ones(data.in_channels)
    net = (
        model
        if model is not None
        else make_model(
            cfg.model,
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            image_size=data.image_size,
        )
    )
    return ImageClassifier(
        InputScaling(cfg.scaling, mean, std, channels_last=bool(cfg.channels_last)), net
    )


def _make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    params = list(params)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
    try:  # fused: one kernel for all parameters (torch >= 2.4 on CPU); same update rule
        return cls(params, lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=cfg.lr)


def _make_criterion(cfg: TrainConfig) -> nn.Module:
    """The run's loss, scheduled after a CE warm-up when ``delay > 0``.

    Built with ``validate_args=False``: the labels were checked once (``prepare_data``), so
    no batch pays for a check of its label values (a device sync on a GPU).
    """
    criterion = make_loss(cfg.loss, validate_args=False, **cfg.loss_params)
    if cfg.loss != "ce" and cfg.delay > 0:
        criterion = ScheduledLoss(criterion, delay=cfg.delay)
    return criterion


def _restore(ctx: EpochContext, ckpt: Checkpoint) -> tuple[list[dict[str, Any]], int]:
    """Load a checkpoint's states into the run; return its history and epochs done."""
    ctx.model.load_state_dict(ckpt.model_state)
    ctx.optimizer.load_state_dict(ckpt.optimizer_state)
    if ctx.scaler is not None and ckpt.scaler_state is not None:
        ctx.scaler.load_state_dict(ckpt.scaler_state)
    torch.set_rng_state(ckpt.torch_rng_state)
    if ckpt.device_rng_state is not None:
        set_device_rng_state(ctx.device, ckpt.device_rng_state)
    ctx.perm_gen.set_state(ckpt.permutation_rng_state)
    return [dict(r) for r in ckpt.history], int(ckpt.epoch)


def _train_epoch(
    cfg: TrainConfig, ctx: EpochContext, data: TrainData, epoch: int
) -> dict[str, Any]:
    """Train 0-based ``epoch`` (and test it every ``test_every`` epochs); its history record."""
    t0 = time.perf_counter()
    in_warmup = cfg.loss == "ce"
    if isinstance(ctx.criterion, ScheduledLoss):
        ctx.criterion.set_epoch(epoch)
        in_warmup = ctx.criterion.in_warmup
    # Samples below the PZ cutoff are counted only while PZ is in use: a CE warm-up epoch
    # is then the same record whether it belongs to this run or to a shared warm-up.
    cutoff = float(cfg.loss_params["cutoff"]) if cfg.loss == "pz" and not in_warmup else None
    sums = run_epoch(ctx, cutoff=cutoff, desc=f"epoch {epoch + 1}/{cfg.epochs}")
    train_seconds = time.perf_counter() - t0
    test = None
    periodic = cfg.test_every and (epoch + 1) % cfg.test_every == 0
    last = epoch + 1 == cfg.epochs and not cfg.early_stop  # early stop: _final_test decides
    if data.x_test is not None and (periodic or last):
        test = _evaluate(ctx, data.x_test, data.y_test, data.test_label_high)
    loss_in_use = "ce" if in_warmup else cfg.loss
    return _record(epoch, loss_in_use, sums, test, time.perf_counter() - t0, train_seconds)


def _record(
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


def _snapshot(
    cfg: TrainConfig,
    ctx: EpochContext,
    epochs_done: int,
    history: list[dict[str, Any]],
    fingerprint: dict[str, Any] | None,
) -> Checkpoint:
    """The run's state after ``epochs_done`` epochs."""
    return Checkpoint(
        epoch=epochs_done,
        config=cfg.to_dict(),
        model_state={k: v.cpu() for k, v in ctx.model.state_dict().items()},
        optimizer_state=ctx.optimizer.state_dict(),
        scaler_state=None if ctx.scaler is None else ctx.scaler.state_dict(),
        torch_rng_state=torch.get_rng_state(),
        device_rng_state=get_device_rng_state(ctx.device),
        permutation_rng_state=ctx.perm_gen.get_state(),
        history=[dict(r) for r in history],
        data=fingerprint,
    )


def _save(checkpoint_dir: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    return save_checkpoint(checkpoint_path(checkpoint_dir, ckpt.epoch), ckpt)
