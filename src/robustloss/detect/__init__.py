"""Finding the wrong labels: Confident Learning and the detectors beside it; scoring them.

:mod:`.cl` is Confident Learning (cleanlab) with validation, ranking, scoring and the
per-class error estimate; :mod:`.aum` (Area Under the Margin), :mod:`.margin` (cleanlab's
``low_normalized_margin`` / ``low_self_confidence``), :mod:`.knn` (neighbours in feature
space) and :mod:`.vote` (their agreement) are the others; :mod:`.registry` names them all
(:data:`DETECTORS`) and runs one on a :class:`DetectorInputs`, which holds the given labels
and model outputs and nothing else. This package never imports :mod:`robustloss.noise`.
"""

from robustloss.detect.cl import (
    METHODS,
    PROB_ATOL,
    RANK_BY,
    RANK_DECIMALS,
    estimate_errors_per_class,
    estimate_joint,
    find_label_errors,
    rank_order,
    rank_scores,
    score_detections,
    validate_inputs,
)
from robustloss.detect.registry import (
    DETECTOR_NEEDS,
    DETECTORS,
    VOTE_MEMBERS,
    DetectorInputs,
    DetectorResult,
    cl_estimated_count,
    needs,
    run_detector,
)

__all__ = [
    "DETECTORS",
    "DETECTOR_NEEDS",
    "METHODS",
    "PROB_ATOL",
    "RANK_BY",
    "RANK_DECIMALS",
    "VOTE_MEMBERS",
    "DetectorInputs",
    "DetectorResult",
    "cl_estimated_count",
    "estimate_errors_per_class",
    "estimate_joint",
    "find_label_errors",
    "needs",
    "rank_order",
    "rank_scores",
    "run_detector",
    "score_detections",
    "validate_inputs",
]
