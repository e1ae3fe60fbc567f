"""The one error every data problem raises, and how its messages list the bad rows.

:class:`DataError` is a ``ValueError``: callers that catch bad input in general catch it
too. Both the built-in datasets (:mod:`robustloss.data.builtin`) and a user's own data
(:mod:`robustloss.data.user`) raise it; it lives here so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MAX_LISTED_ROWS", "DataError", "listed_rows"]

#: How many bad rows an error message lists.
MAX_LISTED_ROWS = 10


class DataError(ValueError):
    """A data file or data source is missing, malformed, or does not verify."""


def listed_rows(rows: Sequence[int] | np.ndarray, total: int) -> str:
    """The first :data:`MAX_LISTED_ROWS` of ``rows``, then how many of ``total`` are left:
    ``"0, 5, 10 and 10 more"``."""
    shown = ", ".join(str(int(r)) for r in rows[:MAX_LISTED_ROWS])
    more = total - min(total, MAX_LISTED_ROWS)
    return shown + (f" and {more} more" if more > 0 else "")
