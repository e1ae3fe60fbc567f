"""Every random stream of robustloss, in one table, and :func:`derive_seed`.

A run has one ``seed``; everything random in it draws from a numpy ``SeedSequence`` of a
base seed and a *stream id*: ``SeedSequence([base, id, ...])``, directly or through
:func:`derive_seed`. Two purposes that drew from the same base with the same id would draw
the same numbers, so the ids are kept apart here: :data:`STREAMS` names every id, its
purpose, the base it is applied to and the module that draws from it, and each of those
modules imports its id from here (a new stream takes an id no entry has).

One id is shared, on purpose and for history (:data:`SHARED_IDS`): ``permutation`` and
``split`` are both 1. Changing either would change every recorded training (the batch
orders) or every cv fold assignment of the committed evidence. The split is
``derive_seed(run seed, 1)``; the permutation generator is seeded from
``SeedSequence([model seed, 1]).generate_state(2)``. The folds' models (cv, paper-cv) have
seeds derived with the ``fold`` stream, never the run seed, so the split and their batch
orders start from different bases. (A cv run with ``loss="auto"`` is the exception: its
search's candidates train with the run seed, so their batch orders and the fold split
start from the same SeedSequence: one feeds torch's permutations on a subsample, the other
sklearn's fold assignment of all examples.)

Imports nothing from robustloss: every layer may use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

__all__ = [
    "AUM_STREAM",
    "CANARY_STREAM",
    "FOLD_STREAM",
    "HOLDOUT_STREAM",
    "OVERFIT_SUBSET_STREAM",
    "PERMUTATION_STREAM",
    "PROBE_STREAM",
    "SEARCH_SUBSET_STREAM",
    "SHARED_IDS",
    "SPLIT_STREAM",
    "STREAMS",
    "SUBSET_STREAM",
    "Stream",
    "derive_seed",
]


def derive_seed(base: int, *keys: int) -> int:
    """A 31-bit seed for purpose ``keys`` derived from ``base`` (numpy ``SeedSequence``).

    Distinct ``keys`` give statistically independent streams; the same inputs always give
    the same seed, on every machine.
    """
    state = np.random.SeedSequence([int(base), *map(int, keys)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


@dataclasses.dataclass(frozen=True)
class Stream:
    """One stream id: what draws from it, from which base seed, where."""

    id: int
    purpose: str
    base: str  # the seed the id is combined with
    user: str  # the module that draws from it


#: Every stream id, by name. Ids 7 and 8 are free; the search's are 9 to 11.
STREAMS: Mapping[str, Stream] = MappingProxyType(
    {
        "permutation": Stream(
            1, "the batch order of a training (a torch.Generator, 63 bits)",
            "the model's seed", "robustloss.train.rng",
        ),
        "split": Stream(
            1, "the fold assignment of cv / paper-cv (KFold random_state)",
            "the run's seed", "robustloss.probs.protocols, robustloss.probs.features",
        ),
        "fold": Stream(
            2, "fold k's model seed: derive_seed(seed, FOLD, k)",
            "the training config's seed", "robustloss.probs.protocols, robustloss.probs.features",
        ),
        "subset": Stream(
            3, "a run's stratified --subset of the training split",
            "the run's seed", "robustloss.run.trainset",
        ),
        "holdout": Stream(
            4, "the held-out split of the given labels (early stopping, the search)",
            "the model's seed (the run's for the search)", "robustloss.train.early_stop",
        ),
        "aum": Stream(
            5, "AUM's threshold run: its threshold samples (AUM) and its model (AUM, 1)",
            "the run's seed", "robustloss.run.detectors",
        ),
        "overfit-subset": Stream(
            6, "find_overfit_point's subsets of the train and test splits",
            "the experiment's seed", "robustloss.run.overfit",
        ),
        "search-subset": Stream(
            9, "the search's training subsample", "the run's seed", "robustloss.search.plan",
        ),
        "probe": Stream(
            10, "the search's probe rows, re-scored every epoch",
            "the run's seed", "robustloss.search.plan",
        ),
        "canary": Stream(
            11, "the search's canaries: which labels are flipped, and to what",
            "the run's seed", "robustloss.search.canaries",
        ),
    }
)  # fmt: skip

#: The one id two streams share, and why that is safe (see the module docstring).
SHARED_IDS: Mapping[int, tuple[str, ...]] = MappingProxyType({1: ("permutation", "split")})

PERMUTATION_STREAM = STREAMS["permutation"].id
SPLIT_STREAM = STREAMS["split"].id
FOLD_STREAM = STREAMS["fold"].id
SUBSET_STREAM = STREAMS["subset"].id
HOLDOUT_STREAM = STREAMS["holdout"].id
AUM_STREAM = STREAMS["aum"].id
OVERFIT_SUBSET_STREAM = STREAMS["overfit-subset"].id
SEARCH_SUBSET_STREAM = STREAMS["search-subset"].id
PROBE_STREAM = STREAMS["probe"].id
CANARY_STREAM = STREAMS["canary"].id
