"""Typed records that one run hands from layer to layer (pipeline, CLI, report, sweeps).

A :class:`RunSummary` is what :func:`robustloss.run.pipeline.run_experiment` and
:func:`~robustloss.run.pipeline.detect_own_data` return, what ``summary.json`` holds
(:meth:`RunSummary.to_dict`, the only place it becomes a dict) and what a sweep trial's row
stores. Fields that only exist when the truth is known (``correct``, ``corrupted``,
``precision``, ``recall``, ``f1``) are ``None`` for ``detect``.

A :class:`Corruption` is the truth a ``run`` made itself (what ``corruption.json`` holds).
(What the protocols hand the pipeline is :class:`robustloss.probs.records.ProbabilityResult`.)

Notation: N training examples, K classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SUMMARY_ADDED", "Corruption", "RunSummary"]

#: The fields of :class:`RunSummary` that summary.json did not have in its first version
#: (robustloss 86dd3e0), in the order they were added; a reader fills in their defaults.
SUMMARY_ADDED: tuple[str, ...] = (
    "precision_used", "memory_format", "cpu_capability", "chosen_epochs", "native_bf16",
    "detector", "detector_seconds", "detectors", "detector_costs", "auto",
)


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
            label-free early stopping's choice).
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
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """Read back :meth:`to_dict`'s shape, from any version of ``summary.json``.

        The fields added since the first version (``precision_used`` ... ``auto``; see
        :data:`SUMMARY_ADDED`) take their defaults when absent, and ``history`` is ``[]``
        when absent (a sweep's database keeps it in a table of its own). Unknown keys are an
        error (they mean drift: a newer version's file), and so are missing required ones.
        """
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"RunSummary: unknown keys {unknown}; expected a subset of {sorted(names)}"
            )
        required = [
            f.name for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            and f.name != "history"
        ]  # fmt: skip
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"RunSummary: missing keys {missing}; every version has {required}")
        return cls(**{"history": [], **data})


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, noisy_labels: np.ndarray) -> Corruption:
        """Read back :meth:`to_dict`'s shape (every version of ``corruption.json`` has it).

        The file keeps only the corrupted rows, so the labels the run trained on come with
        it: ``noisy_labels`` (N,) int64, in ``index`` order (detections.csv's
        ``given_label``). Raises ``ValueError`` for a missing key, or labels that disagree
        with the file's (the two files are from different runs).
        """
        missing = [k for k in _CORRUPTION_KEYS if k not in data]
        if missing:
            raise ValueError(
                f"Corruption: missing keys {missing}; expected {list(_CORRUPTION_KEYS)}"
            )
        noisy = np.asarray(noisy_labels, dtype=np.int64)
        n = int(data["n"])
        idx = np.asarray(data["indices"], dtype=np.int64)
        if noisy.shape != (n,) or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise ValueError(
                f"Corruption: {n} examples with corrupted rows in 0..{n - 1}, but the given "
                f"labels are {noisy.shape[0]}"
            )
        if not np.array_equal(noisy[idx], np.asarray(data["noisy_labels"], dtype=np.int64)):
            raise ValueError("Corruption: its noisy labels are not the given labels")
        true = noisy.copy()
        true[idx] = np.asarray(data["true_labels"], dtype=np.int64)
        corrupted = np.zeros(n, dtype=bool)
        corrupted[idx] = True
        source_indices = data.get("source_indices")
        return cls(
            seed=int(data["seed"]),
            kind=str(data["kind"]),
            rate=float(data["rate"]),
            num_classes=int(data["num_classes"]),
            true_labels=true,
            noisy_labels=noisy.copy(),
            corrupted=corrupted,
            source=str(data["source"]),
            source_indices=None if source_indices is None
            else np.asarray(source_indices, dtype=np.int64),
        )


_CORRUPTION_KEYS = ("seed", "kind", "rate", "n", "num_classes", "indices", "true_labels",
                    "noisy_labels", "source")  # fmt: skip
