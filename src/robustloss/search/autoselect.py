"""Settings without ground truth: the loss, its parameter, the delay and the epochs, chosen
from the images and their given (noisy) labels alone.

N examples, K classes, E = the most epochs (``TrainConfig.epochs``). :func:`select_settings`
is ``--loss auto`` (and ``--gamma auto`` / ``--cutoff auto`` / ``--q auto`` for one loss):

1. **A noisy held-out split.** A stratified fraction h (``holdout``, 0.1) of the examples,
   stratified on the given labels, is held out; the candidates train on the rest. A class
   with a single example stays in training (nothing of it is held out).
2. **Rung 1: every candidate for r = ceil(E / 2) epochs**, its accuracy on the held-out
   split against the *given* labels measured after every epoch. Cross entropy's run is the
   shared warm-up: a candidate with a delay d starts from cross entropy's checkpoint after d
   epochs (bitwise the run it would have been; :mod:`robustloss.train.checkpoint`).
3. **Each candidate's stop epoch, and its score there.** A candidate's stop epoch is the
   *latest* epoch whose held-out accuracy is within one standard error of its peak (the
   one-standard-error rule of Breiman et al. 1984, "Classification and Regression Trees",
   and Hastie, Tibshirani & Friedman, "The Elements of Statistical Learning" §7.10, leaning
   towards the longer run, as a fixed setting trains all E epochs; SE = sqrt(p (1 - p) /
   n_held) at the peak accuracy p; epochs before its loss is in use do not count). Label-free
   early stopping on noisy held-out accuracy (Toner & Storkey, below) that does not stop
   at a peak the held-out split cannot tell from the epochs after it. Every criterion scores
   the candidate *at its stop epoch*, the model its final run would give: a candidate's
   score is not an early epoch's when its final run would train past it (a learner that
   fits fast scored before it memorises, then trained on, is the failure this avoids).
4. **Successive halving** (Jamieson & Talwalkar, AISTATS 2016; Li et al., "Hyperband", JMLR
   2018): the best ceil(C / 3) of the C candidates by the criterion after rung 1 train on
   to E epochs (resumed, not restarted); the best of them by the criterion is chosen, with
   its stop epoch as the epochs.

Why a noisy held-out split is enough: Chen et al. (AAAI 2021, "Robustness of Accuracy Metric
and its Inspirations in Learning with Noisy Labels") prove that under class-conditional
noise with a diagonally dominant transition matrix the classifier that maximises accuracy
against the noisy labels also maximises clean accuracy, and so a noisy validation split
ranks models (and epochs) as a clean one would; Toner & Storkey (2024, arXiv 2409.06830)
find early stopping on noisy validation accuracy near-optimal. All criteria but the canary
ones (which change what the candidates train on) are computed and recorded for every candidate
(:data:`CRITERIA`); the default depends on where the run's probabilities come from
(:func:`default_criterion`):

- ``holdout-acc`` (the default for out-of-sample protocols, ``cv``): the held-out accuracy
  against the given labels (at the stop epoch).
- ``cl-cleaned``: accuracy on the held-out examples that Confident Learning does *not* flag
  for a majority of the candidates of the rung (cleanlab on each candidate's held-out
  probabilities after the rung's last epoch; the consensus is shared, so no candidate
  cleans its own validation set). A CL-based criterion: it removes the probably-wrong
  labels from the validation split before scoring.
- ``holdout-gap`` (the ``in-sample`` default before ``canary-f1-structured``): at the stop
  epoch, held-out accuracy less how far the model's eval-mode accuracy on (a sample of) its
  own training examples, against their given labels, runs ahead of it (:func:`_gap_scores`):
  it also sees memorisation, which an in-sample run's detection suffers from and held-out
  accuracy does not.
- ``canary-f1``: the F1 of the candidate's in-sample detection, estimated without ground
  truth from wrong labels we planted ourselves. A few percent of the search set's labels
  are flipped on purpose (canaries, :func:`plant_canaries`), so their positions are known;
  after each rung, Confident Learning runs on the candidate's in-sample probabilities of
  the whole search set: the share of canaries it flags is its recall, and how much else it
  flags, set against the rate of wrong labels that the most precise candidates imply,
  gives its precision (:func:`canary_f1`). Where the gap counts every point by which
  training accuracy runs ahead of held-out accuracy as memorising, this separates missing
  wrong labels (recall) from flagging right ones (precision).
- ``canary-f1-structured`` (the default for ``in-sample`` runs): canary-f1 with canaries
  that look like the data's own wrong labels. Uniform canaries are symmetric noise; a
  systematic confusion (pair noise: every wrong "7" is a "1") is easier to memorise, so a
  candidate's recall of uniform canaries overstates its recall of such wrong labels. Here a
  cross-entropy probe trains :data:`CANARY_PROBE_EPOCHS` epochs on the search set first;
  Confident Learning's joint of its in-sample probabilities estimates where the given
  labels' wrong labels go, and each canary given class g moves to class j as often
  (:func:`canary_transitions`).

**Label-free by construction.** :func:`select_settings` takes the images and the labels the
model trains on, and settings: nothing else. It never sees a clean label, a corruption
mask or a clean test split; the pipeline calls it before any of those is consulted, and
this module imports nothing that holds them (a test checks both).

**Cost.** Counted in sample-epochs (one example through one training step; a held-out
prediction counts 1/3: a forward pass only), the search is planned (:func:`plan_search`)
against one fixed-setting run of the same protocol (in-sample: N E; K-fold: K (N - N/K) E).
When search plus final run would cost more than ``max_ratio`` (2.5) fixed runs, the search
trains on a stratified random part of the non-held-out examples, sized to fit (typical for
``in-sample``, whose fixed run is one model; a 5-fold cv run fits whole). The plan is what
``--dry-run`` prints; the run folder records the plan, every candidate's curve and criterion
values, the choice and why (``auto.csv``, ``config.json``'s ``auto``).

**Failures are recorded, never chosen**: a candidate whose training loss is not finite
(diverged), that predicts one class for most of the held-out split while the given labels
are spread (collapsed), or whose training raises, is marked and skipped. If every candidate
fails, :class:`ValueError` lists why.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustloss.detect import estimate_joint, find_label_errors
from robustloss.train import TrainConfig, TrainResult, checkpoint_path, predict_proba, train
from robustloss.train.early_stop import holdout_split

__all__ = [
    "AUTO",
    "AUTO_PARAMS",
    "CRITERIA",
    "DEFAULT_CANDIDATE",
    "MAX_RATIO",
    "Candidate",
    "CandidateResult",
    "SearchPlan",
    "Selection",
    "TooSmallError",
    "candidate_grid",
    "fixed_run_cost",
    "plan_search",
    "select_settings",
    "standard_error",
    "stop_epoch",
]

#: The value that asks for a choice: ``loss="auto"``, ``gamma="auto"``, ...
AUTO = "auto"

#: The budget: search + final run cost at most this many fixed-setting runs.
MAX_RATIO = 2.5

#: Model-selection criteria (:func:`default_criterion`): the first three computed for every
#: candidate, the canary criteria only when chosen (they change the labels trained on).
CRITERIA: tuple[str, ...] = (
    "holdout-acc", "cl-cleaned", "holdout-gap", "canary-f1", "canary-f1-structured"
)  # fmt: skip

#: The criteria that plant canaries: flipped uniformly to another class (``canary-f1``), or
#: where the given labels' own wrong labels go (``canary-f1-structured``:
#: :func:`canary_transitions`).
CANARY_CRITERIA: tuple[str, ...] = ("canary-f1", "canary-f1-structured")

#: Protocols whose probabilities come from a model that trained on the very examples it
#: scores, so that memorising their wrong labels hides them from the detection: in-sample,
#: the authors' carried-over folds (paper-cv) and embed-cv (its embeddings are in-sample).
MEMORISING_PROTOCOLS: frozenset[str] = frozenset({"in-sample", "paper-cv", "embed-cv"})


def default_criterion(protocol: str) -> str:
    """The criterion ``--loss auto`` chooses by when none is given: ``canary-f1-structured``
    where the probabilities are in-sample (:data:`MEMORISING_PROTOCOLS`), else
    ``holdout-acc``.

    Out-of-sample probabilities (``cv``) come from models that never saw the example, so
    what decides is how well a setting generalises: the noisy held-out accuracy (Chen et
    al., AAAI 2021). In-sample probabilities also suffer from the model memorising the wrong
    labels it trained on, which held-out accuracy does not see; planted wrong labels shaped
    like the data's own measure the in-sample detection itself. The evidence (README,
    "Settings without ground truth"; docs/auto.md): of the five criteria at 3,000 examples
    it came closest to the oracle and stayed within the seed spread of Blurry gamma 0.4 on
    every row, where holdout-gap (the earlier default) did not; level with it at
    full size. A changed default is a different experiment: :meth:`RunConfig.resolved
    <robustloss.run.config.RunConfig.resolved>` names it in the config's hash.
    """
    return "canary-f1-structured" if protocol in MEMORISING_PROTOCOLS else CRITERIA[0]


def resolve_criterion(criterion: str | None, protocol: str) -> str:
    """``criterion`` checked, or the protocol's default for None."""
    if criterion is None:
        return default_criterion(protocol)
    if criterion not in CRITERIA:
        raise ValueError(
            f"Expected `criterion` to be one of {CRITERIA} (or None for the protocol's "
            f"default), but got {criterion!r}"
        )
    return criterion

#: The hyperparameter each loss can have chosen (``--gamma auto`` ...), with its grid.
AUTO_PARAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "blurry": ("gamma", (0.2, 0.3, 0.4, 0.6)),
    "focal": ("gamma", (0.5, 1.0, 2.0)),
    "gce": ("q", (0.3, 0.5, 0.7, 0.9)),
    "pz": ("cutoff", (0.05, 0.1, 0.2)),
}

# The full grid (loss="auto"): cross entropy; the Blurry Loss (weight detached) over gamma;
# GCE at its authors' q = 0.7 (GCE's gradient is detached Blurry's at gamma = q, so Blurry's
# gamma grid covers the rest of GCE's q); the Piecewise-zero Loss over cutoff x delay (the
# paper's best cutoffs, delays at 20% and 40% of the epochs, as its best d = 4-6 of 10).
_FULL_GAMMAS = (0.2, 0.3, 0.4, 0.6)
_FULL_QS = (0.7,)
_FULL_CUTOFFS = (0.05, 0.1)
_DELAY_FRACTIONS = (0.2, 0.4)

#: A held-out prediction's cost in sample-epochs: a forward pass, about a third of a step.
EVAL_COST = 1.0 / 3.0

#: SeedSequence stream of the search's training subsample (the holdout split is stream 4).
SEARCH_SUBSET_STREAM = 9
#: ... and of the probe, the examples trained on that are re-scored each epoch.
PROBE_STREAM = 10
#: ... and of the canaries (criterion canary-f1): which labels are flipped, and to what.
CANARY_STREAM = 11

#: Criterion canary-f1 flips this share of the search set's labels (at least
#: :data:`MIN_CANARIES`, at most a tenth of the search set) ...
CANARY_FRACTION = 0.05
MIN_CANARIES = 30
#: ... and estimates the wrong-label rate from the candidates that find at least this share
#: of the canaries (their count of flags over recall is stable; see :func:`canary_f1`).
RELIABLE_RECALL = 0.5
#: canary-f1-structured learns where wrong labels go from a cross-entropy probe trained this
#: many epochs on the search set: early, before it memorises them (Arpit et al., ICML 2017,
#: "A Closer Look at Memorization in Deep Networks": clean patterns are learnt first).
CANARY_PROBE_EPOCHS = 2


class TooSmallError(ValueError):
    """The data set is too small to hold out a validation split to choose settings on."""


#: The held-out split must hold at least this many examples (and two classes).
MIN_HELD = 20

# A candidate "collapsed" when one class takes more than this share of its held-out
# predictions while no class holds more than _SPREAD_SHARE of the held-out given labels.
_COLLAPSE_SHARE = 0.9
_SPREAD_SHARE = 0.5


# ----- candidates and the plan -------------------------------------------------------------


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


def fixed_run_cost(protocol: str, n: int, epochs: int, folds: int) -> float:
    """Sample-epochs of one fixed-setting run: N E in-sample (embed-cv: its one CNN), else
    K models on N - N/K examples each."""
    if protocol in ("in-sample", "embed-cv"):
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


def _candidate_epochs(c: Candidate, r: int) -> int:
    """Epochs candidate ``c`` trains in rung 1 itself: its warm-up is cross entropy's."""
    return r if c.loss == "ce" else r - min(c.delay, r)


def _longest_delay(cands: Sequence[Candidate], r: int) -> int:
    """The longest cross-entropy warm-up any candidate starts from (within rung 1)."""
    return max((min(c.delay, r) for c in cands if c.loss != "ce"), default=0)


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


def canary_count(n_search: int) -> int:
    """How many labels of the search set criterion canary-f1 flips: :data:`CANARY_FRACTION`
    of them, at least :data:`MIN_CANARIES`, at most a tenth."""
    return min(max(math.ceil(CANARY_FRACTION * n_search), MIN_CANARIES), n_search // 10)


def plant_canaries(
    labels: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    transitions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip :func:`canary_count` of these labels on purpose: wrong labels whose positions
    are known without any ground truth (they are ours), so how many of them a candidate's
    detection finds measures its recall of wrong labels.

    The positions are drawn uniformly (``SeedSequence([seed, CANARY_STREAM])``). Without
    ``transitions`` each canary's new label is drawn uniformly from the K - 1 classes other
    than its given one, as symmetric noise would; with them, a canary given class g becomes
    class j with probability ``transitions[g, j]`` (:func:`canary_transitions`).

    Args:
        transitions: (K, K) rows summing to 1, zero diagonal; None for uniform flips.

    Returns:
        ``(positions, labels)``: the sorted canary positions and a copy of ``labels`` with
        them flipped.
    """
    y = np.asarray(labels, dtype=np.int64)
    if num_classes < 2:
        raise ValueError(f"Expected at least 2 classes to flip labels, but got {num_classes}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), CANARY_STREAM]))
    positions = np.sort(rng.choice(y.size, size=canary_count(y.size), replace=False))
    out = y.copy()
    if transitions is None:
        shift = rng.integers(1, num_classes, size=positions.size)  # never 0: another class
        out[positions] = (y[positions] + shift) % num_classes
        return positions, out
    t = _check_transitions(transitions, num_classes)
    out[positions] = [rng.choice(num_classes, p=t[g]) for g in y[positions]]
    return positions, out


def canary_transitions(joint: np.ndarray) -> np.ndarray:
    """Where canaries go, learnt from where the given labels' own wrong labels go.

    .. math::
        T_{gj} = \\frac{Q_{jg} + 1}{\\sum_{j' \\ne g} (Q_{j'g} + 1)} \\quad (j \\ne g),
        \\qquad T_{gg} = 0

    with Q (K, K) the estimated joint of (given, true) labels (Confident Learning's
    calibrated confident joint, :func:`robustloss.detect.estimate_joint`): column g of Q
    off its diagonal counts how class g's examples were mislabelled. The add-one (Laplace)
    prior keeps every other class possible and weighs less as the counts grow: pair noise
    estimated from thousands of examples sends nearly every canary to the paired class;
    symmetric noise, or too few examples to tell, sends them about uniformly. So a canary
    is the kind of wrong label the data already has, and a candidate that memorises a
    systematic confusion misses the canaries as it misses the real ones.

    Args:
        joint: (K, K) non-negative finite counts, K >= 2.

    Returns:
        (K, K) rows summing to 1, zero diagonal.
    """
    q = np.asarray(joint, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 2:
        raise ValueError(f"Expected a (K, K) joint with K >= 2, but got shape {q.shape}")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("Expected a joint of finite non-negative counts")
    t = q.T + 1.0  # t[g, j] = Q[j, g] + 1: class g's examples labelled j
    np.fill_diagonal(t, 0.0)
    return t / t.sum(axis=1, keepdims=True)


def _check_transitions(transitions: np.ndarray, k: int) -> np.ndarray:
    t = np.asarray(transitions, dtype=np.float64)
    if t.shape != (k, k):
        raise ValueError(f"Expected ({k}, {k}) canary transitions, but got shape {t.shape}")
    if (
        not np.all(np.isfinite(t))
        or np.any(t < 0)
        or np.any(np.diag(t) != 0)
        or not np.allclose(t.sum(axis=1), 1.0)
    ):
        raise ValueError(
            "Expected canary transitions with rows of non-negative probabilities summing to 1 "
            "and a zero diagonal (a canary always changes class)"
        )
    return t / t.sum(axis=1, keepdims=True)


def canary_f1(recall: Sequence[float], flagged: Sequence[float]) -> tuple[float, ...]:
    """Each candidate's estimated F1 of its in-sample detection, from its canary recall r_i
    and the share f_i of the other search examples it flags, without ground truth.

    With w the true share of wrong labels among those examples and p_i a candidate's
    precision, f_i = r_i w / p_i, so f_i / r_i = w / p_i >= w: every candidate's ratio
    bounds w from above, and the smallest, from the most precise, is the estimate
    (``w_hat``; only candidates with r_i >= :data:`RELIABLE_RECALL`, whose ratio is not
    a small number's noise, count, or the highest-recall one if none does). Then
    ``F1_i = 2 r_i w_hat / (f_i + w_hat)`` (F1 = 2 TP / (flags + wrong labels)).

    It assumes the canaries are found as often as the real wrong labels: exact for
    symmetric noise (the canaries are symmetric), optimistic where the noise is structured
    (a systematic confusion is easier to memorise than a random one).

    Returns:
        F1 estimates in the order given; 0 for every one when no candidate finds a canary or
        flags anything.
    """
    r = np.asarray(recall, dtype=np.float64)
    f = np.asarray(flagged, dtype=np.float64)
    if r.shape != f.shape or r.ndim != 1:
        raise ValueError(
            f"Expected recall and flagged of one shape (C,), but got {r.shape} and {f.shape}"
        )
    if r.size == 0:
        return ()
    if np.any((r < 0) | (r > 1) | (f < 0) | (f > 1)) or not np.all(np.isfinite(r + f)):
        raise ValueError("Expected recall and flagged shares in [0, 1]")
    finding = r > 0
    if not finding.any():
        return tuple(0.0 for _ in r)
    reliable = r >= RELIABLE_RECALL
    pool = reliable if reliable.any() else r == r.max()
    w = float(np.min(f[pool] / r[pool]))
    if w <= 0:
        return tuple(0.0 for _ in r)
    return tuple(float(2 * ri * w / (fi + w)) for ri, fi in zip(r, f, strict=True))


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


# ----- results -----------------------------------------------------------------------------


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
    """What :func:`select_settings` returns: the choice, why, and every candidate's record."""

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


# ----- the search --------------------------------------------------------------------------

#: How a candidate is trained (replaceable in tests): ``train``'s signature.
Trainer = Callable[..., TrainResult]


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
            :func:`fixed_run_cost`).
        loss: None to choose among all losses (:func:`candidate_grid`); a loss of
            :data:`AUTO_PARAMS` to choose its parameter.
        fixed: with ``loss``, its other hyperparameters, held fixed.
        criterion: one of :data:`CRITERIA` (all are computed and recorded); None for the
            protocol's default (:func:`default_criterion`).
        holdout: the held-out fraction, stratified on ``labels``.
        max_ratio: budget of search + final run, in fixed-setting runs of ``protocol``.
        num_classes: K (default ``labels.max() + 1``).
        quiet: no progress lines.
        trainer: the training function (``robustloss.train.train``).

    Returns:
        The :class:`Selection`. Same inputs and seed, same machine: the same choice.

    Raises:
        ValueError: bad ``criterion``, a data set too small to hold out a validation split
            (:func:`plan_search`), or every candidate failed (the message lists why).
    """
    start = time.perf_counter()
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or y.shape[0] != len(images):
        raise ValueError(
            f"Expected (N,) labels for the N={len(images)} images, but got shape {y.shape}"
        )
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
    x_search, y_search, canaries = images[search_idx], y[search_idx], None
    transitions, note, probe_cost = None, "", 0.0
    if plan.canary_probe_epochs:
        transitions, note = _probe_transitions(
            base, x_search, y_search, epochs=plan.canary_probe_epochs, k=k, trainer=trainer
        )
        probe_cost = (plan.canary_probe_epochs + EVAL_COST) * y_search.size
    if plan.canaries:
        canaries, y_search = plant_canaries(
            y_search, num_classes=k, seed=seed, transitions=transitions
        )
    search = _Search(
        base=base, x=x_search, y=y_search, x_held=images[held_idx], y_held=y[held_idx],
        probe=probe, k=k, quiet=quiet, trainer=trainer, canaries=canaries,
        sample_epochs=probe_cost,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="robustloss-auto-") as tmp:
        search.workdir = Path(tmp)
        results = search.run(plan)
    selection = _decide(plan, results, search.sample_epochs, time.perf_counter() - start)
    if transitions is None and not note:
        return selection
    rows = None if transitions is None else tuple(tuple(map(float, r)) for r in transitions)
    return dataclasses.replace(selection, canary_transitions=rows, canary_note=note)


def _probe_transitions(
    base: TrainConfig, x: np.ndarray, y: np.ndarray, *, epochs: int, k: int, trainer: Trainer
) -> tuple[np.ndarray | None, str]:
    """canary-f1-structured's canary transitions (:func:`canary_transitions`) from a
    cross-entropy probe trained ``epochs`` on the search set's given labels, scored in
    sample; ``(None, why)`` (uniform canaries) when the probe fails."""
    cfg = dataclasses.replace(base, loss="ce", loss_params={}, delay=0, epochs=epochs)
    try:
        model = trainer(cfg, x, y, num_classes=k, quiet=True).model
        joint = estimate_joint(y, predict_proba(model, x))
        return canary_transitions(joint), (
            f"drawn from Confident Learning's joint on a cross-entropy probe of "
            f"{_epochs(epochs)} ({joint.trace() / joint.sum():.1%} of the search labels "
            "estimated right)"
        )
    except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
        return None, (
            f"uniform: the cross-entropy probe failed ({type(exc).__name__}: {exc})"
        )


def probe_positions(n_search: int, n_held: int, seed: int) -> np.ndarray:
    """The probe: sorted positions in the search set of the :func:`probe_size` examples
    re-scored after every epoch, drawn uniformly (``SeedSequence([seed, PROBE_STREAM])``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), PROBE_STREAM]))
    return np.sort(rng.choice(n_search, size=probe_size(n_search, n_held), replace=False))


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


@dataclass
class _Search:
    """The candidates' training on one split; checkpoints in ``workdir``."""

    base: TrainConfig
    x: np.ndarray
    y: np.ndarray
    x_held: np.ndarray
    y_held: np.ndarray
    probe: np.ndarray  # indices into x: re-scored in eval mode after every epoch
    k: int
    quiet: bool
    trainer: Trainer
    canaries: np.ndarray | None = None  # positions in x whose label in y was flipped (ours)
    workdir: Path | None = None
    sample_epochs: float = 0.0
    # Each candidate's held-out probabilities after its latest rung (cl-cleaned's input).
    probs: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    def run(self, plan: SearchPlan) -> list[CandidateResult]:
        r, e = plan.rung_epochs, plan.epochs
        warmup = self._warmup(plan.candidates, r)
        results = [self._rung1(i, c, r, warmup) for i, c in enumerate(plan.candidates)]
        self._drop_checkpoints(warmup, keep=r if plan.candidates[0].loss == "ce" else None)
        results = self._score_cleaned(results, range(len(results)))
        results = _score_canaries(results, range(len(results)))
        if e <= r:  # no halving: every candidate has trained its E epochs
            return [dataclasses.replace(res, status="kept") if res.ok else res for res in results]
        ok = [i for i, res in enumerate(results) if res.ok]
        kept = sorted(_ranked_indices(results, ok, plan.criterion)[: plan.keep])
        for i in kept:
            results[i] = self._rung2(i, results[i], e)
        results = self._score_cleaned(results, [i for i in kept if results[i].ok])
        return _score_canaries(results, [i for i in kept if results[i].ok])

    @property
    def _epoch_cost(self) -> float:
        """Sample-epochs of one candidate-epoch: training, the held-out and probe passes."""
        return self.x.shape[0] + EVAL_COST * (self.x_held.shape[0] + self.probe.size)

    def _config(self, c: Candidate, epochs: int) -> TrainConfig:
        return dataclasses.replace(
            self.base, loss=c.loss, loss_params=c.loss_params(), delay=c.delay, epochs=epochs
        )

    def _dir(self, i: int | str) -> Path:
        assert self.workdir is not None
        return self.workdir / (f"candidate-{i:02d}" if isinstance(i, int) else i)

    def _warmup(self, cands: Sequence[Candidate], r: int) -> Path | None:
        """Where the cross-entropy warm-up's checkpoints are: candidate 0's run when it is
        cross entropy (trained first), else a warm-up run of the longest delay, here."""
        longest = _longest_delay(cands, r)
        if longest == 0:
            return None
        if cands[0].loss == "ce":
            return self._dir(0)
        self._log(f"cross-entropy warm-up, {longest} epoch(s)")
        cfg = self._config(Candidate("ce"), longest)
        # Scored like a candidate's epochs: the candidates resume its history as theirs.
        self.trainer(
            cfg, self.x, self.y, test_images=self.x_held, test_labels=self.y_held,
            num_classes=self.k, checkpoint_dir=self._dir("warmup"), probe=self.probe,
            quiet=True,
        )  # fmt: skip
        self.sample_epochs += longest * self._epoch_cost
        return self._dir("warmup")

    def _rung1(self, i: int, c: Candidate, r: int, warmup: Path | None) -> CandidateResult:
        resume = None
        if c.loss != "ce" and c.delay > 0 and warmup is not None:
            resume = checkpoint_path(warmup, min(c.delay, r))
        self._log(f"rung 1: {c.name}, {r} epoch(s)")
        out = self._train(i, c, r, resume=resume, save=True)
        if i > 0 or c.loss != "ce":  # candidate 0's checkpoints may be the warm-up's
            self._drop_checkpoints(self._dir(i), keep=r)
        return out

    def _rung2(self, i: int, res: CandidateResult, e: int) -> CandidateResult:
        c = res.candidate
        self._log(f"rung 2: {c.name}, on to {e} epochs")
        resume = checkpoint_path(self._dir(i), res.epochs_trained)
        out = self._train(i, c, e, resume=resume, save=False)
        return dataclasses.replace(out, status="kept") if out.ok else out

    def _drop_checkpoints(self, folder: Path | None, *, keep: int | None) -> None:
        """Delete a run's checkpoints but the one after ``keep`` epochs (rung 2 resumes it)."""
        if folder is None or not folder.is_dir():
            return
        wanted = None if keep is None else checkpoint_path(folder, keep).name
        for path in folder.glob("epoch-*.pt"):
            if path.name != wanted:
                path.unlink()

    def _train(
        self, i: int, c: Candidate, epochs: int, *, resume: Path | None, save: bool
    ) -> CandidateResult:
        cfg = self._config(c, epochs)
        try:
            result = self.trainer(
                cfg, self.x, self.y, test_images=self.x_held, test_labels=self.y_held,
                num_classes=self.k, checkpoint_dir=self._dir(i) if save else None,
                resume_from=resume, probe=self.probe, quiet=True,
            )  # fmt: skip
        except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
            return _failed(c, "failed", f"training raised {type(exc).__name__}: {exc}")
        history = result.history
        done_before = 0 if resume is None else int(resume.stem.split("-")[1])
        new_epochs = len(history) - done_before
        self.sample_epochs += new_epochs * self._epoch_cost
        bad = [h["epoch"] for h in history if not math.isfinite(float(h["train_loss"]))]
        if bad:
            return _failed(c, "diverged", f"training loss not finite at epoch {bad[0]}")
        probs = predict_proba(result.model, self.x_held)
        self.sample_epochs += EVAL_COST * self.x_held.shape[0]
        if not np.all(np.isfinite(probs)):
            return _failed(c, "diverged", "held-out probabilities not finite")
        collapse = _collapsed(probs, self.y_held, self.k)
        if collapse:
            return _failed(c, "collapsed", collapse)
        self.probs[i] = probs
        curve = tuple(float(h["test_acc"]) for h in history)
        train_curve = tuple(float(h["probe_acc"]) for h in history)
        gap = _gap_scores(curve, train_curve)
        first = min(c.delay, len(curve) - 1) if c.loss != "ce" else 0  # warm-up: not counted
        best = first + int(np.argmax(curve[first:]))  # ties: the earlier epoch
        stop = stop_epoch(curve, first=first, n_held=self.y_held.shape[0]) - 1
        recall, flagged = self._canary_shares(result.model)
        return CandidateResult(
            candidate=c,
            status="pruned",
            epochs_trained=len(history),
            curve=curve,
            holdout_acc=curve[stop],
            best_epoch=best + 1,
            cl_cleaned=None,
            train_curve=train_curve,
            holdout_gap=gap[stop],
            stop_epoch=stop + 1,
            canary_recall=recall,
            flagged_share=flagged,
        )

    def _canary_shares(self, model) -> tuple[float | None, float | None]:
        """With canaries: the share of them that Confident Learning flags on the model's
        in-sample probabilities of the whole search set, and the share of the other search
        examples it flags; (None, None) without."""
        if self.canaries is None or self.canaries.size == 0:
            return None, None
        probs = predict_proba(model, self.x)
        self.sample_epochs += EVAL_COST * self.x.shape[0]
        flags = np.zeros(self.y.shape[0], dtype=bool)
        flags[find_label_errors(self.y, probs)] = True
        others = np.ones_like(flags)
        others[self.canaries] = False
        return float(flags[self.canaries].mean()), float(flags[others].mean())

    def _score_cleaned(self, results: list[CandidateResult], indices) -> list[CandidateResult]:
        """Criterion cl-cleaned for the ok candidates among ``indices``: their accuracy on
        the held-out examples not flagged by Confident Learning for most of them."""
        idx = [i for i in indices if results[i].ok and i in self.probs]
        if not idx:
            return results
        votes = np.zeros(self.y_held.shape[0], dtype=np.int64)
        for i in idx:
            votes[find_label_errors(self.y_held, self.probs[i])] += 1
        clean = votes * 2 <= len(idx)  # flagged by at most half of them: kept
        out = list(results)
        for i in idx:
            pred = self.probs[i].argmax(axis=1)
            value = float(np.mean(pred[clean] == self.y_held[clean])) if clean.any() else None
            out[i] = dataclasses.replace(results[i], cl_cleaned=value)
        return out

    def _log(self, message: str) -> None:
        if not self.quiet:
            print(f"[robustloss] auto {message}", file=sys.stderr, flush=True)


def standard_error(accuracy: float, n: int) -> float:
    """sqrt(p (1 - p) / n): the binomial standard error of an accuracy p measured on n
    examples (0 for n = 0). It treats the held-out split as a sample and ignores that two
    candidates are scored on the same examples (their difference's error is smaller), so a
    rule built on it errs towards the longer run."""
    if n <= 0:
        return 0.0
    p = min(max(float(accuracy), 0.0), 1.0)
    return math.sqrt(p * (1.0 - p) / n)


def stop_epoch(curve: Sequence[float], *, first: int = 0, n_held: int) -> int:
    """The 1-based epoch a final run trains: the latest epoch, from index ``first`` (the
    epochs before a delayed loss is in use do not count), whose held-out accuracy is within
    one :func:`standard_error` of the peak over those epochs.

    The one-standard-error rule (Breiman et al. 1984; Hastie et al., ESL §7.10) turned
    towards the longer run: the held-out split cannot tell a peak from a later epoch within
    its error, and a fixed setting trains them all. E.g. ``curve = (0.70, 0.80, 0.79,
    0.78)`` on 100 held-out examples (SE 0.04 at 0.80): epoch 4.
    """
    if not curve or not 0 <= first < len(curve):
        raise ValueError(
            f"Expected a non-empty curve and 0 <= first < {len(curve)}, but got first={first}"
        )
    peak = max(curve[first:])
    floor = peak - standard_error(peak, n_held)
    return max(e for e in range(first, len(curve)) if curve[e] >= floor) + 1


def _gap_scores(held: Sequence[float], trained: Sequence[float]) -> tuple[float, ...]:
    """Criterion holdout-gap per epoch: held-out accuracy less how far the accuracy on the
    training labels runs ahead of it, ``h_e - max(0, t_e - h_e)``.

    With noise rate rho, held-out accuracy is about ``h = (1 - rho) a`` (a: the accuracy on
    the examples whose label is right), and the accuracy on the training labels
    ``t = (1 - rho) a' + rho m``, where m is the share of the *wrong* training labels the
    model reproduces (memorised) and a' its accuracy on the right ones. So ``t - h`` is
    about ``rho m`` (plus the ordinary generalisation gap ``a' - a``): the share of the
    training set whose wrong label an in-sample detection will miss, which held-out accuracy
    alone does not see. ``t_e`` is the eval-mode accuracy of a sample of the examples
    trained on (``train``'s probe) after epoch e: the running accuracy of the epoch's
    batches has dropout on and hides it (on 3,000 MNIST examples at 20% noise, cross
    entropy's running accuracy stayed below 0.81 over 10 epochs while its in-sample
    detection found a fifth of the wrong labels).
    """
    return tuple(h - max(0.0, t - h) for h, t in zip(held, trained, strict=True))


def _score_canaries(results: list[CandidateResult], indices) -> list[CandidateResult]:
    """Criterion canary-f1 for the ok candidates among ``indices`` that have canary shares,
    estimated together (:func:`canary_f1` needs the rung's candidates side by side)."""
    idx = [i for i in indices if results[i].ok and results[i].canary_recall is not None]
    if not idx:
        return results
    f1 = canary_f1([results[i].canary_recall for i in idx], [results[i].flagged_share for i in idx])
    out = list(results)
    for i, value in zip(idx, f1, strict=True):
        out[i] = dataclasses.replace(results[i], canary_f1=value)
    return out


def _failed(c: Candidate, status: str, reason: str) -> CandidateResult:
    return CandidateResult(c, status, 0, (), None, None, None, reason)


def _collapsed(probs: np.ndarray, y_held: np.ndarray, k: int) -> str:
    """Why the predictions collapsed to one class, or "" when they did not."""
    pred = probs.argmax(axis=1)
    counts = np.bincount(pred, minlength=k)
    top = int(counts.argmax())
    share = counts[top] / pred.size
    given_share = np.bincount(y_held, minlength=k).max() / y_held.size
    if share > _COLLAPSE_SHARE and given_share <= _SPREAD_SHARE:
        return (
            f"predicts class {top} for {share:.0%} of the held-out examples (the most "
            f"frequent given label holds {given_share:.0%})"
        )
    return ""


def _value(res: CandidateResult, criterion: str) -> float:
    """The criterion's value; cl-cleaned falls back to held-out accuracy where undefined."""
    v = res.value(criterion)
    if v is None:
        v = res.holdout_acc
    return -math.inf if v is None else float(v)


def _ranked_indices(results: Sequence[CandidateResult], idx: Sequence[int], criterion: str):
    """``idx`` best first by ``criterion``; a tie goes to :data:`DEFAULT_CANDIDATE` (the
    setting one would use without a search), then to the earlier in the grid."""
    return sorted(
        idx,
        key=lambda i: (
            -_value(results[i], criterion),
            results[i].candidate != DEFAULT_CANDIDATE,
            i,
        ),
    )


def _decide(
    plan: SearchPlan, results: list[CandidateResult], sample_epochs: float, seconds: float
) -> Selection:
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
