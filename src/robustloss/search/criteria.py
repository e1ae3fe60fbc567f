"""The criteria a ``--loss auto`` search chooses by, and how each scores a candidate.

Names only, light to import (the standard library alone): the run's config, the sweeps, the
reports and the CLI take :data:`AUTO`, :data:`AUTO_PARAMS`, :data:`CRITERIA`, ... from here,
not from the search itself (:mod:`robustloss.search.search`).

**Each candidate's stop epoch, and its score there.** A candidate's stop epoch is the
*latest* epoch whose held-out accuracy is within one standard error of its peak (the
one-standard-error rule of Breiman et al. 1984, "Classification and Regression Trees", and
Hastie, Tibshirani & Friedman, "The Elements of Statistical Learning" §7.10, leaning towards
the longer run, as a fixed setting trains all E epochs; SE = sqrt(p (1 - p) / n_held) at the
peak accuracy p; epochs before its loss is in use do not count): :func:`stop_epoch`.
Label-free early stopping on noisy held-out accuracy (Toner & Storkey, below) that does not
stop at a peak the held-out split cannot tell from the epochs after it. Every criterion
scores the candidate *at its stop epoch*, the model its final run would give: a candidate's
score is not an early epoch's when its final run would train past it (a learner that fits
fast scored before it memorises, then trained on, is the failure this avoids).

**Why a noisy held-out split is enough.** Chen et al. (AAAI 2021, "Robustness of Accuracy
Metric and its Inspirations in Learning with Noisy Labels") prove that under
class-conditional noise with a diagonally dominant transition matrix the classifier that
maximises accuracy against the noisy labels also maximises clean accuracy, and so a noisy
validation split ranks models (and epochs) as a clean one would; Toner & Storkey (2024,
arXiv 2409.06830) find early stopping on noisy validation accuracy near-optimal. All
criteria but the canary ones (which change what the candidates train on) are computed and
recorded for every candidate (:data:`CRITERIA`); the default depends on where the run's
probabilities come from (:func:`default_criterion`):

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
  truth from wrong labels we planted ourselves (:mod:`robustloss.search.canaries`). A few
  percent of the search set's labels are flipped on purpose (canaries), so their positions
  are known; after each rung, Confident Learning runs on the candidate's in-sample
  probabilities of the whole search set: the share of canaries it flags is its recall, and
  how much else it flags, set against the rate of wrong labels that the most precise
  candidates imply, gives its precision. Where the gap counts every point by which training
  accuracy runs ahead of held-out accuracy as memorising, this separates missing wrong
  labels (recall) from flagging right ones (precision).
- ``canary-f1-structured`` (the default for ``in-sample`` runs): canary-f1 with canaries
  that look like the data's own wrong labels. Uniform canaries are symmetric noise; a
  systematic confusion (pair noise: every wrong "7" is a "1") is easier to memorise, so a
  candidate's recall of uniform canaries overstates its recall of such wrong labels. Here a
  cross-entropy probe trains a few epochs on the search set first; Confident Learning's
  joint of its in-sample probabilities estimates where the given labels' wrong labels go,
  and each canary given class g moves to class j as often.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "AUTO",
    "AUTO_PARAMS",
    "CANARY_CRITERIA",
    "CRITERIA",
    "MAX_RATIO",
    "MEMORISING_PROTOCOLS",
    "default_criterion",
    "resolve_criterion",
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
#: :func:`~robustloss.search.canaries.canary_transitions`).
CANARY_CRITERIA: tuple[str, ...] = ("canary-f1", "canary-f1-structured")

#: Protocols whose probabilities come from a model that trained on the very examples it
#: scores, so that memorising their wrong labels hides them from the detection: in-sample,
#: and the authors' carried-over folds (paper-cv).
MEMORISING_PROTOCOLS: frozenset[str] = frozenset({"in-sample", "paper-cv"})


def default_criterion(protocol: str) -> str:
    """The criterion ``--loss auto`` chooses by when none is given: ``canary-f1-structured``
    where the probabilities are in-sample (:data:`MEMORISING_PROTOCOLS`), else
    ``holdout-acc``.

    Out-of-sample probabilities (``cv``) come from models that never saw the example, so
    what decides is how well a setting generalises: the noisy held-out accuracy (Chen et
    al., AAAI 2021). In-sample probabilities also suffer from the model memorising the wrong
    labels it trained on, which held-out accuracy does not see; planted wrong labels shaped
    like the data's own measure the in-sample detection itself. The evidence
    (docs/benchmarks/auto.md): of the five criteria at 3,000 examples
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


# ----- a candidate's scores ----------------------------------------------------------------


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
