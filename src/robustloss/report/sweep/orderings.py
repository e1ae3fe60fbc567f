"""Which of the paper's orderings hold: per Table 1 row, each loss against cross entropy.

The paper's Table 1 orders each row's losses by one run per cell. For every loss the paper
has beside CE in a row, its claim is the sign of ``F1(loss) - F1(CE)`` in the paper; ours
is the mean paired difference over the seeds both ran (:mod:`robustloss.report.sweep.paired`)
with its two-sided paired t-test. A claim

- *holds* where our mean difference has the paper's sign and p < :data:`ALPHA`;
- is *not significant* where the sign agrees but p >= ALPHA (or there is no test);
- is *reversed* where our mean difference has the other sign (or is zero).

With 3 seeds the t-test has 2 degrees of freedom and little power: a difference can be
consistent on every seed and still miss p < 0.05, so "not significant" is not "false".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from robustloss.report.sweep.grouping import LOSS_LABELS, loss_order

__all__ = ["ALPHA", "ORDERINGS_NOTE", "Ordering", "ordering_lines", "orderings"]

#: The significance level a claim must reach to hold.
ALPHA = 0.05

ORDERINGS_NOTE = (
    f"Orderings: the paper's sign of F1(loss) - F1(CE) per row against our mean paired "
    f"difference over the seeds; holds = same sign and paired t-test p < {ALPHA:g}; with "
    "n seeds the test has n - 1 degrees of freedom (2 at 3 seeds) and little power, so "
    "'not significant' is not 'false'."
)


@dataclasses.dataclass(frozen=True)
class Ordering:
    """One loss against CE in one row: the paper's difference and ours."""

    row: str
    loss: str
    paper_diff: float  # F1(loss) - F1(CE) in the paper's Table 1
    diff: float  # our mean paired difference over the seeds
    p_value: float | None  # two-sided paired t-test, None without one
    seeds: int  # paired seeds

    @property
    def verdict(self) -> str:
        """``holds``, ``not significant`` or ``reversed`` (module docstring)."""
        if self.paper_diff * self.diff <= 0:
            return "reversed"
        if self.p_value is not None and self.p_value < ALPHA:
            return "holds"
        return "not significant"

    def text(self) -> str:
        name = LOSS_LABELS.get(self.loss, self.loss)
        sign = ">" if self.paper_diff > 0 else "<"
        p = "no test" if self.p_value is None else f"p={self.p_value:.2g}"
        return (
            f"{name} {sign} CE in the paper ({self.paper_diff:+.4f}), here {self.diff:+.4f} "
            f"over {self.seeds} seed(s), {p}: {self.verdict}"
        )


def orderings(rows: Sequence[dict[str, Any]]) -> list[Ordering]:
    """The orderings of Table 1's long rows (:func:`robustloss.report.sweep.table.table1_rows`):
    one per row and loss with a paper value, a paper CE value and a paired comparison."""
    paper_ce = {r["row"]: r["paper_f1"] for r in rows if r["loss"] == "ce"}
    out = []
    for r in sorted(rows, key=lambda r: loss_order(r["loss"])):
        ce = paper_ce.get(r["row"])
        if r["loss"] == "ce" or ce is None or r["paper_f1"] is None:
            continue
        if r.get("f1_diff_mean") is None or r["paper_f1"] == ce:
            continue
        out.append(Ordering(row=r["row"], loss=r["loss"], paper_diff=r["paper_f1"] - ce,
                            diff=r["f1_diff_mean"], p_value=r["p_value"],
                            seeds=r["paired_seeds"]))  # fmt: skip
    return out


def ordering_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per Table 1 row: its orderings, in the paper's loss order."""
    by_row: dict[str, list[Ordering]] = {}
    for o in orderings(rows):
        by_row.setdefault(o.row, []).append(o)
    row_order = list(dict.fromkeys(r["row"] for r in rows))
    return [f"{row}: " + "; ".join(o.text() for o in by_row[row])
            for row in row_order if row in by_row]  # fmt: skip
