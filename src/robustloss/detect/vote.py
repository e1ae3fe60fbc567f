"""Agreement of detectors: an example is flagged when at least ``min_votes`` of them flag it.

N examples; each member hands ``(flagged, scores)``: (M,) indices most suspect first and (N,)
scores, low = suspect (:mod:`robustloss.detect.registry`). A member's *position* of example
i is its place in that member's full order (the flagged in their order, then the rest by
ascending score, ties by index), divided by N: in [0, 1), 0 = most suspect.

The vote's score of example i (low = suspect) is

.. math::
    s_i = \\frac{(m - v_i) + \\bar r_i}{m + 1}

with m members, v_i the members that flag i and \\bar r_i its mean position: first by votes,
then by how suspect the members find it. The flagged (``v_i >= min_votes``) are ordered by
``s_i``, ties by index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_VOTES", "vote"]

MIN_VOTES: int = 2


def _positions(flagged: np.ndarray, scores: np.ndarray) -> np.ndarray:
    n = scores.shape[0]
    is_flagged = np.zeros(n, dtype=bool)
    is_flagged[flagged] = True
    rest = np.flatnonzero(~is_flagged)
    rest = rest[np.lexsort((rest, scores[rest]))]
    order = np.concatenate([np.asarray(flagged, dtype=np.int64), rest])
    pos = np.empty(n, dtype=np.float64)
    pos[order] = np.arange(n) / n
    return pos


def vote(
    members: Sequence[tuple[np.ndarray, np.ndarray]], *, min_votes: int = MIN_VOTES
) -> tuple[np.ndarray, np.ndarray]:
    """``(flagged, scores)`` of the members' agreement (see the module docstring)."""
    m = len(members)
    if m < 1:
        raise ValueError("Expected at least one member detector, but got 0")
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or not 1 <= min_votes <= m:
        raise ValueError(f"Expected `min_votes` in [1, {m}], but got {min_votes!r}")
    n = np.asarray(members[0][1]).shape[0]
    votes = np.zeros(n, dtype=np.int64)
    pos = np.zeros(n, dtype=np.float64)
    for flagged, scores in members:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (n,):
            raise ValueError(f"Expected every member's scores of shape ({n},), got {scores.shape}")
        votes[np.asarray(flagged, dtype=np.int64)] += 1
        pos += _positions(np.asarray(flagged, dtype=np.int64), scores)
    score = ((m - votes) + pos / m) / (m + 1)
    flagged = np.flatnonzero(votes >= min_votes)
    flagged = flagged[np.lexsort((flagged, score[flagged]))]
    return flagged.astype(np.int64), score
