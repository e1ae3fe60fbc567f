"""A run's checkpoint phases: refuse a checkpoint the run may not continue, restore one into
the run's :class:`~robustloss.train.loop.EpochContext`, and snapshot and save the run after
an epoch. The file format is :mod:`robustloss.train.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from robustloss.train.checkpoint import (
    Checkpoint,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    warmup_compatible,
)
from robustloss.train.config import TrainConfig
from robustloss.train.loop import EpochContext
from robustloss.train.rng import get_device_rng_state, set_device_rng_state

__all__ = ["load_resumable", "restore", "save_snapshot", "snapshot"]


def load_resumable(
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


def restore(ctx: EpochContext, ckpt: Checkpoint) -> tuple[list[dict[str, Any]], int]:
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


def snapshot(
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


def save_snapshot(checkpoint_dir: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` as ``epoch-{k:03d}.pt`` (k epochs done) in ``checkpoint_dir``."""
    return save_checkpoint(checkpoint_path(checkpoint_dir, ckpt.epoch), ckpt)
