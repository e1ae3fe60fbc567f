"""The examples one run trains on: the source data loaded and checked, and its subset.

:func:`load_source` reads a built-in dataset (with its clean test split) or the user's
``.npz`` / image folder, or the user's embeddings (``--features``, read in blocks, never
whole) or predicted probabilities (``--pred-probs``) with their labels
(:mod:`robustloss.data.user.features`); :func:`training_set` checks the labels and draws the
stratified ``--subset`` (all examples without one). N examples in the training set, K
classes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.model_selection import train_test_split

from robustloss.data import dataset_class_names, load_dataset, load_path
from robustloss.data.user.features import FeatureMatrix, load_features, load_pred_probs
from robustloss.run.config import RunConfig
from robustloss.seeds import SUBSET_STREAM, derive_seed

__all__ = ["SourceData", "TrainingSet", "load_source", "training_set"]


@dataclasses.dataclass(frozen=True)
class SourceData:
    """The source data as loaded: images, or features, or given probabilities."""

    images: np.ndarray | None  # None for features and given probabilities
    labels: np.ndarray  # (N,) int64: clean labels (run) or given labels (detect)
    class_names: list[str]
    paths: list[str] | None
    test: tuple[np.ndarray, np.ndarray] | None
    source: str
    ids: list[str] | None = None  # a manifest's `id` column, one per source row
    features: FeatureMatrix | None = None  # (N, D) embeddings (--features), read in blocks
    pred_probs: np.ndarray | None = None  # (N, K) given probabilities (--pred-probs)

    @property
    def n(self) -> int:
        """The number of source examples (rows)."""
        if self.features is not None:
            return self.features.n
        if self.pred_probs is not None:
            return self.pred_probs.shape[0]
        return self.images.shape[0]


@dataclasses.dataclass(frozen=True)
class TrainingSet:
    """The N examples a run trains on (the source data, or its stratified subset)."""

    images: np.ndarray | None  # (N, H, W) or (N, H, W, C); None for features / probabilities
    labels: np.ndarray  # (N,) int64: the labels the models learn (after corruption, if any)
    source_index: np.ndarray  # (N,) int64 rows of the source data
    num_classes: int
    data: SourceData


def load_source(cfg: RunConfig) -> SourceData:
    """The data ``cfg`` names: ``cfg.dataset``'s train split (and test split), or ``cfg.data``."""
    if cfg.dataset is not None:
        images, labels = load_dataset(cfg.dataset, "train")
        test = load_dataset(cfg.dataset, "test")
        names = list(dataset_class_names(cfg.dataset))
        return SourceData(images, np.asarray(labels), names, None, test, cfg.dataset)
    if cfg.features is not None:
        fs = load_features(cfg.features, cfg.labels, labels_column=cfg.labels_column)
        return SourceData(
            None, fs.labels, fs.class_names, None, None, fs.source, features=fs.features
        )
    if cfg.pred_probs is not None:
        ps = load_pred_probs(cfg.pred_probs, cfg.labels, labels_column=cfg.labels_column)
        return SourceData(
            None, ps.labels, ps.class_names, None, None, ps.source, pred_probs=ps.pred_probs
        )
    image_set = load_path(cfg.data, image_size=cfg.image_size)
    return SourceData(
        image_set.images,
        np.asarray(image_set.labels),
        list(image_set.class_names),
        None if image_set.paths is None else list(image_set.paths),
        None,
        str(cfg.data),
        None if image_set.ids is None else list(image_set.ids),
    )


def training_set(cfg: RunConfig, data: SourceData) -> TrainingSet:
    """The checked labels and the stratified ``--subset`` of the data (all of it if None)."""
    num_classes = _check_labels(data)
    source_index = _stratified_subset(data.labels, cfg.subset, cfg.seed)
    return TrainingSet(
        images=None if data.images is None else data.images[source_index],
        labels=data.labels[source_index].astype(np.int64),
        source_index=source_index,
        num_classes=num_classes,
        data=data,
    )


def _check_labels(data: SourceData) -> int:
    """Labels are integers in [0, K) with at least 2 classes present; returns K."""
    labels = data.labels
    if labels.ndim != 1 or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{data.source}: labels must be a 1-D array of integer class indices, "
            f"but got dtype {labels.dtype}, shape {labels.shape}"
        )
    if labels.shape[0] != data.n:
        raise ValueError(f"{data.source}: {data.n} examples but {labels.shape[0]} labels")
    k = max(len(data.class_names), int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{data.source}: labels must be >= 0, but got {int(labels.min())}")
    present = np.unique(labels)
    if present.size < 2:
        name = data.class_names[int(present[0])] if present.size else "none"
        raise ValueError(
            f"{data.source}: finding wrong labels needs at least 2 classes, but the data has "
            f"{present.size} ({name!r})"
        )
    return k


def _stratified_subset(labels: np.ndarray, subset: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random subset of ``subset`` examples (all if None)."""
    n = labels.shape[0]
    if subset is None or subset == n:
        return np.arange(n)
    if subset > n:
        raise ValueError(f"Expected `subset` (--subset) <= the {n} examples, but got {subset}")
    try:
        chosen, _ = train_test_split(
            np.arange(n),
            train_size=subset,
            stratify=labels,
            random_state=derive_seed(seed, SUBSET_STREAM),
        )
    except ValueError as exc:
        raise ValueError(f"--subset {subset}: cannot draw a stratified subset: {exc}") from None
    return np.sort(chosen)
