"""What a reviewer can decide about one suspect: defined here once, for the page that records
the decisions (:mod:`robustloss.review.page`) and the code that applies them
(:mod:`robustloss.review.apply`).

==========  ==================================================================
``accept``  the suggestion: the label becomes the suggested class
``keep``    the given label is right
``relabel`` another class, named in the review's ``label`` column
``unsure``  no decision: the given label stays, the ``label`` column is empty
==========  ==================================================================
"""

from __future__ import annotations

__all__ = ["DECISIONS"]

#: What a reviewer can decide about one suspect, in the order the page offers them.
DECISIONS: tuple[str, ...] = ("accept", "keep", "relabel", "unsure")
