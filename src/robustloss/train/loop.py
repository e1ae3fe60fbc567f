"""One training epoch and one test-set evaluation: index-slice batches, sums kept on device.

N training images, B = batch size, K logits per image. The images live on the device as
one tensor and a batch is ``x[perm[i : i + B]]``: no DataLoader, no per-sample Python. The
running sums stay device tensors, read once at the end of the epoch, and the losses are
called with ``validate_args=False`` (the labels were checked once, per dataset, by
:func:`robustloss.train.inputs.prepare_data`): no host sync per batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from robustloss.losses import cross_entropy
from robustloss.train.margins import MarginAccumulator
from robustloss.train.precision import autocast

EVAL_BATCH = 1024


@dataclass(frozen=True)
class EpochContext:
    """What every epoch of one run trains with; built once per run."""

    model: nn.Module  # takes raw images; trained in place
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None  # float16 AMP only
    criterion: nn.Module  # built with validate_args=False
    device: torch.device
    x: Tensor  # (N, H, W[, C]) on the device; uint8 stays uint8, the model converts
    y: Tensor  # (N,) int64 on the device, the labels trained on
    y_true: Tensor | None  # (N,) int64 on the device
    label_high: int  # max(y), checked against the model's K
    perm_gen: torch.Generator  # the batch order, on the CPU
    batch_size: int
    autocast_dtype: torch.dtype | None
    show: bool  # progress bar
    # record_margins: every training pass's per-example margins (AUM), else None
    margins: MarginAccumulator | None = None


@dataclass(frozen=True)
class EpochSums:
    """Sums over the N samples of one epoch (None: not measured this epoch)."""

    n: int
    loss: float
    correct: int
    correct_true: int | None  # vs true labels, when given
    below: int | None  # samples with p_t <= cutoff, when a cutoff was given


def run_epoch(ctx: EpochContext, *, cutoff: float | None, desc: str) -> EpochSums:
    """One pass over a fresh permutation, counting ``p_t <= cutoff`` when ``cutoff`` is set."""
    device, n = ctx.device, ctx.x.shape[0]
    perm = torch.randperm(n, generator=ctx.perm_gen).to(device)  # (N,)
    log_cutoff = None if cutoff is None else (math.log(cutoff) if cutoff > 0 else -math.inf)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    correct_true = torch.zeros((), dtype=torch.int64, device=device)
    below = torch.zeros((), dtype=torch.int64, device=device)
    ctx.model.train()
    with tqdm(total=n, desc=desc, unit="img", disable=not ctx.show, leave=False) as bar:
        for step, i in enumerate(range(0, n, ctx.batch_size)):
            idx = perm[i : i + ctx.batch_size]  # (B,)
            yb = ctx.y[idx]  # (B,)
            logits, loss = _train_step(ctx, ctx.x[idx], yb)  # (B, K) float32, scalar
            with torch.no_grad():
                bsz = idx.shape[0]
                if ctx.margins is not None:
                    ctx.margins.add(idx, logits, yb)
                loss_sum += loss.detach().double() * bsz
                pred = logits.argmax(1)  # (B,)
                correct += (pred == yb).sum()
                if ctx.y_true is not None:
                    correct_true += (pred == ctx.y_true[idx]).sum()
                if log_cutoff is not None:
                    log_pt = torch.log_softmax(logits, 1).gather(1, yb[:, None])  # (B, 1)
                    below += (log_pt <= log_cutoff).sum()
            if ctx.show:
                bar.update(bsz)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss_sum.item() / min(i + bsz, n):.4f}")
    return EpochSums(
        n=n,
        loss=loss_sum.item(),
        correct=int(correct),
        correct_true=None if ctx.y_true is None else int(correct_true),
        below=None if cutoff is None else int(below),
    )


def _train_step(ctx: EpochContext, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
    """Forward, loss and one optimizer step on a batch; return its float32 logits and loss."""
    with autocast(ctx.device.type, ctx.autocast_dtype):
        logits = ctx.model(xb)  # (B, K), bf16/fp16 under autocast
    logits = logits.float()  # the loss is always computed in float32
    _check_width(logits, ctx.label_high)
    loss = ctx.criterion(logits, yb)
    ctx.optimizer.zero_grad(set_to_none=True)
    if loss.requires_grad:  # False only if a loss ignores every sample of the batch
        if ctx.scaler is not None:
            ctx.scaler.scale(loss).backward()
            ctx.scaler.step(ctx.optimizer)
            ctx.scaler.update()
        else:
            loss.backward()
            ctx.optimizer.step()
    return logits, loss


def evaluate(
    model: nn.Module,
    x_test: Tensor,
    y_test: Tensor,
    *,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    label_high: int | None,
) -> tuple[float, float]:
    """Mean cross entropy and accuracy on a test set, eval mode, training's precision."""
    model.eval()
    loss_sum, hits = 0.0, 0
    with torch.inference_mode():
        for i in range(0, x_test.shape[0], EVAL_BATCH):
            xb = x_test[i : i + EVAL_BATCH].to(device)
            yb = y_test[i : i + EVAL_BATCH].to(device)
            with autocast(device.type, autocast_dtype):
                logits = model(xb)  # (B, K)
            logits = logits.float()
            if label_high is not None:
                _check_width(logits, label_high)
            loss_sum += float(cross_entropy(logits, yb, reduction="sum", validate_args=False))
            hits += int((logits.argmax(1) == yb).sum())
    m = max(x_test.shape[0], 1)
    return loss_sum / m, hits / m


def _check_width(logits: Tensor, label_high: int) -> None:
    """The model must give a logit for every label: a shape test, no device sync.

    What the losses' per-call value check caught before the labels were checked once per
    dataset: a given network with fewer outputs than the labels need.
    """
    c = logits.shape[1]
    if c <= label_high:
        raise ValueError(
            f"Expected argument `target` to have values in [0, {c}) (C = {c} classes), but "
            f"the labels go up to {label_high}: the model outputs {c} logits per image"
        )
