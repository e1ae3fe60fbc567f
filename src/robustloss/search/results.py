"""What leaves a ``--loss auto`` search: each candidate's record (:class:`CandidateResult`,
one row of ``auto.csv``: :data:`TABLE_COLUMNS`) and the choice with why
(:class:`Selection`, ``config.json``'s ``auto``). Frozen: written once by the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robustloss.search.candidates import DEFAULT_CANDIDATE, Candidate
from robustloss.search.plan import SearchPlan

__all__ = ["TABLE_COLUMNS", "CandidateResult", "Selection"]


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's search record."""

    candidate: Candidate
    status: str  # "chosen", "kept" (trained to E), "pruned" (after rung 1), or a failure
    epochs_trained: int  # epochs of its curve (warm-up included)
    curve: tuple[float, ...]  # held-out accuracy vs the given labels, after each epoch
    holdout_acc: float | None  # criterion holdout-acc: curve at the stop epoch
    best_epoch: int | None  # 1-based: the peak of curve over the epochs with its loss in use
    cl_cleaned: float | None  # criterion cl-cleaned after its last rung
    reason: str = ""  # why it failed, for a failure
    # Per epoch, eval-mode accuracy of the probe (a sample of the examples trained on) vs
    # their given labels: how far the model fits its training labels.
    train_curve: tuple[float, ...] = ()
    holdout_gap: float | None = None  # criterion holdout-gap at the stop epoch
    # 1-based: the latest epoch within one standard error of the peak (:func:`stop_epoch`)
    stop_epoch: int | None = None
    # Criterion canary-f1 (None without canaries), after its last rung: the share of the
    # canaries its in-sample detection flags, the share of the other search examples it
    # flags, and the F1 estimated from both (:func:`canary_f1`, among its rung's candidates).
    canary_recall: float | None = None
    flagged_share: float | None = None
    canary_f1: float | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("chosen", "kept", "pruned")

    def value(self, criterion: str) -> float | None:
        return {
            "holdout-acc": self.holdout_acc,
            "cl-cleaned": self.cl_cleaned,
            "holdout-gap": self.holdout_gap,
            "canary-f1": self.canary_f1,
            "canary-f1-structured": self.canary_f1,
        }[criterion]

    @property
    def final_epochs(self) -> int | None:
        """The epochs a final run with this candidate trains: its stop epoch, whatever the
        criterion (the peak for a record without one)."""
        return self.stop_epoch if self.stop_epoch is not None else self.best_epoch

    def row(self) -> dict[str, Any]:
        """One row of ``auto.csv``."""
        params = self.candidate.loss_params()
        return {
            "candidate": self.candidate.name,
            "loss": self.candidate.loss,
            "gamma": params.get("gamma"),
            "cutoff": params.get("cutoff"),
            "q": params.get("q"),
            "delay": self.candidate.delay,
            "status": self.status,
            "epochs_trained": self.epochs_trained,
            "holdout_acc": self.holdout_acc,
            "best_epoch": self.best_epoch,
            "cl_cleaned": self.cl_cleaned,
            "holdout_gap": self.holdout_gap,
            "stop_epoch": self.stop_epoch,
            "canary_recall": self.canary_recall,
            "flagged_share": self.flagged_share,
            "canary_f1": self.canary_f1,
            "holdout_acc_by_epoch": ";".join(f"{a:.6f}" for a in self.curve),
            "train_acc_by_epoch": ";".join(f"{a:.6f}" for a in self.train_curve),
            "reason": self.reason,
        }


#: Columns of ``auto.csv``, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "candidate", "loss", "gamma", "cutoff", "q", "delay", "status", "epochs_trained",
    "holdout_acc", "best_epoch", "cl_cleaned", "holdout_gap", "stop_epoch",
    "canary_recall", "flagged_share", "canary_f1", "holdout_acc_by_epoch",
    "train_acc_by_epoch", "reason",
)  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """What :func:`~robustloss.search.search.select_settings` returns: the choice, why, and
    every candidate's record."""

    plan: SearchPlan | None  # None for a fallback (no search)
    criterion: str
    results: tuple[CandidateResult, ...]
    chosen: Candidate
    chosen_epochs: int
    why: str
    seconds: float
    sample_epochs: float  # measured: examples x epochs trained, held-out passes at 1/3
    # canary-f1-structured: where the canaries went, T[g, j] (canary_transitions), or
    # why they were uniform after all (the probe failed).
    canary_transitions: tuple[tuple[float, ...], ...] | None = None
    canary_note: str = ""

    def settings(self) -> dict[str, Any]:
        """The chosen run settings: ``loss``, its parameters, ``delay`` and ``epochs``."""
        return {**self.chosen.settings(), "epochs": self.chosen_epochs}

    def table(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]

    @classmethod
    def fallback(cls, reason: str, *, epochs: int, criterion: str) -> Selection:
        """No search (a data set too small to hold out a validation split): the setting one
        would use without a search, :data:`DEFAULT_CANDIDATE`, for ``epochs``; ``why`` says
        so."""
        return cls(
            plan=None,
            criterion=criterion,
            results=(),
            chosen=DEFAULT_CANDIDATE,
            chosen_epochs=epochs,
            why=f"no search, the default setting {DEFAULT_CANDIDATE.name} for {epochs} "
            f"epochs: {reason}",
            seconds=0.0,
            sample_epochs=0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """config.json's ``auto``: plan, criterion, choice, why, cost, the candidates."""
        plan = self.plan
        return {
            "criterion": self.criterion,
            "chosen": self.chosen.name,
            "settings": self.settings(),
            "why": self.why,
            "seconds": self.seconds,
            "sample_epochs": self.sample_epochs,
            "ratio_measured": None
            if plan is None
            else (self.sample_epochs + plan.fixed_cost) / plan.fixed_cost,
            "plan": None if plan is None else plan.to_dict(),
            "canary_transitions": None
            if self.canary_transitions is None
            else [list(row) for row in self.canary_transitions],
            "canary_note": self.canary_note,
            "candidates": self.table(),
        }
