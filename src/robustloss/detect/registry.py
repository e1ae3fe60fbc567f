"""Detectors by name: every one takes the given labels and model outputs, returns the same.

N examples, K classes. A detector is given a :class:`DetectorInputs` (the labels as given,
the model's probabilities and, where it needs them, the training margins or the penultimate
features) and returns a :class:`DetectorResult`: the flagged indices most suspect first and
a per-example score, low = suspect. There is no field for the truth (which labels were
corrupted): a detector cannot see it.

======================  =====================================================================
``cl``                  Confident Learning, ``filter_by=method`` (:mod:`.cl`; the default)
``aum``                 Area Under the Margin, threshold samples' 99th percentile (:mod:`.aum`)
``aum-count``           AUM, the CL-estimated number of lowest AUMs (label-free, no 2nd run)
``margin``              cleanlab ``filter_by="low_normalized_margin"`` (:mod:`.margin`)
``self-confidence``     cleanlab ``filter_by="low_self_confidence"``
``knn``                 neighbours in feature space, Datalab's ``features=`` path (:mod:`.knn`)
``vote``                flagged by at least 2 of ``cl``, ``aum-count``, ``knn`` (:mod:`.vote`)
======================  =====================================================================
"""

from __future__ import annotations

import dataclasses

import numpy as np
from cleanlab.count import num_label_issues

from robustloss.detect.aum import find_by_aum
from robustloss.detect.cl import find_label_errors, rank_scores, validate_inputs
from robustloss.detect.knn import KNN_K, find_by_knn
from robustloss.detect.margin import SCORE_FILTERS, find_by_score
from robustloss.detect.vote import MIN_VOTES, vote

__all__ = [
    "DETECTORS",
    "DETECTOR_NEEDS",
    "VOTE_MEMBERS",
    "DetectorInputs",
    "DetectorResult",
    "cl_estimated_count",
    "needs",
    "run_detector",
]

DETECTORS: tuple[str, ...] = ("cl", "aum", "aum-count", "margin", "self-confidence", "knn", "vote")

#: The label-free members of ``vote`` (none needs a second training).
VOTE_MEMBERS: tuple[str, ...] = ("cl", "aum-count", "knn")

#: What each detector needs beside labels and probabilities: "aum" (training margins),
#: "aum_threshold" (a threshold run), "features" (penultimate embeddings).
DETECTOR_NEEDS: dict[str, tuple[str, ...]] = {
    "cl": (),
    "aum": ("aum", "aum_threshold"),
    "aum-count": ("aum",),
    "margin": (),
    "self-confidence": (),
    "knn": ("features",),
    "vote": ("aum", "features"),
}


def needs(names) -> set[str]:
    """The union of :data:`DETECTOR_NEEDS` over detector ``names`` (unknown names: error)."""
    out: set[str] = set()
    for name in names:
        _check_name(name)
        out.update(DETECTOR_NEEDS[name])
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetectorInputs:
    """What a detector may look at: the given labels and what a model made of them.

    Attributes:
        labels: (N,) int64 the labels as given (noisy ones in ``robustloss run``).
        pred_probs: (N, K) predicted probabilities.
        aum: (N,) mean training margins (AUM), or None when not recorded.
        aum_threshold: the threshold samples' 99th-percentile AUM, or None without a
            threshold run.
        features: (N, D) penultimate-layer embeddings, or None.
        method, rank_by: Confident Learning's ``filter_by`` and ranking score (``cl``).
        knn_k: neighbours for ``knn``.
    """

    labels: np.ndarray
    pred_probs: np.ndarray
    aum: np.ndarray | None = None
    aum_threshold: float | None = None
    features: np.ndarray | None = None
    method: str = "both"
    rank_by: str = "self_confidence"
    knn_k: int = KNN_K


@dataclasses.dataclass(frozen=True)
class DetectorResult:
    """One detector's answer.

    Attributes:
        name: the detector (a value of :data:`DETECTORS`).
        flagged: (M,) int64 indices, most suspect first.
        scores: (N,) float64 per-example scores, low = suspect (their scale is the
            detector's: probabilities for cl / margin / self-confidence / knn, logit margins
            for aum).
    """

    name: str
    flagged: np.ndarray
    scores: np.ndarray


def _check_name(name: str) -> None:
    if name not in DETECTORS:
        raise ValueError(f"Expected a detector among {', '.join(DETECTORS)}, but got {name!r}")


def _need(inputs: DetectorInputs, name: str, field: str):
    value = getattr(inputs, field)
    if value is None:
        what = {
            "aum": "training margins (TrainConfig.record_margins: a CNN trained on images)",
            "aum_threshold": "a threshold run's AUM threshold",
            "features": "penultimate-layer features",
        }[field]
        raise ValueError(f"detector {name!r} needs {what}, but got none")
    return value


def cl_estimated_count(labels, pred_probs) -> int:
    """cleanlab's ``num_label_issues``: how many labels Confident Learning estimates wrong."""
    labels_arr, probs = validate_inputs(labels, pred_probs, min_classes=2)
    return int(num_label_issues(labels_arr, probs))


def run_detector(name: str, inputs: DetectorInputs) -> DetectorResult:
    """Run detector ``name`` (one of :data:`DETECTORS`) on ``inputs``."""
    _check_name(name)
    labels, probs = inputs.labels, inputs.pred_probs
    if name == "cl":
        flagged = find_label_errors(
            labels, probs, method=inputs.method, rank_by=inputs.rank_by, frac_noise=1.0,
            min_examples_per_class=1, n_jobs=1,
        )  # fmt: skip
        scores = rank_scores(labels, probs, rank_by=inputs.rank_by)
    elif name == "aum":
        flagged, scores = find_by_aum(
            labels, _need(inputs, name, "aum"), threshold=_need(inputs, name, "aum_threshold")
        )
    elif name == "aum-count":
        count = cl_estimated_count(labels, probs)
        flagged, scores = find_by_aum(labels, _need(inputs, name, "aum"), num_to_flag=count)
    elif name in SCORE_FILTERS:
        flagged, scores = find_by_score(labels, probs, score=SCORE_FILTERS[name])
    elif name == "knn":
        flagged, scores = find_by_knn(
            labels, _need(inputs, name, "features"), num_classes=probs.shape[1], k=inputs.knn_k
        )
    else:  # vote
        members = [run_detector(member, inputs) for member in VOTE_MEMBERS]
        flagged, scores = vote([(r.flagged, r.scores) for r in members], min_votes=MIN_VOTES)
    return DetectorResult(
        name=name,
        flagged=np.asarray(flagged, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
    )
