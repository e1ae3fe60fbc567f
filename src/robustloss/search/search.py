"""Settings without ground truth: the loss, its parameter, the delay and the epochs, chosen
from the images and their given (noisy) labels alone.

N examples, K classes, E = the most epochs (``TrainConfig.epochs``). :func:`select_settings`
is ``--loss auto`` (and ``--gamma auto`` / ``--cutoff auto`` / ``--q auto`` for one loss):

1. **A noisy held-out split.** A stratified fraction h (``holdout``, 0.1) of the examples,
   stratified on the given labels, is held out; the candidates train on the rest, or on a
   stratified part of it sized to the budget (:mod:`robustloss.search.plan`). A class
   with a single example stays in training (nothing of it is held out).
2. **Canaries**, for the criteria that plant them (:mod:`robustloss.search.canaries`): a
   few percent of the search set's labels flipped on purpose, uniformly or where a
   cross-entropy probe says the given labels' own wrong labels go.
3. **Rung 1: every candidate for r = ceil(E / 2) epochs**
   (:mod:`robustloss.search.candidates`), its accuracy on the held-out split against the
   *given* labels measured after every epoch; cross entropy's run is the shared warm-up.
4. **Each candidate's stop epoch, and its score there**: the latest epoch within one
   standard error of its peak accuracy, where every criterion scores it
   (:mod:`robustloss.search.criteria`).
5. **Successive halving** (:mod:`robustloss.search.halving`): the best ceil(C / 3) of the
   C candidates by the criterion after rung 1 train on to E epochs; the best of them by the
   criterion is chosen (:func:`_decide`), with its stop epoch as the epochs.

**Label-free by construction.** :func:`select_settings` takes the images and the labels the
model trains on, and settings: nothing else. It never sees a clean label, a corruption
mask or a clean test split; the pipeline calls it before any of those is consulted, and no
module of :mod:`robustloss.search` imports anything that holds them (a test checks both).

If every candidate fails (diverged, collapsed or raised; each is recorded and skipped),
:class:`ValueError` lists why.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustloss.search.canaries import _probe_transitions, plant_canaries
from robustloss.search.candidates import _epochs
from robustloss.search.criteria import CANARY_CRITERIA, MAX_RATIO, standard_error
from robustloss.search.halving import Trainer, _ranked_indices, _Search, _value
from robustloss.search.plan import EVAL_COST, SearchPlan, _plan, _split, _subsample, probe_positions
from robustloss.search.results import CandidateResult, Selection
from robustloss.train import TrainConfig, train

__all__ = ["select_settings"]


def select_settings(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    train_config: TrainConfig,
    protocol: str = "cv",
    folds: int = 5,
    loss: str | None = None,
    fixed: dict[str, Any] | None = None,
    criterion: str | None = None,
    holdout: float = 0.1,
    max_ratio: float = MAX_RATIO,
    num_classes: int | None = None,
    quiet: bool = False,
    trainer: Trainer = train,
) -> Selection:
    """Choose the loss, its parameter, the delay and the epochs from these labels alone.

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)`` training images, values 0..255.
        labels: ``(N,)`` the *given* labels (the only labels there are: no clean labels,
            corruption mask or test split are taken).
        train_config: the base training settings; ``epochs`` is E, the most; its loss,
            loss parameters, delay and early stopping are replaced per candidate.
        protocol, folds: the protocol of the final run, for the budget (see
            :func:`~robustloss.search.plan.fixed_run_cost`).
        loss: None to choose among all losses
            (:func:`~robustloss.search.candidates.candidate_grid`); a loss of
            :data:`~robustloss.search.criteria.AUTO_PARAMS` to choose its parameter.
        fixed: with ``loss``, its other hyperparameters, held fixed.
        criterion: one of :data:`~robustloss.search.criteria.CRITERIA` (all are computed
            and recorded); None for the protocol's default
            (:func:`~robustloss.search.criteria.default_criterion`).
        holdout: the held-out fraction, stratified on ``labels``.
        max_ratio: budget of search + final run, in fixed-setting runs of ``protocol``.
        num_classes: K (default ``labels.max() + 1``).
        quiet: no progress lines.
        trainer: the training function (``robustloss.train.train``).

    Returns:
        The :class:`~robustloss.search.results.Selection`. Same inputs and seed, same
        machine: the same choice.

    Raises:
        ValueError: bad ``criterion``, a data set too small to hold out a validation split
            (:func:`~robustloss.search.plan.plan_search`), or every candidate failed (the
            message lists why).
    """
    start = time.perf_counter()
    y = _given_labels(images, labels)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    seed = train_config.seed
    train_idx, held_idx = _split(y, holdout, seed)  # made once: the plan counts it
    plan = _plan(
        y, (train_idx, held_idx), epochs=train_config.epochs, protocol=protocol, folds=folds,
        loss=loss, fixed=fixed, criterion=criterion, max_ratio=max_ratio, num_classes=k,
    )  # fmt: skip
    search_idx = _subsample(train_idx, y, plan.n_search, seed)
    probe = probe_positions(search_idx.size, held_idx.size, seed)
    base = dataclasses.replace(train_config, early_stop=False, test_every=1, record_margins=False)
    x_search = images[search_idx]
    planted = _plant(plan, base, x_search, y[search_idx], k=k, seed=seed, trainer=trainer)
    search = _Search(
        base=base, x=x_search, y=planted.labels, x_held=images[held_idx], y_held=y[held_idx],
        probe=probe, k=k, quiet=quiet, trainer=trainer, canaries=planted.positions,
        sample_epochs=planted.cost,
    )  # fmt: skip
    results = _train_candidates(search, plan)
    selection = _decide(plan, results, search.sample_epochs, time.perf_counter() - start)
    return _with_canaries(selection, planted)


# ----- the phases of select_settings -------------------------------------------------------


@dataclass(frozen=True)
class _Planted:
    """The search set's labels as the candidates train on them, and how they came to be."""

    labels: np.ndarray  # the given labels, with the canaries flipped where planted
    positions: np.ndarray | None = None  # the canaries' positions; None: none planted
    transitions: np.ndarray | None = None  # canary-f1-structured's T[g, j]; None: uniform
    note: str = ""  # where the structured canaries came from, or why they are uniform
    cost: float = 0.0  # sample-epochs of canary-f1-structured's probe


def _given_labels(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``labels`` as int64, checked to be ``(N,)`` for the N images."""
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or y.shape[0] != len(images):
        raise ValueError(
            f"Expected (N,) labels for the N={len(images)} images, but got shape {y.shape}"
        )
    return y


def _plant(
    plan: SearchPlan,
    base: TrainConfig,
    x: np.ndarray,
    y: np.ndarray,
    *,
    k: int,
    seed: int,
    trainer: Trainer,
) -> _Planted:
    """The search set's given labels ``y``, with the canaries ``plan`` asks for planted
    (:func:`~robustloss.search.canaries.plant_canaries`): canary-f1-structured's probe first
    learns where they go (:func:`~robustloss.search.canaries._probe_transitions`)."""
    transitions, note, cost = None, "", 0.0
    if plan.canary_probe_epochs:
        transitions, note = _probe_transitions(
            base, x, y, epochs=plan.canary_probe_epochs, k=k, trainer=trainer
        )
        cost = (plan.canary_probe_epochs + EVAL_COST) * y.size
    if not plan.canaries:
        return _Planted(y, None, transitions, note, cost)
    positions, flipped = plant_canaries(y, num_classes=k, seed=seed, transitions=transitions)
    return _Planted(flipped, positions, transitions, note, cost)


def _train_candidates(search: _Search, plan: SearchPlan) -> list[CandidateResult]:
    """Both rungs of ``plan``, their checkpoints in a temporary folder removed after."""
    with tempfile.TemporaryDirectory(prefix="robustloss-auto-") as tmp:
        search.workdir = Path(tmp)
        return search.run(plan)


def _with_canaries(selection: Selection, planted: _Planted) -> Selection:
    """``selection`` with where canary-f1-structured's canaries went, or why they were
    uniform after all; as it is without a probe."""
    if planted.transitions is None and not planted.note:
        return selection
    t = planted.transitions
    rows = None if t is None else tuple(tuple(map(float, r)) for r in t)
    return dataclasses.replace(selection, canary_transitions=rows, canary_note=planted.note)


def _decide(
    plan: SearchPlan, results: list[CandidateResult], sample_epochs: float, seconds: float
) -> Selection:
    """The choice among the candidates trained to E: the best by the plan's criterion (ties
    as :func:`~robustloss.search.halving._ranked_indices`), with its stop epoch, and why."""
    finalists = [i for i, res in enumerate(results) if res.status == "kept"]
    if not finalists:
        reasons = "; ".join(f"{r.candidate.name}: {r.status} ({r.reason})" for r in results)
        raise ValueError(
            f"Expected at least one candidate to train, but every one failed: {reasons}"
        )
    order = _ranked_indices(results, finalists, plan.criterion)
    best = results[order[0]]
    value = _value(best, plan.criterion)
    runner = (
        f"; runner-up {results[order[1]].candidate.name} at "
        f"{_value(results[order[1]], plan.criterion):.4f}"
        if len(order) > 1
        else ""
    )
    failed = sum(not r.ok for r in results)
    epochs = int(best.final_epochs)
    peak_acc = best.curve[best.best_epoch - 1] if best.best_epoch else math.nan
    peak = (
        f"the latest with its held-out accuracy ({best.holdout_acc:.4f}) within one "
        f"standard error ({standard_error(peak_acc, plan.n_held):.4f}) of its peak "
        f"({peak_acc:.4f}, epoch {best.best_epoch})"
    )
    why = (
        f"{best.candidate.name}, {_epochs(epochs)}: the highest "
        f"{plan.criterion} ({value:.4f}"
        + ("" if plan.criterion in ("cl-cleaned", *CANARY_CRITERIA) else " at its stop epoch")
        + f") of the {len(finalists)} candidate(s) trained to "
        f"{plan.epochs} epochs{runner}; {len(results)} candidates, halved after "
        f"{_epochs(plan.rung_epochs)}"
        + (f", {failed} failed (skipped)" if failed else "")
        + f"; epochs: {peak}"
    )
    results = list(results)
    results[order[0]] = dataclasses.replace(best, status="chosen")
    return Selection(
        plan=plan,
        criterion=plan.criterion,
        results=tuple(results),
        chosen=best.candidate,
        chosen_epochs=epochs,
        why=why,
        seconds=seconds,
        sample_epochs=sample_epochs,
    )
