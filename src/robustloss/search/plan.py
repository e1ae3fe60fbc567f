"""The search's plan and budget, and which examples do what: the noisy held-out split, the
search set the candidates train on, and the probe of it re-scored after every epoch.

**Cost.** Counted in sample-epochs (one example through one training step; a held-out
prediction counts 1/3: a forward pass only), the search is planned (:func:`plan_search`)
against one fixed-setting run of the same protocol (in-sample: N E; K-fold: K (N - N/K) E;
:func:`fixed_run_cost`). When search plus final run would cost more than ``max_ratio``
(2.5) fixed runs, the search trains on a stratified random part of the non-held-out
examples, sized to fit (typical for ``in-sample``, whose fixed run is one model; a 5-fold
cv run fits whole). The plan is what ``--dry-run`` prints (:meth:`SearchPlan.lines`); the
run folder records it (``config.json``'s ``auto``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robustloss.search.canaries import CANARY_PROBE_EPOCHS, canary_count
from robustloss.search.candidates import (
    Candidate,
    _candidate_epochs,
    _epochs,
    _longest_delay,
    candidate_grid,
    rung_epochs,
)
from robustloss.search.criteria import CANARY_CRITERIA, MAX_RATIO, resolve_criterion
from robustloss.seeds import PROBE_STREAM, SEARCH_SUBSET_STREAM
from robustloss.train.early_stop import holdout_split

__all__ = [
    "EVAL_COST",
    "MIN_HELD",
    "SearchPlan",
    "TooSmallError",
    "fixed_run_cost",
    "plan_search",
    "probe_positions",
    "probe_size",
]

#: A held-out prediction's cost in sample-epochs: a forward pass, about a third of a step.
EVAL_COST = 1.0 / 3.0

#: The held-out split must hold at least this many examples (and two classes).
MIN_HELD = 20


class TooSmallError(ValueError):
    """The data set is too small to hold out a validation split to choose settings on."""


def fixed_run_cost(protocol: str, n: int, epochs: int, folds: int) -> float:
    """Sample-epochs of one fixed-setting run: N E in-sample, else K models on N - N/K
    examples each."""
    if protocol == "in-sample":
        return float(n * epochs)
    return float(folds * (n - n / folds) * epochs)


@dataclass(frozen=True)
class SearchPlan:
    """What the search will train, and what it costs against one fixed-setting run."""

    candidates: tuple[Candidate, ...]
    epochs: int  # E
    rung_epochs: int  # r
    keep: int  # candidates trained on to E
    n: int
    num_classes: int
    n_held: int
    n_train: int  # examples not held out
    n_search: int  # of them, those the candidates train on
    protocol: str
    folds: int
    criterion: str
    max_ratio: float
    train_epochs: int  # candidate-epochs trained (warm-ups shared), both rungs
    search_cost: float  # sample-epochs, held-out predictions included
    fixed_cost: float  # one fixed-setting run of the protocol, E epochs
    canaries: int = 0  # labels of the search set flipped on purpose (CANARY_CRITERIA)
    canary_probe_epochs: int = 0  # canary-f1-structured's cross-entropy probe

    @property
    def ratio(self) -> float:
        """(search + final run) / one fixed run: at most ``max_ratio`` (the final run's
        epochs are at most E, so this is an upper bound)."""
        return (self.search_cost + self.fixed_cost) / self.fixed_cost

    @property
    def fraction(self) -> float:
        return self.n_search / self.n_train

    def lines(self) -> list[str]:
        """The plan in words, one line each (``--dry-run``)."""
        names = ", ".join(c.name for c in self.candidates)
        sub = (
            f"the other {self.n_train:,}"
            if self.n_search == self.n_train
            else f"a stratified {self.fraction:.0%} ({self.n_search:,}) of the other "
            f"{self.n_train:,}, to fit the budget"
        )
        lines = [
            f"auto: {len(self.candidates)} candidates: {names}",
            f"auto: held out {self.n_held:,} of {self.n:,} examples (stratified on the given "
            f"labels); candidates train on {sub}",
            f"auto: rung 1 trains every candidate {_epochs(self.rung_epochs)} (cross "
            f"entropy's run is the shared warm-up), then the best {self.keep} by "
            f"{self.criterion} go on to {self.epochs}: {self.train_epochs} candidate-epochs",
            *(
                [
                    f"auto: {self.canaries:,} of the {self.n_search:,} search labels are flipped "
                    "on purpose (canaries) to measure how many wrong labels each candidate's "
                    "in-sample detection finds; "
                    + (
                        "each to a class drawn where the given labels' own wrong labels go "
                        "(Confident Learning's joint on a cross-entropy probe of "
                        f"{_epochs(self.canary_probe_epochs)} on the search set)"
                        if self.canary_probe_epochs
                        else "each to another class drawn uniformly"
                    )
                ]
                if self.canaries
                else []
            ),
            f"auto: search {self.search_cost:,.0f} sample-epochs + final run <= "
            f"{self.fixed_cost:,.0f} ({self.protocol}) = {self.ratio:.2f}x one fixed run "
            f"(budget {self.max_ratio}x)",
        ]
        if self.ratio > self.max_ratio + 1e-9:
            lines.append(
                f"auto: over budget: the search trains on at least {self.n_search:,} examples "
                "(fewer would not rank the candidates); at this size the budget hardly matters"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["candidates"] = [c.name for c in self.candidates]
        d["ratio"] = self.ratio
        return d


def _min_search(num_classes: int, n_train: int) -> int:
    return min(n_train, max(200, 10 * num_classes))


def plan_search(
    labels: np.ndarray,
    *,
    epochs: int,
    protocol: str,
    folds: int = 5,
    loss: str | None = None,
    fixed: dict[str, Any] | None = None,
    criterion: str | None = None,
    holdout: float = 0.1,
    max_ratio: float = MAX_RATIO,
    num_classes: int | None = None,
    seed: int = 0,
) -> SearchPlan:
    """Plan the search on these given labels (no training): candidates, rungs, cost.

    Raises:
        ValueError: a held-out split with fewer than :data:`MIN_HELD` examples or one class
            (the data set is too small to choose settings on: pass them explicitly), or
            ``max_ratio`` <= 1.
    """
    y = np.asarray(labels, dtype=np.int64)
    return _plan(
        y, _split(y, holdout, seed), epochs=epochs, protocol=protocol, folds=folds, loss=loss,
        fixed=fixed, criterion=criterion, max_ratio=max_ratio, num_classes=num_classes,
    )  # fmt: skip


def _plan(
    y: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    protocol: str,
    folds: int,
    loss: str | None,
    fixed: dict[str, Any] | None,
    criterion: str | None,
    max_ratio: float,
    num_classes: int | None,
) -> SearchPlan:
    """:func:`plan_search` on a held-out split made already (:func:`_split`)."""
    criterion = resolve_criterion(criterion, protocol)
    if not (isinstance(max_ratio, (int, float)) and max_ratio > 1.0):
        raise ValueError(f"Expected `max_ratio` to be a number > 1, but got {max_ratio!r}")
    n = int(y.shape[0])
    k = int(num_classes if num_classes is not None else (y.max() + 1 if n else 0))
    train_idx, held_idx = split
    n_held, n_train = int(held_idx.size), int(train_idx.size)
    cands = candidate_grid(epochs, loss=loss, fixed=fixed)
    r = rung_epochs(epochs)
    keep = min(len(cands), math.ceil(len(cands) / 3)) if epochs > r else len(cands)
    scored = sum(_candidate_epochs(c, r) for c in cands) + keep * (epochs - r)
    # Without a cross-entropy candidate, the delays' warm-up is a run of its own.
    own_warmup = _longest_delay(cands, r) if cands[0].loss != "ce" else 0
    train_epochs = scored + own_warmup
    predictions = len(cands) + (keep if epochs > r else 0)  # cl-cleaned's held-out passes
    held_cost = EVAL_COST * n_held * (train_epochs + predictions)
    fixed_cost = fixed_run_cost(protocol, n, epochs, folds)
    # The canary criteria score the whole search set after each rung: a pass per
    # prediction; the structured one first trains its probe and scores the search set once.
    probe_epochs = min(CANARY_PROBE_EPOCHS, epochs) if criterion == "canary-f1-structured" else 0
    search_passes = predictions + (1 if probe_epochs else 0) if criterion in CANARY_CRITERIA else 0
    per_example = train_epochs + probe_epochs + EVAL_COST * search_passes
    # Each epoch also scores the probe (at most n_held of the examples trained on).
    allowed = (max_ratio - 1.0) * fixed_cost - held_cost - EVAL_COST * n_held * train_epochs
    fraction = min(1.0, max(0.0, allowed / (n_train * per_example)))
    n_search = min(max(math.floor(fraction * n_train), _min_search(k, n_train)), n_train)
    eval_cost = held_cost + EVAL_COST * probe_size(n_search, n_held) * train_epochs
    eval_cost += EVAL_COST * n_search * search_passes
    return SearchPlan(
        candidates=cands,
        epochs=epochs,
        rung_epochs=r,
        keep=keep,
        n=n,
        num_classes=k,
        n_held=n_held,
        n_train=n_train,
        n_search=n_search,
        protocol=protocol,
        folds=folds,
        criterion=criterion,
        max_ratio=float(max_ratio),
        train_epochs=train_epochs,
        search_cost=n_search * (train_epochs + probe_epochs) + eval_cost,
        fixed_cost=fixed_cost,
        canaries=canary_count(n_search) if criterion in CANARY_CRITERIA else 0,
        canary_probe_epochs=probe_epochs,
    )


def probe_size(n_search: int, n_held: int) -> int:
    """How many of the examples the candidates train on are re-scored each epoch (the
    holdout-gap's training side): as many as are held out, or all of them if fewer."""
    return min(n_search, n_held)


def _split(y: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The stratified held-out split of the given labels, with the size checks."""
    n = int(y.shape[0])
    train_idx, held_idx = holdout_split(torch.from_numpy(y), holdout, seed)
    train_idx, held_idx = train_idx.numpy(), held_idx.numpy()
    held_classes = np.unique(y[held_idx]).size
    if held_idx.size < MIN_HELD or held_classes < 2:
        raise TooSmallError(
            f"Expected a data set large enough to hold out a validation split for choosing "
            f"settings (holdout {holdout} of {n} examples: at least {MIN_HELD} examples of 2 "
            f"or more classes), but it holds out {held_idx.size} of {held_classes} class(es); "
            "give the loss and its parameters explicitly (e.g. --loss blurry --gamma 0.4) or "
            "a larger --holdout"
        )
    return train_idx, held_idx


def _subsample(train_idx: np.ndarray, y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` of ``train_idx``, stratified on ``y`` (sorted); all of them when size fits."""
    if size >= train_idx.size:
        return train_idx
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SEARCH_SUBSET_STREAM]))
    picked = []
    fraction = size / train_idx.size
    for c in np.unique(y[train_idx]):
        members = train_idx[y[train_idx] == c]
        take = max(1, round(fraction * members.size))
        picked.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(picked))


def probe_positions(n_search: int, n_held: int, seed: int) -> np.ndarray:
    """The probe: sorted positions in the search set of the :func:`probe_size` examples
    re-scored after every epoch, drawn uniformly (``SeedSequence([seed, PROBE_STREAM])``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), PROBE_STREAM]))
    return np.sort(rng.choice(n_search, size=probe_size(n_search, n_held), replace=False))
