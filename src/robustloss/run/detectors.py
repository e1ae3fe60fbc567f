"""The detect phase: what the chosen detectors need, made from the trained models, then run.

N training examples, K classes. A run's detectors (``RunConfig.detector`` and its
``compare_detectors``, :data:`robustloss.detect.DETECTORS`) see a
:class:`robustloss.detect.DetectorInputs` built here from the given labels and the
:class:`~robustloss.run.records.ProbabilityResult` only, never from the corruption:

``aum``
    the models' training margins (recorded by the training loop when
    :func:`needs_margins`; under cv each example's mean over the K - 1 fold models that
    trained on it).
``aum_threshold``
    the paper's threshold samples: one more in-sample training on all N images in which
    ``N // (K + 1)`` random examples get the fake class K (a model with K + 1 outputs,
    :func:`aum_threshold_run`); the 99th percentile of their AUMs is the threshold against
    which the main run's AUMs are compared. (Pleiss et al. train twice with disjoint
    threshold sets and judge each example in the run where it is not one; comparing the main
    run's AUMs costs one extra training instead of two.) The fake class exists only inside
    that training: its labels and model are dropped, the detectors see the K given classes.
``features``
    the penultimate-layer embeddings of the first trained CNN (in-sample: the model that
    trained on all N; cv: fold 0's model, which trained on (K - 1) / K of them: one model,
    so that all the points live in one space), or a ``--features`` run's own features.

Each detector's seconds (itself plus what it needed) are recorded: the cost on top of
training. Recording the margins during training costs a little per epoch (measured by
``benchmarks/detector_cost.py``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from robustloss.detect import (
    DETECTOR_NEEDS,
    VOTE_MEMBERS,
    DetectorInputs,
    DetectorResult,
    needs,
    run_detector,
    score_detections,
)
from robustloss.detect.aum import aum_threshold, threshold_sample_labels
from robustloss.probs.features import embeddings
from robustloss.probs.records import ProbabilityResult
from robustloss.run.config import RunConfig
from robustloss.seeds import AUM_STREAM, derive_seed
from robustloss.train import TrainConfig, train

__all__ = [
    "DetectPhase",
    "ThresholdRun",
    "aum_threshold_run",
    "detect_phase",
    "needs_margins",
]

def needs_margins(cfg: RunConfig) -> bool:
    """True when a detector of ``cfg`` needs the training margins (AUM)."""
    return "aum" in needs(cfg.detectors_run())


@dataclasses.dataclass(frozen=True)
class ThresholdRun:
    """AUM's threshold samples run.

    Attributes:
        threshold: the 99th percentile of the threshold samples' AUMs.
        indices: (M,) the examples that were given the fake class K in that run.
        num_outputs: the threshold model's outputs (K + 1).
        seconds: its training time.
    """

    threshold: float
    indices: np.ndarray
    num_outputs: int
    seconds: float


def aum_threshold_run(
    images: np.ndarray,
    labels: np.ndarray,
    train_config: TrainConfig,
    *,
    num_classes: int,
    seed: int,
    quiet: bool = True,
    train_fn: Callable[..., Any] = train,
) -> ThresholdRun:
    """Train once more with ``N // (K + 1)`` threshold samples in a fake class K.

    Args:
        images: (N, H, W[, C]) the training images.
        labels: (N,) the given labels in ``[0, K)``.
        train_config: the run's training settings (margins recorded here whatever it says).
        num_classes: K.
        seed: the run's seed; the threshold samples and the model's seed derive from it
            (stream :data:`robustloss.seeds.AUM_STREAM`).
        train_fn: :func:`robustloss.train.train` (a test may pass a spy).
    """
    rng = np.random.default_rng(derive_seed(seed, AUM_STREAM))
    fake_labels, idx = threshold_sample_labels(labels, num_classes, rng=rng)
    config = dataclasses.replace(
        train_config, record_margins=True, seed=derive_seed(train_config.seed, AUM_STREAM, 1)
    )
    start = time.perf_counter()
    result = train_fn(config, images, fake_labels, num_classes=num_classes + 1, quiet=quiet)
    seconds = time.perf_counter() - start
    threshold = aum_threshold(result.margins.mean[idx])
    return ThresholdRun(
        threshold=threshold, indices=idx, num_outputs=num_classes + 1, seconds=seconds
    )


@dataclasses.dataclass(frozen=True)
class DetectPhase:
    """What the detect phase found.

    Attributes:
        main: the result of ``cfg.detector``.
        results: every detector run (``cfg.detectors_run()`` order), by name.
        seconds: per detector, its own time plus its prerequisites'.
        costs: the prerequisites' seconds (``features``, ``threshold_run``).
        threshold: the AUM threshold run, or None.
    """

    main: DetectorResult
    results: dict[str, DetectorResult]
    seconds: dict[str, float]
    costs: dict[str, float]
    threshold: ThresholdRun | None

    def comparison(self, corrupted: np.ndarray | None) -> dict[str, dict[str, Any]]:
        """Per detector: flagged, seconds and (given the truth) the scores."""
        out = {}
        for name, result in self.results.items():
            row: dict[str, Any] = {"flagged": int(result.flagged.size)}
            if corrupted is not None:
                row = score_detections(result.flagged, corrupted)
            row["seconds"] = self.seconds[name]
            out[name] = row
        return out


def _features(images, source_features, rows, probs: ProbabilityResult):
    if source_features is not None:  # a --features run: the user's own embeddings
        return np.asarray(source_features.take(rows), dtype=np.float64)
    return embeddings(probs.models[0], images).astype(np.float64)


def detect_phase(
    cfg: RunConfig,
    labels: np.ndarray,
    probs: ProbabilityResult,
    *,
    images: np.ndarray | None,
    source_features: Any = None,
    rows: np.ndarray | None = None,
    quiet: bool = True,
    train_config: TrainConfig | None = None,
) -> DetectPhase:
    """Run ``cfg``'s detectors on the given ``labels`` and the trained models' outputs.

    Args:
        cfg: the run's settings (``detector``, ``compare_detectors``, ``method``, ...).
        labels: (N,) the labels as given to training (no truth here).
        probs: the protocol's result (probabilities, models, margins).
        images: (N, H, W[, C]) the training images (features, threshold run), or None.
        source_features: a ``--features`` run's feature matrix, or None.
        rows: that matrix's rows of the N examples.
        train_config: the run's training settings (the threshold run trains with them).
    """
    wanted = needs(cfg.detectors_run())
    costs: dict[str, float] = {}
    aum = features = None
    threshold = None
    if "aum" in wanted:
        if probs.margins is None:
            raise ValueError("the AUM detectors need margins recorded during training; got none")
        aum = probs.margins.mean
    if "aum_threshold" in wanted:
        if images is None or train_config is None:
            raise ValueError("detector 'aum' needs the training images for its threshold run")
        threshold = aum_threshold_run(
            images, labels, train_config, num_classes=probs.pred_probs.shape[1], seed=cfg.seed,
            quiet=quiet,
        )  # fmt: skip
        costs["threshold_run"] = threshold.seconds
    if "features" in wanted:
        start = time.perf_counter()
        features = _features(images, source_features, rows, probs)
        costs["features"] = time.perf_counter() - start
    inputs = DetectorInputs(
        labels=labels,
        pred_probs=probs.pred_probs,
        aum=aum,
        aum_threshold=None if threshold is None else threshold.threshold,
        features=features,
        method=cfg.method,
        rank_by=cfg.rank_by,
    )
    results, own = {}, {}
    for name in cfg.detectors_run():
        start = time.perf_counter()
        results[name] = run_detector(name, inputs)
        own[name] = time.perf_counter() - start
    seconds = {name: own[name] + _prerequisites(name, costs) for name in results}
    return DetectPhase(
        main=results[cfg.detector],
        results=results,
        seconds=seconds,
        costs=costs,
        threshold=threshold,
    )


def _prerequisites(name: str, costs: dict[str, float]) -> float:
    """Seconds of what detector ``name`` needed (``vote``: its members' needs too)."""
    names = VOTE_MEMBERS if name == "vote" else (name,)
    need = {n for m in names for n in DETECTOR_NEEDS[m]}
    keys = {"threshold_run" if n == "aum_threshold" else n for n in need}
    return float(sum(costs.get(k, 0.0) for k in keys))
