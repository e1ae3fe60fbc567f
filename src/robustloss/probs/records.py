"""What every probability protocol returns: :class:`ProbabilityResult`.

:func:`robustloss.probs.protocols.predicted_probabilities` and the protocols on features
(:mod:`robustloss.probs.features`) hand it to the run's pipeline. Notation: N training
examples, K classes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["ProbabilityResult"]


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
        chosen_epochs: per model, the epoch whose weights predicted.
        environment: versions and hardware the first model trained on.
        margins: with ``TrainConfig.record_margins``, every CNN's training margins summed
            over its epochs, N rows (a ``robustloss.train.margins.MarginRecord``; under cv
            each example counts the K - 1 fold models that trained on it), else None.
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

    def history_rows(self) -> list[dict[str, Any]]:
        """Every model's history rows, each with its ``fold`` (None for in-sample) first."""
        with_folds = self.protocol != "in-sample"
        return [
            {"fold": k if with_folds else None, **row}
            for k, history in enumerate(self.histories)
            for row in history
        ]
