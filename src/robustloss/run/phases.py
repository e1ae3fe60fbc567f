"""The phases of one run that :mod:`robustloss.run.pipeline` lists, each on its own.

N training examples, K classes. In a run's order: :func:`load` the source data,
:func:`corrupt` the labels (``run`` only: the truth it keeps is a
:class:`~robustloss.run.records.Corruption`), the search (in the pipeline), the
:func:`probabilities` by a protocol (CNNs on images, heads on features, or the user's
own), :func:`detect` the wrong labels, and :func:`tabulate` the detections.csv rows. The
truth reaches none of the phases that decide: the search, the probabilities and the
detectors see the given labels only.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable

import numpy as np

from robustloss.detect import estimate_errors_per_class
from robustloss.noise import corrupt_labels
from robustloss.probs.features import given_probabilities, head_probabilities
from robustloss.probs.folds import FoldMap
from robustloss.probs.protocols import predicted_probabilities
from robustloss.probs.records import ProbabilityResult
from robustloss.run import rundir
from robustloss.run.config import RunConfig
from robustloss.run.detectors import DetectPhase, detect_phase
from robustloss.run.records import Corruption
from robustloss.run.trainset import SourceData, TrainingSet, load_source
from robustloss.train import TrainConfig
from robustloss.train.head_training import HeadConfig

__all__ = [
    "CorruptStep",
    "Detection",
    "corrupt",
    "detect",
    "head_config_for",
    "load",
    "log",
    "probabilities",
    "source_name",
    "tabulate",
    "train_config_for",
]


def log(quiet: bool, message: str) -> None:
    """One line of progress on stderr, unless ``quiet``."""
    if not quiet:
        print(f"[robustloss] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Detection:
    """What Confident Learning found on the training set."""

    flagged: np.ndarray  # (M,) int64 indices, most suspect first
    scores: np.ndarray  # (N,) rank scores, low = suspect
    per_class: np.ndarray  # (K,) estimated wrong labels per given class
    phase: DetectPhase  # every detector run, their costs


#: A run's corruption step: the training set with corrupted labels, and the truth.
CorruptStep = Callable[[RunConfig, TrainingSet, bool], tuple[TrainingSet, Corruption]]


def load(cfg: RunConfig, quiet: bool) -> SourceData:
    """The source data ``cfg`` names (:func:`robustloss.run.trainset.load_source`)."""
    log(quiet, f"loading {source_name(cfg)}")
    return load_source(cfg)


def source_name(cfg: RunConfig) -> str:
    """The data ``cfg`` names, in words."""
    if cfg.features is not None or cfg.pred_probs is not None:
        return f"{cfg.features or cfg.pred_probs} with labels {cfg.labels or '(in the .npz)'}"
    return str(cfg.dataset or cfg.data)


def corrupt(cfg: RunConfig, train_set: TrainingSet, quiet: bool) -> tuple[TrainingSet, Corruption]:
    """``run``'s own step: corrupt the labels (taken as clean) and keep the truth."""
    true_labels = train_set.labels
    rng = np.random.default_rng(cfg.resolved_noise_seed)
    noisy, corrupted = corrupt_labels(
        true_labels, cfg.noise, num_classes=train_set.num_classes, kind=cfg.noise_kind, rng=rng
    )
    corruption = Corruption(
        seed=cfg.resolved_noise_seed,
        kind=cfg.noise_kind,
        rate=cfg.noise,
        num_classes=train_set.num_classes,
        true_labels=true_labels,
        noisy_labels=np.asarray(noisy, dtype=np.int64),
        corrupted=np.asarray(corrupted, dtype=bool),
        source=train_set.data.source,
        source_indices=None if cfg.subset is None else train_set.source_index,
    )
    n, count = true_labels.shape[0], int(corruption.corrupted.sum())
    log(quiet, f"corrupted {count} of {n} labels ({cfg.noise_kind}, rate {cfg.noise})")
    return dataclasses.replace(train_set, labels=corruption.noisy_labels), corruption


def probabilities(
    cfg: RunConfig,
    train_set: TrainingSet,
    truth: Corruption | None,
    quiet: bool,
    checkpoint_dir: str | os.PathLike | None,
    resume_dir: str | os.PathLike | None,
    fold_map: FoldMap | None = None,
) -> ProbabilityResult:
    """The (N, K) predicted probabilities of the training set: the user's own, heads on
    their features, or CNNs on the images by ``cfg.protocol``
    (:mod:`robustloss.probs.protocols`). ``truth`` only labels the training history
    (accuracy on the true labels); no model is trained or chosen with it."""
    n = train_set.labels.shape[0]
    data = train_set.data
    if data.pred_probs is not None:
        log(quiet, f"given probabilities of {n} examples: no training")
        return given_probabilities(data.pred_probs[train_set.source_index])
    if data.features is not None:
        head = cfg.head or "linear"
        log(quiet, f"training {head} heads: protocol {cfg.protocol}, loss {cfg.loss}, {n} "
             f"examples x {data.features.dim} features")  # fmt: skip
        return head_probabilities(
            data.features,
            train_set.labels,
            head_config_for(cfg),
            rows=train_set.source_index,
            protocol=cfg.protocol,
            folds=cfg.folds,
            seed=cfg.seed,
            num_classes=train_set.num_classes,
            fold_map=fold_map,
        )
    log(quiet, f"training: protocol {cfg.protocol}, loss {cfg.loss}, {n} examples")
    return predicted_probabilities(
        train_set.images,
        train_set.labels,
        cfg.train_config(),
        protocol=cfg.protocol,
        folds=cfg.folds,
        seed=cfg.seed,
        num_classes=train_set.num_classes,
        true_labels=None if truth is None else truth.true_labels,
        test=train_set.data.test,
        quiet=quiet,
        checkpoint_dir=checkpoint_dir,
        resume_dir=resume_dir,
        fold_map=fold_map,
    )


def detect(
    cfg: RunConfig, train_set: TrainingSet, probs: ProbabilityResult, quiet: bool
) -> Detection:
    """The chosen detector (and the compared ones) on the given labels and model outputs
    only: the truth of a ``run`` is not an argument (:mod:`robustloss.run.detectors`)."""
    labels, pred_probs = train_set.labels, probs.pred_probs
    if cfg.detectors_run() != ("cl",):
        log(quiet, f"detectors: {', '.join(cfg.detectors_run())}")
    phase = detect_phase(
        cfg,
        labels,
        probs,
        images=train_set.images,
        source_features=train_set.data.features,
        rows=train_set.source_index,
        quiet=quiet,
        train_config=None if train_set.images is None else cfg.train_config(),
    )
    return Detection(
        flagged=phase.main.flagged,
        scores=phase.main.scores,
        per_class=estimate_errors_per_class(labels, pred_probs),
        phase=phase,
    )


def tabulate(
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: Detection,
    truth: Corruption | None,
) -> rundir.DetectionTable:
    """detections.csv's rows, most suspect first (with the truth's columns for a ``run``)."""
    return rundir.detection_table(
        train_set.labels,
        probs.pred_probs,
        detection.flagged,
        detection.scores,
        class_names=train_set.data.class_names,
        source_index=train_set.source_index,
        fold_of=probs.fold_of,
        corrupted=None if truth is None else truth.corrupted,
        true_labels=None if truth is None else truth.true_labels,
        paths=train_set.data.paths,
        ids=train_set.data.ids,
    )


def head_config_for(cfg: RunConfig) -> HeadConfig:
    """The :class:`robustloss.train.head_training.HeadConfig` a ``--features`` run trains with."""
    return HeadConfig(
        head=cfg.head or "linear",
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        loss=cfg.loss,
        loss_params=cfg.loss_params(),
        delay=cfg.delay,
        seed=cfg.seed,
        # One thread unless --threads: a head's operations ((1024, D) x (D, K)) are too
        # small to split, and a second thread only adds synchronisation (on a busy 2-core
        # machine, several times the time per step).
        threads=cfg.threads or 1,
    )


def train_config_for(cfg: RunConfig) -> TrainConfig:
    """The :class:`robustloss.train.TrainConfig` a run config trains with
    (:meth:`RunConfig.train_config`)."""
    return cfg.train_config()
