"""Typed records that one run hands from layer to layer (protocols, pipeline, CLI, report, sweeps).

A :class:`RunSummary` is what :func:`robustloss.run.pipeline.run_experiment` and
:func:`~robustloss.run.pipeline.detect_own_data` return, what ``summary.json`` holds
(:meth:`RunSummary.to_dict`, the only place it becomes a dict) and what a sweep trial's row
stores. Fields that only exist when the truth is known (``correct``, ``corrupted``,
``precision``, ``recall``, ``f1``) are ``None`` for ``detect``.

A :class:`ProbabilityResult` is what
:func:`robustloss.probs.protocols.predicted_probabilities` hands the pipeline; a
:class:`Corruption` is the truth a ``run`` made itself (what ``corruption.json`` holds).

Notation: N training examples, K classes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["Corruption", "ProbabilityResult", "RunSummary"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The outcome of one run (``robustloss run`` or ``robustloss detect``).

    The fields are in ``summary.json``'s key order.

    Attributes:
        command: "run" (corrupted on purpose, scored) or "detect" (the user's labels as given).
        precision, recall, f1, correct, corrupted: the scores against the known corruption
            (:func:`robustloss.detect.score_detections`); None for ``detect``.
        flagged: number of examples Confident Learning flagged.
        test_acc: mean accuracy of the trained models on a built-in dataset's clean test split
            (None without one); ``test_acc_per_model`` one value per model (fold).
        n, num_classes, class_names: the training set's size, K and the K class names.
        estimated_errors, estimated_errors_per_class: cleanlab's estimate of the number of
            wrong labels, in total and per given class name.
        protocol, protocol_note: how the probabilities were produced.
        config, config_hash, loss_params_effective: the resolved run config and its hash.
        history: per model (fold) and epoch, the training history rows.
        out_dir: the run folder, or None when nothing was written.
        top_suspects: the first (at most 10) rows of detections.csv.
        seconds: wall time of the run.
        precision_used, memory_format, cpu_capability, native_bf16: what the requested
            ``config["precision"]`` resolved to on the machine that ran it (the first
            model's; :class:`robustloss.train.precision.PrecisionChoice`); None in
            summaries written before they were recorded.
        chosen_epochs: per model, the epoch whose weights predicted (the last one, or
            label-free early stopping's choice); embed-cv: its CNN's alone.
        detector: the detector whose flags these are (``config["detector"]``;
            :data:`robustloss.detect.DETECTORS`); None in summaries written before it existed.
        detector_seconds: what detection cost on top of training: the detector itself and
            what it needed (features, a threshold run).
        detectors: with ``compare_detectors``, per detector on the same trained model:
            ``flagged``, ``seconds`` and (``run``) ``precision``, ``recall``, ``f1``,
            ``correct``, ``corrupted``; else None.
        detector_costs: seconds of the shared prerequisites (``features``: embeddings,
            ``threshold_run``: AUM's second training), or None when none was needed.
        auto: with ``loss="auto"`` (or a parameter "auto"), what the label-free search chose:
            ``chosen``, ``settings`` (loss, parameters, delay, epochs), ``why``,
            ``criterion``, ``seconds``, ``sample_epochs``, ``ratio_measured`` (search + final
            run in fixed runs) and ``candidates`` (the rows of ``auto.csv``, so a sweep's
            database keeps every candidate's curves); else None.
    """

    command: str
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    flagged: int
    correct: int | None = None
    corrupted: int | None = None
    test_acc: float | None = None
    test_acc_per_model: list[float] | None = None
    n: int
    num_classes: int
    class_names: list[str]
    estimated_errors: int
    estimated_errors_per_class: dict[str, int]
    protocol: str
    protocol_note: str
    config: dict[str, Any]
    config_hash: str
    loss_params_effective: dict[str, Any]
    history: list[dict[str, Any]]
    out_dir: str | None = None
    top_suspects: list[dict[str, Any]]
    seconds: float | None = None
    precision_used: str | None = None
    memory_format: str | None = None
    cpu_capability: str | None = None
    native_bf16: bool | None = None
    chosen_epochs: list[int] | None = None
    detector: str | None = None
    detector_seconds: float | None = None
    detectors: dict[str, dict[str, Any]] | None = None
    detector_costs: dict[str, float] | None = None
    auto: dict[str, Any] | None = None

    @property
    def scored(self) -> bool:
        """True when the run knew the truth (``run``), so precision/recall/F1 exist."""
        return self.f1 is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``summary.json`` (scores only when the truth was known)."""
        out = dataclasses.asdict(self)
        if not self.scored:
            for key in ("precision", "recall", "f1", "correct", "corrupted"):
                out.pop(key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Read back :meth:`to_dict`'s shape (unknown keys are an error: they mean drift)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"RunSummary: unknown keys {unknown}; expected a subset of {sorted(names)}"
            )
        return cls(**data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProbabilityResult:
    """Out-of-sample (or in-sample) predicted probabilities and how they were obtained.

    Attributes:
        pred_probs: (N, K) float64, row i from the model that held example i out (cv,
            paper-cv) or from the one model (in-sample).
        protocol, note: the protocol's name and its one-line description.
        folds: the number of folds, None for in-sample.
        fold_of: (N,) int64, the fold that held each example out; -1 for in-sample.
        histories: one list of per-epoch history rows per model (fold).
        models: the trained models, one per fold (paper-cv: the same object K times).
        seeds: the model seeds, one per model.
        split_seed: the seed of the fold assignment, None for in-sample.
        test_acc_per_model: each model's accuracy on the clean test split, or None without
            one.
        train_config: the first model's resolved training config (with the precision
            record and the chosen epoch, ``TrainResult.config``).
        chosen_epochs: per model, the epoch whose weights predicted; embed-cv: the CNN's
            alone (``[e]``: its heads train a fixed schedule).
        environment: versions and hardware the first model trained on.
        margins: with ``TrainConfig.record_margins``, every CNN's training margins summed
            over its epochs, N rows (a ``robustloss.train.margins.MarginRecord``; under cv
            each example counts the K - 1 fold models that trained on it), else None.
        embeddings: (N, E) float32 penultimate-layer embeddings of the N training images by
            ``models[0]``, when the protocol computed them (embed-cv), else None: the
            detect phase's ``features`` reuse them instead of a second pass of the CNN.
    """

    pred_probs: np.ndarray
    protocol: str
    note: str
    folds: int | None
    fold_of: np.ndarray
    histories: list[list[dict[str, Any]]]
    models: list[Any]
    seeds: list[int]
    split_seed: int | None
    test_acc_per_model: list[float] | None
    train_config: dict[str, Any]
    environment: dict[str, Any]
    chosen_epochs: list[int] = dataclasses.field(default_factory=list)
    margins: Any = None
    embeddings: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def history_rows(self) -> list[dict[str, Any]]:
        """Every model's history rows, each with its ``fold`` (None for in-sample) first."""
        with_folds = self.protocol != "in-sample"
        return [
            {"fold": k if with_folds else None, **row}
            for k, history in enumerate(self.histories)
            for row in history
        ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Corruption:
    """The labels a ``run`` corrupted on purpose: the truth its detections are scored on.

    Attributes:
        seed, kind, rate: the corruption's settings (``robustloss.noise.corrupt_labels``).
        num_classes: K.
        true_labels: (N,) int64, the labels before corruption.
        noisy_labels: (N,) int64, the labels the run trains on.
        corrupted: (N,) bool, ``noisy_labels != true_labels`` by construction.
        source: the data's name or path.
        source_indices: (N,) int64 rows of the source data (with a subset), or None (all).
    """

    seed: int
    kind: str
    rate: float
    num_classes: int
    true_labels: np.ndarray
    noisy_labels: np.ndarray
    corrupted: np.ndarray
    source: str
    source_indices: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``corruption.json``: the corrupted rows and their labels."""
        idx = np.flatnonzero(self.corrupted)
        return {
            "seed": self.seed,
            "kind": self.kind,
            "rate": self.rate,
            "n": int(self.true_labels.shape[0]),
            "num_classes": self.num_classes,
            "count": int(idx.size),
            "indices": idx.tolist(),
            "true_labels": self.true_labels[idx].tolist(),
            "noisy_labels": self.noisy_labels[idx].tolist(),
            "source": self.source,
            "source_indices": None if self.source_indices is None else self.source_indices.tolist(),
        }
