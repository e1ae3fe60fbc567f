"""What a run folder records of its label-free settings search (``loss="auto"``), typed.

A run with ``loss="auto"`` (or ``gamma``/``cutoff``/``q`` "auto") chose its settings from the
given labels alone (:mod:`robustloss.search`). Its folder holds:

- ``auto.csv``: one row per candidate (``candidate``, ``status`` one of :data:`STATUSES`,
  ``epochs_trained``, ``holdout_acc``, ``best_epoch``, ``cl_cleaned``, ``holdout_gap``,
  ``stop_epoch``, ``canary_recall``, ``flagged_share``, ``canary_f1``,
  ``holdout_acc_by_epoch`` and ``train_acc_by_epoch`` as ``;``-joined floats, ``reason``;
  empty fields for None (the canary columns without canaries); the gap columns are absent
  from folders written before the criterion existed, and folders written before the stop
  epoch have ``gap_epoch``, the epoch where the gap peaked, in its place);
- ``config.json``'s ``auto``: the criterion, the choice, why, the measured cost and the plan
  (``summary.json``'s ``auto``, without the plan, when ``config.json`` has none).

:func:`auto_choice` turns the two into one :class:`AutoChoice`;
:func:`robustloss.run.reader.read_auto` finds them in a run folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustloss._io import read_csv

__all__ = ["AUTO_TABLE", "STATUSES", "AutoCandidate", "AutoChoice", "auto_choice"]

#: The candidates' table, in the run folder.
AUTO_TABLE = "auto.csv"
#: What a candidate's ``status`` may be: chosen, trained to the end (kept), stopped after the
#: first rung (pruned), or a failure (never chosen).
STATUSES: tuple[str, ...] = ("chosen", "kept", "pruned", "diverged", "collapsed", "failed")
_REQUIRED = ("candidate", "status", "holdout_acc_by_epoch")


@dataclass(frozen=True)
class AutoCandidate:
    """One row of ``auto.csv``; ``curve[e - 1]`` is the held-out accuracy after epoch e."""

    name: str
    status: str
    epochs_trained: int | None
    curve: tuple[float, ...]  # (epochs_trained,) accuracy vs the given labels, warm-up included
    holdout_acc: float | None  # at the stop epoch (older folders: the peak)
    best_epoch: int | None  # 1-based, on the same axis as curve: the peak
    cl_cleaned: float | None
    reason: str = ""
    holdout_gap: float | None = None  # criterion holdout-gap at the stop epoch
    stop_epoch: int | None = None  # 1-based: the epochs its final run would train
    # (epochs_trained,) eval-mode accuracy on a probe of the examples trained on, or ()
    fit_curve: tuple[float, ...] = ()
    canary_recall: float | None = None  # criterion canary-f1's inputs and value
    flagged_share: float | None = None
    canary_f1: float | None = None


@dataclass(frozen=True)
class AutoChoice:
    """What a run folder records of its label-free search."""

    candidates: tuple[AutoCandidate, ...]
    criterion: str | None = None
    chosen: str | None = None
    why: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # loss, parameters, delay, epochs
    seconds: float | None = None
    sample_epochs: float | None = None
    ratio_measured: float | None = None
    plan: dict[str, Any] = field(default_factory=dict)  # empty when config.json has none
    canary_note: str = ""  # canary-f1-structured: where the canaries' classes came from

    @property
    def chosen_candidate(self) -> AutoCandidate | None:
        """The row with status "chosen" (else the one named ``chosen``), or None."""
        by_status = [c for c in self.candidates if c.status == "chosen"]
        if by_status:
            return by_status[0]
        return next((c for c in self.candidates if c.name == self.chosen), None)


def _optional(row: dict[str, str], column: str, kind: type, *, path: Path, line: int) -> Any:
    """``kind(row[column])``, None for an empty or absent field (an int may read ``4.0``)."""
    text = row.get(column) or ""
    if text.strip() == "":
        return None
    try:
        value = float(text)
        if kind is int:
            if not value.is_integer():
                raise ValueError(text)
            return int(value)
        return value
    except ValueError:
        raise ValueError(
            f"Expected {path} line {line} column `{column}` to be "
            f"{'an integer' if kind is int else 'a number'} or empty, but got {text!r}"
        ) from None


def _curve(text: str, *, column: str, path: Path, line: int) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(";") if v.strip())
    except ValueError:
        raise ValueError(
            f"Expected {path} line {line} column `{column}` to be ';'-joined "
            f"floats, but got {text!r}"
        ) from None


def _candidate(r: dict[str, str], *, path: Path, line: int) -> AutoCandidate:
    status = r["status"].strip()
    if status not in STATUSES:
        raise ValueError(
            f"Expected {path} line {line} column `status` to be one of "
            f"{', '.join(STATUSES)}, but got {status!r}"
        )
    where = {"path": path, "line": line}
    return AutoCandidate(
        name=r["candidate"],
        status=status,
        epochs_trained=_optional(r, "epochs_trained", int, **where),
        curve=_curve(r["holdout_acc_by_epoch"], column="holdout_acc_by_epoch", **where),
        holdout_acc=_optional(r, "holdout_acc", float, **where),
        best_epoch=_optional(r, "best_epoch", int, **where),
        cl_cleaned=_optional(r, "cl_cleaned", float, **where),
        reason=r.get("reason", "") or "",
        holdout_gap=_optional(r, "holdout_gap", float, **where),
        stop_epoch=_optional(r, "stop_epoch" if "stop_epoch" in r else "gap_epoch", int, **where),
        fit_curve=_curve(r.get("train_acc_by_epoch") or "", column="train_acc_by_epoch", **where),
        canary_recall=_optional(r, "canary_recall", float, **where),
        flagged_share=_optional(r, "flagged_share", float, **where),
        canary_f1=_optional(r, "canary_f1", float, **where),
    )


def auto_choice(table: str | Path, record: Mapping[str, Any] | None) -> AutoChoice:
    """The search recorded by ``table`` (an ``auto.csv``) and ``record`` (``config.json``'s
    ``auto``, or ``summary.json``'s; None or {} when neither has one).

    Raises:
        ValueError: ``auto.csv`` without the columns ``candidate``, ``status`` and
            ``holdout_acc_by_epoch``, with a status not in :data:`STATUSES`, or with a
            number that does not parse (the message names the file, line and column).
    """
    path = Path(table)
    _, rows = read_csv(path, required=_REQUIRED, what="auto.csv (a label-free settings search)")
    candidates = tuple(_candidate(r, path=path, line=line) for line, r in enumerate(rows, 2))
    meta = dict(record or {})
    return AutoChoice(
        candidates=candidates,
        criterion=meta.get("criterion"),
        chosen=meta.get("chosen"),
        why=str(meta.get("why") or ""),
        settings=dict(meta.get("settings") or {}),
        seconds=meta.get("seconds"),
        sample_epochs=meta.get("sample_epochs"),
        ratio_measured=meta.get("ratio_measured"),
        plan=dict(meta.get("plan") or {}),
        canary_note=str(meta.get("canary_note") or ""),
    )
