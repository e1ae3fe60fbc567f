"""Predicted probabilities from heads on embeddings (``--features`` runs), or given ones.

N examples, D dimensions, K classes. Each returns a
:class:`~robustloss.run.records.ProbabilityResult`:

:func:`head_probabilities` (``detect --features``)
    ``in-sample``: one head on all rows, asked about them. ``cv``: the folds of
    :mod:`robustloss.probs.protocols` (``StratifiedKFold`` from ``seed``; fold k's
    head seeded with ``derive_seed(head.seed, FOLD_STREAM, k)``), a fresh head per fold,
    out-of-fold probabilities. The folds are independent :class:`FoldTask` records run by
    ``fold_map`` (in this process by default; ``detect --executor`` passes one that sends
    them to Dask workers, which read the feature file themselves: a shared filesystem;
    :mod:`robustloss.probs.folds`). Trained by :mod:`robustloss.train.head_training`.
:func:`given_probabilities` (``detect --pred-probs``)
    The user's own probabilities: nothing trained.

:func:`embeddings` gives a trained CNN's penultimate-layer embeddings of images (the kNN
detector's input, :mod:`robustloss.run.detectors`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from robustloss.data.user.features import FeatureMatrix
from robustloss.models.heads import penultimate
from robustloss.probs.folds import FoldMap, dask_fold_map, map_in_process
from robustloss.probs.records import ProbabilityResult
from robustloss.provenance import environment_info
from robustloss.seeds import FOLD_STREAM, SPLIT_STREAM, derive_seed
from robustloss.train.head_training import HeadConfig, predict_head, train_head
from robustloss.train.inputs import as_tensor

__all__ = [
    "FEATURE_PROTOCOLS",
    "FoldMap",
    "FoldOutcome",
    "FoldTask",
    "dask_fold_map",
    "embeddings",
    "given_probabilities",
    "head_probabilities",
    "run_fold",
]

#: Protocols a head on features can use (paper-cv's carried model has no meaning here).
FEATURE_PROTOCOLS: tuple[str, ...] = ("in-sample", "cv")


@dataclasses.dataclass(frozen=True)
class FoldTask:
    """One head to train: what a (possibly remote) worker needs, plain data and a matrix
    that reads its file where it runs."""

    k: int  # fold (0 for in-sample)
    matrix: FeatureMatrix
    labels: np.ndarray  # (N,) int64 labels of every matrix row
    train_rows: np.ndarray  # sorted matrix rows to train on
    predict_rows: np.ndarray  # sorted matrix rows to predict
    config: HeadConfig
    num_classes: int


@dataclasses.dataclass(frozen=True)
class FoldOutcome:
    """A trained head's predictions of ``predict_rows`` and its record."""

    k: int
    probs: np.ndarray  # (len(predict_rows), K) float64
    history: list[dict[str, Any]]
    config: dict[str, Any]
    model: Any


def run_fold(task: FoldTask) -> FoldOutcome:
    """Train one fold's head and predict its held-out rows (runs on a Dask worker too)."""
    result = train_head(
        task.config, task.matrix, task.labels, rows=task.train_rows, num_classes=task.num_classes
    )
    probs = predict_head(result.model, task.matrix, task.predict_rows)
    return FoldOutcome(task.k, probs, result.history, result.config, result.model)


def head_probabilities(
    matrix: FeatureMatrix,
    labels: np.ndarray,
    config: HeadConfig,
    *,
    rows: np.ndarray | None = None,
    protocol: str = "cv",
    folds: int = 5,
    seed: int = 0,
    num_classes: int | None = None,
    fold_map: FoldMap | None = None,
) -> ProbabilityResult:
    """Heads on ``matrix`` rows ``rows`` (all if None) with ``labels``, per ``protocol``.

    Args:
        matrix: (N, D) features.
        labels: (R,) int64 labels of the chosen rows, in row order.
        config: the heads' settings; its ``seed`` is the base of the fold seeds.
        rows: (R,) sorted matrix rows of the training set (a subset), None for all.
        protocol: "in-sample" or "cv".
        folds, seed: as :func:`robustloss.probs.protocols.predicted_probabilities`.
        num_classes: K (default ``labels.max() + 1``).
        fold_map: runs :func:`run_fold` over the tasks (see the module docstring).

    Returns:
        A :class:`ProbabilityResult` for the R rows, in order.
    """
    if protocol not in FEATURE_PROTOCOLS:
        raise ValueError(
            f"Expected `protocol` for heads on features to be one of {list(FEATURE_PROTOCOLS)},"
            f" but got {protocol!r}"
        )
    rows = np.arange(matrix.n, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != rows.shape:
        raise ValueError(f"Expected {rows.size} labels (one per row), but got {labels.shape}")
    k = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    full = np.zeros(matrix.n, dtype=np.int64)
    full[rows] = labels
    r = rows.size
    if protocol == "in-sample":
        splits = [(np.arange(r), np.arange(r))]
        seeds, split_seed = [config.seed], None
    else:
        if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= r:
            raise ValueError(f"Expected `folds` to be an integer in [2, {r}], but got {folds!r}")
        split_seed = derive_seed(seed, SPLIT_STREAM)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split_seed)
        splits = list(splitter.split(np.zeros(r), labels))
        seeds = [derive_seed(config.seed, FOLD_STREAM, j) for j in range(folds)]
    tasks = [
        FoldTask(j, matrix, full, rows[tr], rows[held], dataclasses.replace(config, seed=s), k)
        for j, ((tr, held), s) in enumerate(zip(splits, seeds, strict=True))
    ]
    outcomes = sorted((fold_map or map_in_process)(run_fold, tasks), key=lambda o: o.k)
    pred_probs = np.empty((r, k), dtype=np.float64)
    fold_of = np.full(r, -1, dtype=np.int64)
    for (_, held), outcome in zip(splits, outcomes, strict=True):
        pred_probs[held] = outcome.probs
        if protocol == "cv":
            fold_of[held] = outcome.k
    return ProbabilityResult(
        pred_probs=pred_probs,
        protocol=protocol,
        note=_FEATURE_NOTES[protocol],
        folds=None if protocol == "in-sample" else folds,
        fold_of=fold_of,
        histories=[o.history for o in outcomes],
        models=[o.model for o in outcomes],
        seeds=seeds,
        split_seed=split_seed,
        test_acc_per_model=None,
        train_config=dict(outcomes[0].config),
        environment=environment_info(),
    )


_FEATURE_NOTES = {
    "in-sample": "one head on all the embeddings, asked about those same examples",
    "cv": "stratified K-fold, a fresh head per fold on the embeddings, out-of-fold "
    "probabilities (what cleanlab recommends)",
}

#: The note of a run that trained nothing (``detect --pred-probs``).
GIVEN_NOTE = "predicted probabilities given by the user (no training)"


def given_probabilities(pred_probs: np.ndarray) -> ProbabilityResult:
    """The user's own (N, K) probabilities as a result of protocol ``pred-probs``."""
    n = pred_probs.shape[0]
    return ProbabilityResult(
        pred_probs=np.asarray(pred_probs, dtype=np.float64),
        protocol="pred-probs",
        note=GIVEN_NOTE,
        folds=None,
        fold_of=np.full(n, -1, dtype=np.int64),
        histories=[],
        models=[],
        seeds=[],
        split_seed=None,
        test_acc_per_model=None,
        train_config={},
        environment=environment_info(),
    )


# ----- a CNN's embeddings ------------------------------------------------------------------


def embeddings(model: torch.nn.Module, images: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """(N, E) float32 penultimate-layer embeddings of raw ``images`` by a trained
    :class:`~robustloss.models.images.ImageClassifier` (eval mode, no autograd), computed where the
    model's parameters are (a CUDA-trained model included), returned on the CPU."""
    x = as_tensor(images)
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch_size):
                xb = x[start : start + batch_size].to(device, non_blocking=True)
                out.append(penultimate(model, xb).float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.empty((0, 0), dtype=np.float32)
