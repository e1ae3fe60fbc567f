"""A setting against a baseline over the seeds both ran: Table 1's paired comparison.

The trials of one row share their seeds, and with them the corruption (``noise_seed``,
which follows the seed) and the initialisation. Each cell is compared with its row's
cross-entropy cell over the n seeds both ran: with ``d_i = F1_i(loss) - F1_i(CE)``,

- ``wins = #{i : d_i > 0}`` (shown ``wins/n``; a tie is no win);
- ``p_value``: the two-sided paired t-test (:func:`scipy.stats.ttest_rel`),
  ``t = mean(d) / (std(d, ddof=1) / sqrt(n))`` with n - 1 degrees of freedom; None with
  fewer than 2 pairs or when every ``d_i`` is the same (zero variance: no t).

The p-values are per cell, not corrected for the number of cells or settings, and the
robust cells' settings were picked on the same runs (:mod:`robustloss.report.sweep.table`):
read them as a guide to which differences are seed noise, not as a test of a hypothesis
fixed in advance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from robustloss.report.sweep.grouping import Setting

__all__ = ["PAIRED_NOTE", "Paired", "paired_vs"]

#: How to read the paired comparison in a Table 1 cell.
PAIRED_NOTE = (
    "In parentheses, against the row's CE cell over the seeds both ran (same seed, same "
    "corruption): wins/n = on how many of the n seeds this loss's F1 beats CE's; p = "
    "two-sided paired t-test over those seeds (n/a with fewer than 2 seeds or identical "
    "differences), uncorrected for the number of cells."
)

#: Paired differences this close to each other count as identical (zero variance): F1 is in
#: [0, 1], and a difference computed twice may differ in its last bits.
_ZERO_SPREAD = 1e-12


@dataclass(frozen=True)
class Paired:
    """A setting against a baseline over the seeds both ran (``d_i`` = its value minus the
    baseline's, same seed and corruption)."""

    n: int  # paired seeds
    wins: int  # #{i : d_i > 0}
    mean_diff: float | None  # mean(d), None without pairs
    p_value: float | None  # two-sided paired t-test; None: n < 2, or every d_i the same

    def text(self) -> str:
        """``3/3, p=0.01`` (``p n/a`` without a test)."""
        if self.n == 0:
            return "no seeds paired with CE"
        p = "p n/a" if self.p_value is None else f"p={self.p_value:.2g}"
        return f"{self.wins}/{self.n}, {p}"


def paired_vs(setting: Setting, baseline: Setting, *, metric: str = "f1") -> Paired:
    """``setting`` against ``baseline`` over their common ``(seed, noise_seed)`` pairs.

    With ``d_i = x_i - y_i`` over the n common seeds: ``wins = #{i : d_i > 0}`` and the
    two-sided paired t-test's p-value (:func:`scipy.stats.ttest_rel`; n - 1 degrees of
    freedom), None with n < 2 or when the ``d_i`` spread by at most 1e-12 (no variance).
    Seeds only one of them ran, or with a non-finite value, are left out.
    """
    x, y = setting.per_seed(metric), baseline.per_seed(metric)
    common = sorted(x.keys() & y.keys())
    if not common:
        return Paired(n=0, wins=0, mean_diff=None, p_value=None)
    a = np.array([x[k] for k in common])  # (n,)
    b = np.array([y[k] for k in common])  # (n,)
    d = a - b
    p_value = None
    if d.size >= 2 and float(np.ptp(d)) > _ZERO_SPREAD:
        p_value = float(stats.ttest_rel(a, b).pvalue)
    return Paired(n=int(d.size), wins=int((d > 0).sum()), mean_diff=float(d.mean()),
                  p_value=p_value)  # fmt: skip
