"""Training a head on embeddings, streamed in blocks from a feature matrix.

N examples in the matrix, R rows chosen to train on (a fold's training rows, or all), D
dimensions, K classes, B = ``config.batch_size``. Memory stays bounded by a few blocks
whatever N: nothing holds more than one block of features (about
:data:`robustloss.data.user.features.BLOCK_BYTES`) at a time.

The run, as its phases:

1. one streaming pass over the chosen rows for the per-column mean and standard deviation
   (float64 sums), which become the head's :class:`~robustloss.models.heads.Standardize` layer;
2. per epoch, the sorted rows are cut into consecutive *blocks* that each span at most
   ``config.block_rows`` rows of the file; the block order is shuffled, each block is read as one
   contiguous range of the file, its rows are shuffled, and its batches of B train the
   head. So every epoch reads the file front to back in a shuffled order of large
   sequential reads, and the batches mix rows within a block (of ~16 MB: tens of thousands
   of rows, far more than a batch);
3. predictions (:func:`predict_head`) read blocks in order and return float64 softmax rows.

Randomness as :mod:`robustloss.train.engine`: torch's global generator (initial weights,
dropout) is seeded with ``config.seed`` inside :func:`~robustloss.train.rng.forked_rng`
(the caller's state is restored), and the block and row orders come from a dedicated
generator seeded with :func:`~robustloss.train.rng.permutation_seed`. Same config, data,
thread count and machine: bitwise identical results. The labels are checked once; the loss
runs with ``validate_args=False``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from robustloss.data.user.features import FeatureMatrix
from robustloss.losses import LOSS_NAMES, ScheduledLoss, make_loss
from robustloss.models.heads import (
    HEAD_NAMES,
    MLP_DROPOUT,
    MLP_HIDDEN,
    FeatureClassifier,
    Standardize,
    make_head,
)
from robustloss.train.engine import HISTORY_KEYS
from robustloss.train.rng import isolated_run, seed_run

__all__ = ["HeadConfig", "HeadResult", "feature_stats", "predict_head", "train_head"]


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    """Settings of one head's training.

    Defaults (``detect --features``'s): a linear head, Adam at 1e-2 on batches of 1024 for
    10 epochs: on standardized embeddings a batch that large keeps the step count (and
    Python overhead) low, the rate keeps small data (a few steps per epoch) from
    under-fitting, and 10 passes reach the fit that matters for Confident Learning
    (probabilities that rank the examples).

    Attributes:
        head: "linear" or "mlp" (:mod:`robustloss.models.heads`); ``hidden``/``dropout`` for mlp.
        loss, loss_params, delay: any loss of :mod:`robustloss.losses`, its
            hyperparameters, and the cross-entropy warm-up epochs (:class:`ScheduledLoss`).
        weight_decay: Adam's L2 penalty.
        threads: torch threads while training (None: leave torch's setting as it is).
        block_rows: rows per read block (None: about 16 MB of the stored features).
    """

    head: str = "linear"
    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-2
    loss: str = "ce"
    loss_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    delay: int = 0
    seed: int = 0
    weight_decay: float = 0.0
    hidden: int = MLP_HIDDEN
    dropout: float = MLP_DROPOUT
    threads: int | None = None
    block_rows: int | None = None

    def __post_init__(self) -> None:
        if self.head not in HEAD_NAMES:
            raise ValueError(f"Expected `head` to be one of {HEAD_NAMES}, but got {self.head!r}")
        if self.loss not in LOSS_NAMES:
            raise ValueError(f"Expected `loss` to be one of {LOSS_NAMES}, but got {self.loss!r}")
        for name, low in (("epochs", 1), ("batch_size", 1), ("delay", 0), ("seed", 0),
                          ("hidden", 1)):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Expected `{name}` to be an int >= {low}, but got {value!r}")
        for name in ("threads", "block_rows"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):  # fmt: skip
                raise ValueError(f"Expected `{name}` to be None or an int >= 1, but got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"Expected `lr` to be a finite float > 0, but got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(
                f"Expected `weight_decay` to be a float >= 0, but got {self.weight_decay!r}"
            )
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(
                f"Expected `dropout` to be a float in [0, 1), but got {self.dropout!r}"
            )
        make_loss(self.loss, **self.loss_params)  # the loss's own checks

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadConfig:
        return cls(**d)


@dataclasses.dataclass
class HeadResult:
    """A trained :class:`~robustloss.models.heads.FeatureClassifier` (eval mode), its per-epoch
    history (:data:`robustloss.train.HISTORY_KEYS`, test columns None) and config dict."""

    model: nn.Module
    history: list[dict[str, Any]]
    config: dict[str, Any]


def _rows(matrix: FeatureMatrix, rows: np.ndarray | None) -> np.ndarray:
    if rows is None:
        return np.arange(matrix.n, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= matrix.n):
        raise ValueError(
            f"Expected `rows` to be strictly increasing indices in [0, {matrix.n}), but got "
            f"{rows.size} rows from {int(rows.min())} to {int(rows.max())}"
        )
    return rows


def _blocks(rows: np.ndarray, block_rows: int) -> list[np.ndarray]:
    """Consecutive runs of the sorted ``rows`` that each span at most ``block_rows`` rows
    of the matrix, so that reading a run's span reads at most ``block_rows`` rows."""
    blocks, start = [], 0
    while start < rows.size:
        stop = int(np.searchsorted(rows, rows[start] + block_rows, side="left"))
        blocks.append(rows[start:stop])
        start = stop
    return blocks


def feature_stats(
    matrix: FeatureMatrix, rows: np.ndarray | None = None, *, block_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of the chosen rows (all if None), in one
    streaming pass of blocks with float64 sums: two ``(D,)`` float64 arrays."""
    rows = _rows(matrix, rows)
    total = np.zeros(matrix.dim, dtype=np.float64)
    sq = np.zeros(matrix.dim, dtype=np.float64)
    for block in _blocks(rows, block_rows or matrix.block_rows()):
        x = matrix.take(block).astype(np.float64, copy=False)  # (b, D), a new block already
        total += x.sum(axis=0)
        sq += np.einsum("ij,ij->j", x, x)
    n = max(rows.size, 1)
    mean = total / n
    var = np.maximum(sq / n - mean * mean, 0.0)
    return mean, np.sqrt(var)


def _check_labels(labels: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"Expected `labels` to be (N,) = ({n},) integers, but got dtype {labels.dtype}, "
            f"shape {labels.shape}"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Expected labels in [0, {num_classes}), but got values from {int(labels.min())} "
            f"to {int(labels.max())}"
        )
    return labels.astype(np.int64, copy=False)


def train_head(
    config: HeadConfig,
    matrix: FeatureMatrix,
    labels: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    num_classes: int | None = None,
) -> HeadResult:
    """Train a head on ``matrix`` rows ``rows`` (sorted; all if None) with ``labels``.

    Args:
        config: the :class:`HeadConfig`.
        matrix: the (N, D) features (:class:`~robustloss.data.user.features.FeatureMatrix`).
        labels: (N,) int labels of every row of the matrix (only ``labels[rows]`` train).
        rows: (R,) strictly increasing row indices to train on.
        num_classes: K (default ``labels.max() + 1``); the head has K outputs even when the
            rows lack a class.

    Returns:
        :class:`HeadResult`.
    """
    if not isinstance(config, HeadConfig):
        raise ValueError(f"Expected `config` to be a HeadConfig, but got {type(config).__name__}")
    k = int(np.max(labels)) + 1 if num_classes is None else int(num_classes)
    labels = _check_labels(labels, matrix.n, k)
    rows = _rows(matrix, rows)
    if rows.size == 0:
        raise ValueError("Expected at least one row to train on, but got none")
    with isolated_run(torch.device("cpu"), threads=config.threads):
        return _fit(config, matrix, labels, rows, k)


def _fit(
    config: HeadConfig, matrix: FeatureMatrix, labels: np.ndarray, rows: np.ndarray, k: int
) -> HeadResult:
    block_rows = config.block_rows or matrix.block_rows()
    mean, std = feature_stats(matrix, rows, block_rows=block_rows)  # phase 1
    generator = seed_run(config.seed, torch.device("cpu"))
    net = make_head(
        config.head, in_features=matrix.dim, num_classes=k, hidden=config.hidden,
        dropout=config.dropout,
    )  # fmt: skip
    model = FeatureClassifier(Standardize(torch.from_numpy(mean), torch.from_numpy(std)), net)
    optimizer = _optimizer(model, config)
    criterion = ScheduledLoss(
        make_loss(config.loss, validate_args=False, **config.loss_params), delay=config.delay
    )
    blocks = _blocks(rows, block_rows)
    history = []
    for epoch in range(config.epochs):  # phase 2
        criterion.set_epoch(epoch)
        start = time.perf_counter()
        sums = _epoch(model, optimizer, criterion, matrix, labels, blocks, config, generator)
        seconds = time.perf_counter() - start
        history.append(_record(epoch, config, criterion, sums, rows.size, seconds))
    model.eval()
    resolved = dict(config.to_dict(), threads=torch.get_num_threads(), block_rows=block_rows)
    return HeadResult(model=model, history=history, config=resolved)


def _optimizer(model: nn.Module, config: HeadConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    try:  # fused: one kernel for all parameters (torch >= 2.4 on CPU); same update rule
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _epoch(model, optimizer, criterion, matrix, labels, blocks, config, generator):
    """One pass over the blocks in shuffled order; returns (loss sum, correct, seen)."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    seen = 0
    for b in torch.randperm(len(blocks), generator=generator).tolist():
        block = blocks[b]
        with torch.no_grad():  # standardized once per block: elementwise, so as per batch
            x = model.scaling(torch.from_numpy(matrix.take(block)))  # (b, D) float32
        y = torch.from_numpy(labels[block])  # (b,)
        order = torch.randperm(block.size, generator=generator)
        for i in range(0, block.size, config.batch_size):
            idx = order[i : i + config.batch_size]
            xb, yb = x[idx], y[idx]  # (B, D), (B,)
            logits = model.net(xb)  # (B, K)
            loss = criterion(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach().double() * idx.numel()
                correct += (logits.argmax(1) == yb).sum()
            seen += idx.numel()
    return float(loss_sum) / max(seen, 1), int(correct) / max(seen, 1), seen


def _record(epoch, config, criterion, sums, n, seconds) -> dict[str, Any]:
    train_loss, train_acc, _ = sums
    row: dict[str, Any] = dict.fromkeys(HISTORY_KEYS)
    row.update(
        epoch=epoch + 1,
        loss_in_use="ce" if criterion.in_warmup else config.loss,
        train_loss=train_loss,
        train_acc=train_acc,
        seconds=seconds,
        samples_per_s=n / seconds if seconds > 0 else None,
    )
    return row


def predict_head(
    model: nn.Module,
    matrix: FeatureMatrix,
    rows: np.ndarray | None = None,
    *,
    block_rows: int | None = None,
) -> np.ndarray:
    """Softmax probabilities (float64, rows summing to 1) of ``matrix`` rows ``rows``
    (sorted; all if None), read in blocks, model in eval mode: ``(R, K)``."""
    rows = _rows(matrix, rows)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for block in _blocks(rows, block_rows or matrix.block_rows()) or [rows]:
                x = torch.from_numpy(matrix.take(block))  # (b, D), converted by the model
                out.append(torch.softmax(model(x).double(), dim=1).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)
