"""The candidate settings a ``--loss auto`` search tries: a loss, its parameter and its
cross-entropy warm-up (the delay), and how many epochs each trains in rung 1.

E = the most epochs. The full grid (``loss="auto"``, :func:`candidate_grid`) is cross
entropy; the Blurry Loss over gamma; GCE at its authors' q; the Piecewise-zero Loss over
cutoff x delay. ``--gamma auto`` / ``--cutoff auto`` / ``--q auto`` search one loss over
its parameter's grid (:data:`~robustloss.search.criteria.AUTO_PARAMS`). Rung 1 trains every
candidate r = ceil(E / 2) epochs (:func:`rung_epochs`); a delay d < r starts from cross
entropy's run after d epochs, shared by every delayed candidate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from robustloss.search.criteria import AUTO_PARAMS

__all__ = ["DEFAULT_CANDIDATE", "Candidate", "candidate_grid", "rung_epochs"]

# The full grid (loss="auto"): cross entropy; the Blurry Loss (weight detached) over gamma;
# GCE at its authors' q = 0.7 (GCE's gradient is detached Blurry's at gamma = q, so Blurry's
# gamma grid covers the rest of GCE's q); the Piecewise-zero Loss over cutoff x delay (the
# paper's best cutoffs, delays at 20% and 40% of the epochs, as its best d = 4-6 of 10).
_FULL_GAMMAS = (0.2, 0.3, 0.4, 0.6)
_FULL_QS = (0.7,)
_FULL_CUTOFFS = (0.05, 0.1)
_DELAY_FRACTIONS = (0.2, 0.4)


@dataclass(frozen=True)
class Candidate:
    """One setting to try: a loss, its hyperparameters and its cross-entropy warm-up."""

    loss: str
    params: tuple[tuple[str, Any], ...] = ()  # sorted (name, value) pairs
    delay: int = 0

    @property
    def name(self) -> str:
        """E.g. ``ce``, ``blurry gamma=0.4``, ``pz cutoff=0.05 d=4``."""
        parts = [self.loss, *(f"{k}={v}" for k, v in self.params)]
        if self.delay:
            parts.append(f"d={self.delay}")
        return " ".join(parts)

    def loss_params(self) -> dict[str, Any]:
        return dict(self.params)

    def settings(self) -> dict[str, Any]:
        """The run settings (RunConfig fields) this candidate stands for."""
        return {"loss": self.loss, **self.loss_params(), "delay": self.delay}


#: The setting without a search (``detect``'s default before ``auto``; the paper's best on
#: MNIST at rho 0.2): where candidates tie, it is preferred.
DEFAULT_CANDIDATE = Candidate("blurry", (("gamma", 0.4),))


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def rung_epochs(epochs: int) -> int:
    """r = ceil(E / 2): how long every candidate trains before the halving."""
    return max(1, math.ceil(epochs / 2))


def _delays(epochs: int) -> tuple[int, ...]:
    """Warm-up lengths of 20% and 40% of E that leave a rung-1 epoch with the loss in use."""
    r = rung_epochs(epochs)
    return tuple(sorted({d for f in _DELAY_FRACTIONS if 1 <= (d := round(f * epochs)) < r}))


def candidate_grid(
    epochs: int, *, loss: str | None = None, fixed: dict[str, Any] | None = None
) -> tuple[Candidate, ...]:
    """The candidates, cross entropy first (ties go to the earlier one).

    Args:
        epochs: E, the most epochs (delays are fractions of it).
        loss: None for the full grid (``loss="auto"``); a loss of :data:`AUTO_PARAMS` for
            that loss over its parameter's grid (``--gamma auto`` ...); for ``pz`` also over
            the delays.
        fixed: other hyperparameters of ``loss`` held fixed (e.g. ``detach_weight``).
    """
    fixed = dict(fixed or {})
    if loss is None:
        pz_delays = _delays(epochs) or (0,)
        return (
            Candidate("ce"),
            *(Candidate("blurry", (("gamma", g),)) for g in _FULL_GAMMAS),
            *(Candidate("gce", (("q", q),)) for q in _FULL_QS),
            *(Candidate("pz", (("cutoff", c),), d) for c in _FULL_CUTOFFS for d in pz_delays),
        )
    if loss not in AUTO_PARAMS:
        raise ValueError(
            f"Expected a loss whose parameter can be chosen ({', '.join(AUTO_PARAMS)}), but "
            f"got {loss!r}"
        )
    name, grid = AUTO_PARAMS[loss]
    delays = (_delays(epochs) or (0,)) if loss == "pz" else (0,)
    return tuple(
        Candidate(loss, tuple(sorted({**fixed, name: value}.items())), d)
        for value in grid
        for d in delays
    )


def _candidate_epochs(c: Candidate, r: int) -> int:
    """Epochs candidate ``c`` trains in rung 1 itself: its warm-up is cross entropy's."""
    return r if c.loss == "ce" else r - min(c.delay, r)


def _longest_delay(cands: Sequence[Candidate], r: int) -> int:
    """The longest cross-entropy warm-up any candidate starts from (within rung 1)."""
    return max((min(c.delay, r) for c in cands if c.loss != "ce"), default=0)
