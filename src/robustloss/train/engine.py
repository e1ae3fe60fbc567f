"""The training loop: whole dataset on the device, index-slice batches, no DataLoader.

N training images, K classes, B = ``config.batch_size``. Reads top to bottom:
``train`` validates and resolves, then ``_fit`` seeds, builds the model and optimizer (or
restores them from a checkpoint) and runs the epochs; ``_run_epoch`` is one pass.

Why it is fast on a CPU: the N images live as one uint8 tensor on the device and a batch is
``images[perm[i : i + B]]``, so there is no per-sample Python, no collation and no worker
process; the model converts a batch to float itself. On the paper's CNN the arithmetic
dominates, so the options that matter are the ones that make it cheaper: bf16 autocast
(oneDNN's AVX512-BF16/AMX kernels), channels-last memory format, fused Adam, and the model's
own max-pool-before-ReLU and fast dropout (see ``benchmarks/train_throughput.py``).

Randomness, all from ``config.seed``: torch's global generator (initial weights, dropout) is
seeded with ``seed``, and restored on return, so the caller's global state is the same
after the call as before it; the per-epoch permutations come from a dedicated
``torch.Generator`` seeded with :func:`permutation_seed` ``(seed)``. numpy's random state is
not used. Same config, data and machine, CPU fp32: bitwise identical results.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from robustloss.losses import ScheduledLoss, cross_entropy, make_loss
from robustloss.models import ImageClassifier, InputScaling, channel_stats, make_model
from robustloss.provenance import environment_info
from robustloss.train.checkpoint import FORMAT as CHECKPOINT_FORMAT
from robustloss.train.checkpoint import VERSION as CHECKPOINT_VERSION
from robustloss.train.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    warmup_compatible,
)
from robustloss.train.config import TrainConfig

HISTORY_KEYS: tuple[str, ...] = (
    "epoch",  # epochs done, 1-based
    "loss_in_use",  # "ce" during the warm-up, else config.loss
    "train_loss",  # mean loss over the epoch's batches (train mode, weights moving)
    "train_acc",  # accuracy of those same forward passes vs the given labels
    "train_acc_true",  # ... vs true_labels, or None
    "frac_below_cutoff",  # epochs with PZ in use: fraction with p_t <= cutoff, else None
    "test_loss",  # cross entropy on the test set after the epoch (eval mode), or None
    "test_acc",  # accuracy on the test set, or None
    "seconds",  # wall time of the epoch, evaluation included
    "samples_per_s",  # N / seconds of the training pass alone
)
EVAL_BATCH = 1024
PERMUTATION_STREAM = 1  # SeedSequence stream of the permutation generator


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: an :class:`~robustloss.models.ImageClassifier` in eval mode; takes raw images.
        history: one dict per epoch with :data:`HISTORY_KEYS`.
        config: the resolved :class:`TrainConfig` as a dict (device, threads, precision as
            used), from which ``TrainConfig.from_dict`` rebuilds it.
        environment: :func:`robustloss.provenance.environment_info` during the run.
    """

    model: nn.Module
    history: list[dict[str, Any]]
    config: dict[str, Any]
    environment: dict[str, Any]


def permutation_seed(seed: int) -> int:
    """The 63-bit seed of the batch-order generator: numpy ``SeedSequence([seed, 1])``."""
    words = np.random.SeedSequence([int(seed), PERMUTATION_STREAM]).generate_state(2)
    return int((int(words[0]) << 31) ^ int(words[1]))  # < 2**63


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
    parts.append(f"{record['seconds']:.1f} s, {record['samples_per_s']:,.0f} samples/s")
    return " | ".join(parts)


# ----- data ---------------------------------------------------------------------------------


def as_tensor(array: Any) -> Tensor:
    """A tensor sharing memory with a numpy array where possible (read-only ones too)."""
    if isinstance(array, Tensor):
        return array
    array = np.ascontiguousarray(array)
    with warnings.catch_warnings():  # a read-only array: training never writes to it
        warnings.filterwarnings("ignore", message=".*not writable.*", category=UserWarning)
        return torch.from_numpy(array)


def _images_tensor(name: str, images: Any) -> Tensor:
    x = as_tensor(images)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"Expected `{name}` of shape (N, H, W) or (N, H, W, C), but got {tuple(x.shape)}"
        )
    if x.shape[1] != x.shape[2]:
        raise ValueError(
            f"Expected square images in `{name}`, but got H x W = {x.shape[1]} x {x.shape[2]}"
        )
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"Expected `{name}` with a real dtype (uint8 or float), got {x.dtype}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        x = x.to(torch.float32)  # other integer types: exact as float32 for 0..255
    elif x.is_floating_point() and x.dtype != torch.float32:
        x = x.to(torch.float32)
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"Expected finite pixel values in `{name}`, but found NaN or inf")
    return x.contiguous()


def _labels_tensor(name: str, labels: Any, n: int) -> Tensor:
    y = as_tensor(labels)
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ValueError(f"Expected integer class indices in `{name}`, but got {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"Expected `{name}` of shape ({n},), but got {tuple(y.shape)}")
    return y.to(torch.int64).contiguous()


@dataclass
class _Data:
    x: Tensor  # (N, H, W[, C]) uint8 or float32, on the CPU
    y: Tensor  # (N,) int64
    y_true: Tensor | None  # (N,) int64
    x_test: Tensor | None
    y_test: Tensor | None
    num_classes: int

    @property
    def in_channels(self) -> int:
        return 1 if self.x.ndim == 3 else self.x.shape[3]

    @property
    def image_size(self) -> int:
        return self.x.shape[1]

    def fingerprint(self) -> dict[str, Any]:
        """Shape, dtype, classes and a BLAKE2b digest of the training images and labels."""
        h = hashlib.blake2b(digest_size=16)
        for t in (self.x, self.y):
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.cpu().contiguous().numpy().view(np.uint8).reshape(-1).data)
        return {
            "n": int(self.x.shape[0]),
            "image_shape": list(self.x.shape[1:]),
            "num_classes": self.num_classes,
            "digest": h.hexdigest(),
        }


def _prepare_data(images, labels, true_labels, test_images, test_labels, num_classes) -> _Data:
    x = _images_tensor("images", images)
    n = x.shape[0]
    if n == 0:
        raise ValueError("Expected at least one training image, but got 0")
    y = _labels_tensor("labels", labels, n)
    y_true = None if true_labels is None else _labels_tensor("true_labels", true_labels, n)
    x_test = y_test = None
    if (test_images is None) != (test_labels is None):
        raise ValueError("Expected both `test_images` and `test_labels`, or neither")
    if test_images is not None:
        x_test = _images_tensor("test_images", test_images)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"Expected test images of shape (M, {', '.join(map(str, x.shape[1:]))}) like the "
                f"training images, but got {tuple(x_test.shape)}"
            )
        y_test = _labels_tensor("test_labels", test_labels, x_test.shape[0])
    all_labels = [t for t in (y, y_true, y_test) if t is not None and t.numel()]
    low = min(int(t.min()) for t in all_labels)
    high = max(int(t.max()) for t in all_labels)
    if num_classes is None:
        num_classes = max(high + 1, 2)
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"Expected `num_classes` to be an int >= 2, but got {num_classes!r}")
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"Expected labels in [0, {num_classes}) (num_classes = {num_classes}), but got "
            f"values from {low} to {high}"
        )
    return _Data(x, y, y_true, x_test, y_test, num_classes)


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
    quiet: bool = False,
) -> TrainResult:
    """Train a classifier on (possibly noisy) labels; return the model and its history.

    Args:
        config: the :class:`TrainConfig`; its resolved form is recorded in the result.
        images: ``(N, H, W)`` or ``(N, H, W, C)`` uint8 or float, values 0..255, H = W.
        labels: ``(N,)`` integer labels to train on (the noisy ones).
        true_labels: ``(N,)`` the clean labels, when known: adds ``train_acc_true``.
        test_images, test_labels: a clean test set, evaluated after every epoch.
        num_classes: K; default ``max(label) + 1`` over all label arrays given.
        model: continue training this model with a fresh optimizer (the paper's carried-over
            folds); it is trained in place. An ``ImageClassifier`` (what ``train`` returns)
            keeps its input scaling; a bare network gets one computed from ``images``. With
            ``resume_from``, the checkpoint's weights are loaded into it (a custom network).
        checkpoint_dir: save ``epoch-{k:03d}.pt`` after every epoch k.
        resume_from: a checkpoint file to continue from: bitwise the run that wrote it, when
            :func:`~robustloss.train.checkpoint.warmup_compatible` allows the config.
        quiet: no progress bars (there are none when stderr is not a terminal anyway).

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: bad arrays, a checkpoint that does not fit config or data.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"Expected `config` to be a TrainConfig, but got {type(config).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"Expected `model` to be an nn.Module, but got {type(model).__name__}")
    cfg = config.resolved()
    data = _prepare_data(images, labels, true_labels, test_images, test_labels, num_classes)
    fingerprint = data.fingerprint() if (checkpoint_dir or resume_from) else None
    ckpt = None
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        warmup_compatible(ckpt["config"], cfg.to_dict(), ckpt["epoch"])
        if ckpt["data"] != fingerprint:
            raise ValueError(
                f"cannot resume from {str(resume_from)!r}: it was trained on other data "
                f"(checkpoint {ckpt['data']}, given {fingerprint})"
            )
    device = torch.device(cfg.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        # Seeding below changes torch's global generators only inside this block.
        with _forked_rng(device):
            return _fit(
                cfg,
                data,
                device,
                model=model,
                ckpt=ckpt,
                fingerprint=fingerprint,
                checkpoint_dir=checkpoint_dir,
                quiet=quiet,
            )
    finally:
        torch.set_num_threads(previous_threads)


# ----- the run ----------------------------------------------------------------------------------


def _build_model(cfg: TrainConfig, data: _Data, model: nn.Module | None) -> ImageClassifier:
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
        model.scaling.channels_last = cfg.channels_last
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
        InputScaling(cfg.scaling, mean, std, channels_last=cfg.channels_last), net
    )


def _make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    params = list(params)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
    try:  # fused: one kernel for all parameters (torch >= 2.4 on CPU); same update rule
        return cls(params, lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=cfg.lr)


def _fit(cfg, data, device, *, model, ckpt, fingerprint, checkpoint_dir, quiet) -> TrainResult:
    # torch's global generators (forked by the caller): initial weights, dropout.
    torch.default_generator.manual_seed(cfg.seed)
    _seed_device(device, cfg.seed)
    perm_gen = torch.Generator().manual_seed(permutation_seed(cfg.seed))
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    clf = _build_model(cfg, data, model).to(device=device, memory_format=memory_format)
    optimizer = _make_optimizer(cfg, clf.parameters())
    scaler = None
    if cfg.precision == "amp":  # float16 needs loss scaling; bf16 does not
        scaler = torch.amp.GradScaler(device.type)
    criterion = make_loss(cfg.loss, **cfg.loss_params)
    if cfg.loss != "ce" and cfg.delay > 0:
        criterion = ScheduledLoss(criterion, delay=cfg.delay)
    cutoff = float(cfg.loss_params["cutoff"]) if cfg.loss == "pz" else None

    history: list[dict[str, Any]] = []
    start = 0
    if ckpt is not None:
        clf.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        if scaler is not None and ckpt["scaler_state"] is not None:
            scaler.load_state_dict(ckpt["scaler_state"])
        torch.set_rng_state(ckpt["torch_rng_state"])
        if ckpt["device_rng_state"] is not None:
            _set_device_rng_state(device, ckpt["device_rng_state"])
        perm_gen.set_state(ckpt["permutation_rng_state"])
        history = [dict(r) for r in ckpt["history"]]
        start = int(ckpt["epoch"])

    x = data.x.to(device)  # (N, H, W[, C]) uint8 stays uint8: the model converts per batch
    y = data.y.to(device)
    y_true = None if data.y_true is None else data.y_true.to(device)
    autocast_dtype = {"bf16": torch.bfloat16, "amp": torch.float16}.get(cfg.precision)
    show = not quiet and sys.stderr.isatty()

    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        in_warmup = cfg.loss == "ce"
        if isinstance(criterion, ScheduledLoss):
            criterion.set_epoch(epoch)
            in_warmup = criterion.in_warmup
        # Samples below the PZ cutoff are counted only while PZ is in use: a CE warm-up epoch
        # is then the same record whether it belongs to this run or to a shared warm-up.
        epoch_cutoff = None if in_warmup else cutoff
        sums = _run_epoch(
            clf,
            optimizer,
            scaler,
            criterion,
            x,
            y,
            y_true,
            perm_gen,
            batch_size=cfg.batch_size,
            autocast_dtype=autocast_dtype,
            cutoff=epoch_cutoff,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            show=show,
        )
        train_seconds = time.perf_counter() - t0
        n = x.shape[0]
        record = {
            "epoch": epoch + 1,
            "loss_in_use": "ce" if in_warmup else cfg.loss,
            "train_loss": sums["loss"] / n,
            "train_acc": sums["correct"] / n,
            "train_acc_true": None if y_true is None else sums["correct_true"] / n,
            "frac_below_cutoff": None if epoch_cutoff is None else sums["below"] / n,
            "test_loss": None,
            "test_acc": None,
        }
        if data.x_test is not None:
            record["test_loss"], record["test_acc"] = _evaluate(
                clf, data.x_test, data.y_test, device=device, autocast_dtype=autocast_dtype
            )
        record["seconds"] = time.perf_counter() - t0
        record["samples_per_s"] = n / train_seconds if train_seconds > 0 else math.inf
        history.append(record)
        if show:
            print(format_epoch(record, cfg.epochs), file=sys.stderr)
        if checkpoint_dir is not None:
            save_checkpoint(
                checkpoint_path(checkpoint_dir, epoch + 1),
                {
                    "format": CHECKPOINT_FORMAT,
                    "version": CHECKPOINT_VERSION,
                    "epoch": epoch + 1,
                    "config": cfg.to_dict(),
                    "model_state": {k: v.cpu() for k, v in clf.state_dict().items()},
                    "optimizer_state": optimizer.state_dict(),
                    "scaler_state": None if scaler is None else scaler.state_dict(),
                    "torch_rng_state": torch.get_rng_state(),
                    "device_rng_state": _get_device_rng_state(device),
                    "permutation_rng_state": perm_gen.get_state(),
                    "history": [dict(r) for r in history],
                    "data": fingerprint,
                },
            )
    clf.eval()
    return TrainResult(
        model=clf, history=history, config=cfg.to_dict(), environment=environment_info()
    )


@contextlib.contextmanager
def _forked_rng(device: torch.device) -> Iterator[None]:
    """Restore torch's global CPU generator (and ``device``'s) on exit."""
    cpu_state = torch.get_rng_state()
    device_state = _get_device_rng_state(device)
    try:
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if device_state is not None:
            _set_device_rng_state(device, device_state)


def _seed_device(device: torch.device, seed: int) -> None:
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif device.type == "mps":
        torch.mps.manual_seed(seed)


def _get_device_rng_state(device: torch.device) -> Tensor | None:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def _set_device_rng_state(device: torch.device, state: Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)


def _run_epoch(
    clf,
    optimizer,
    scaler,
    criterion,
    x,
    y,
    y_true,
    perm_gen,
    *,
    batch_size,
    autocast_dtype,
    cutoff,
    desc,
    show,
) -> dict[str, float]:
    """One pass over a fresh permutation; returns sums over samples of loss, hits, etc."""
    from tqdm.auto import tqdm

    device = x.device
    n = x.shape[0]
    perm = torch.randperm(n, generator=perm_gen).to(device)  # (N,)
    log_cutoff = None if cutoff is None else (math.log(cutoff) if cutoff > 0 else -math.inf)
    # Running sums stay tensors on the device: no host sync per batch.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    correct_true = torch.zeros((), dtype=torch.int64, device=device)
    below = torch.zeros((), dtype=torch.int64, device=device)
    clf.train()
    with tqdm(total=n, desc=desc, unit="img", disable=not show, leave=False) as bar:
        for step, i in enumerate(range(0, n, batch_size)):
            idx = perm[i : i + batch_size]  # (B,)
            yb = y[idx]  # (B,)
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                logits = clf(x[idx])  # (B, K), bf16/fp16 under autocast
            logits = logits.float()  # the loss is always computed in float32
            loss = criterion(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            if loss.requires_grad:  # False only if a loss ignores every sample of the batch
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                bsz = idx.shape[0]
                loss_sum += loss.detach().double() * bsz
                pred = logits.argmax(1)  # (B,)
                correct += (pred == yb).sum()
                if y_true is not None:
                    correct_true += (pred == y_true[idx]).sum()
                if log_cutoff is not None:
                    log_pt = torch.log_softmax(logits, 1).gather(1, yb[:, None])  # (B, 1)
                    below += (log_pt <= log_cutoff).sum()
            if show:
                bar.update(bsz)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss_sum.item() / min(i + bsz, n):.4f}")
    return {
        "loss": loss_sum.item(),
        "correct": int(correct),
        "correct_true": int(correct_true),
        "below": int(below),
    }


def _evaluate(clf, x_test, y_test, *, device, autocast_dtype) -> tuple[float, float]:
    """Mean cross entropy and accuracy on a test set, eval mode, training's precision."""
    clf.eval()
    loss_sum, hits = 0.0, 0
    with torch.inference_mode():
        for i in range(0, x_test.shape[0], EVAL_BATCH):
            xb = x_test[i : i + EVAL_BATCH].to(device)
            yb = y_test[i : i + EVAL_BATCH].to(device)
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                logits = clf(xb)
            logits = logits.float()
            loss_sum += float(cross_entropy(logits, yb, reduction="sum"))
            hits += int((logits.argmax(1) == yb).sum())
    m = max(x_test.shape[0], 1)
    return loss_sum / m, hits / m
