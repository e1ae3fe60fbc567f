"""Typed records that one run hands to the layers above it (the CLI, the report, sweeps).

A :class:`RunSummary` is what :func:`robustloss.experiments.pipeline.run_experiment` and
:func:`~robustloss.experiments.pipeline.detect_own_data` return, what ``summary.json`` holds
(:meth:`RunSummary.to_dict`, the only place it becomes a dict) and what a sweep trial's row
stores. Fields that only exist when the truth is known (``correct``, ``corrupted``,
``precision``, ``recall``, ``f1``) are ``None`` for ``detect``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["RunSummary"]


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The outcome of one run (``robustloss run`` or ``robustloss detect``).

    Attributes:
        command: "run" (corrupted on purpose, scored) or "detect" (the user's labels as given).
        flagged: number of examples Confident Learning flagged.
        precision, recall, f1, correct, corrupted: the scores against the known corruption
            (:func:`robustloss.detect.score_detections`); None for ``detect``.
        test_acc: mean accuracy of the trained models on a built-in dataset's clean test split
            (None without one); ``test_acc_per_model`` one value per model (fold).
        n, num_classes, class_names: the training set's size, K and the K class names.
        estimated_errors, estimated_errors_per_class: cleanlab's estimate of the number of
            wrong labels, in total and per given class name.
        protocol, protocol_note: how the probabilities were produced.
        config, config_hash, loss_params_effective: the resolved run config and its hash.
        history: per model (fold) and epoch, the training history rows.
        top_suspects: the first (at most 10) rows of detections.csv.
        out_dir: the run folder, or None when nothing was written.
        seconds: wall time of the run.
    """

    command: str
    flagged: int
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
    top_suspects: list[dict[str, Any]]
    test_acc: float | None = None
    test_acc_per_model: list[float] | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    correct: int | None = None
    corrupted: int | None = None
    out_dir: str | None = None
    seconds: float | None = None

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
            raise ValueError(f"RunSummary: unknown keys {unknown}; expected a subset of "
                             f"{sorted(names)}")
        return cls(**data)
