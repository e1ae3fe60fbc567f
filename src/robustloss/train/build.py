"""A run's build phase: the model (its initial weights drawn here), optimizer, scaler and
loss, and the training data on the device, as the :class:`~robustloss.train.loop.EpochContext`
every epoch trains with.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from robustloss.losses import ScheduledLoss, make_loss
from robustloss.models.images import ImageClassifier, InputScaling, channel_stats, make_model
from robustloss.train.config import TrainConfig
from robustloss.train.inputs import TrainData
from robustloss.train.loop import EpochContext
from robustloss.train.margins import MarginAccumulator
from robustloss.train.precision import autocast_dtype, make_scaler

__all__ = ["build_context", "build_model", "make_criterion", "make_optimizer"]


def build_context(
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
    clf = build_model(cfg, data, model).to(device=device, memory_format=memory_format)
    return EpochContext(
        model=clf,
        optimizer=make_optimizer(cfg, clf.parameters()),
        scaler=make_scaler(cfg.precision, device),
        criterion=make_criterion(cfg),
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


def build_model(cfg: TrainConfig, data: TrainData, model: nn.Module | None) -> ImageClassifier:
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


def make_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    params = list(params)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
    try:  # fused: one kernel for all parameters (torch >= 2.4 on CPU); same update rule
        return cls(params, lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=cfg.lr)


def make_criterion(cfg: TrainConfig) -> nn.Module:
    """The run's loss, scheduled after a CE warm-up when ``delay > 0``.

    Built with ``validate_args=False``: the labels were checked once (``prepare_data``), so
    no batch pays for a check of its label values (a device sync on a GPU).
    """
    criterion = make_loss(cfg.loss, validate_args=False, **cfg.loss_params)
    if cfg.loss != "ce" and cfg.delay > 0:
        criterion = ScheduledLoss(criterion, delay=cfg.delay)
    return criterion
