"""The training run: ``train`` checks and resolves, ``_fit`` runs the phases.

N training images, K classes, B = ``config.batch_size``. ``_fit`` reads as its phases:
seed the generators (:mod:`.rng`), build the model, optimizer and loss (:mod:`.build`),
restore them from a checkpoint when resuming (:mod:`.resume`), then per epoch train
(:mod:`.loop`), record (:mod:`.records`) and save (:mod:`.resume`).

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
import os
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from robustloss.losses import ScheduledLoss
from robustloss.provenance import environment_info
from robustloss.train.build import build_context
from robustloss.train.checkpoint import Checkpoint
from robustloss.train.config import TrainConfig
from robustloss.train.early_stop import EarlyStopping, holdout_split
from robustloss.train.inputs import TrainData, as_tensor, prepare_data
from robustloss.train.loop import EpochContext, evaluate, run_epoch
from robustloss.train.margins import MarginAccumulator, MarginRecord
from robustloss.train.precision import PrecisionChoice, warn_if_slow
from robustloss.train.records import HISTORY_KEYS, TrainResult, epoch_record, format_epoch
from robustloss.train.resume import load_resumable, restore, save_snapshot, snapshot
from robustloss.train.rng import isolated_run, permutation_seed, seed_run

__all__ = ["HISTORY_KEYS", "TrainResult", "as_tensor", "format_epoch", "permutation_seed", "train"]


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
    _check_arguments(config, model, checkpoint_dir, resume_from)
    cfg, choice = config._resolve()
    warn_if_slow(choice)
    data = prepare_data(images, labels, true_labels, test_images, test_labels, num_classes)
    probe_idx = _probe_indices(probe, data.x.shape[0])
    fingerprint = data.fingerprint() if (checkpoint_dir or resume_from) else None
    ckpt = None if resume_from is None else load_resumable(resume_from, cfg, fingerprint)
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


def _check_arguments(
    config: Any,
    model: Any,
    checkpoint_dir: str | os.PathLike[str] | None,
    resume_from: str | os.PathLike[str] | None,
) -> None:
    """The arguments :func:`train` checks before it resolves anything."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"Expected `config` to be a TrainConfig, but got {type(config).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"Expected `model` to be an nn.Module, but got {type(model).__name__}")
    if config.early_stop and (checkpoint_dir is not None or resume_from is not None):
        raise ValueError(
            "Expected early_stop=False with checkpoint_dir/resume_from (a checkpoint does not "
            "hold early stopping's best weights), but got early_stop=True"
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
    ctx = build_context(cfg, data, device, model, perm_gen, show=not quiet and sys.stderr.isatty())
    history, start = ([], 0) if ckpt is None else restore(ctx, ckpt)
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
            save_snapshot(checkpoint_dir, snapshot(cfg, ctx, epoch + 1, history, fingerprint))
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
    return epoch_record(epoch, loss_in_use, sums, test, time.perf_counter() - t0, train_seconds)
