"""Which of the paper's orderings hold: the verdicts, their lines, and Table 1's markdown."""

from __future__ import annotations

import pytest

from robustloss.report.sweep.orderings import (
    ORDERINGS_NOTE,
    Ordering,
    ordering_lines,
    orderings,
)
from robustloss.report.sweep.table import PAPER_TABLE1, table1_markdown


def _row(loss, *, diff=None, p=None, paper=None, n=3, row="MNIST, ρ=0.2") -> dict:
    return {"row": row, "loss": loss, "f1_diff_mean": diff, "p_value": p, "paired_seeds": n,
            "paper_f1": paper}  # fmt: skip


@pytest.mark.parametrize(
    ("paper_diff", "diff", "p", "verdict"),
    [(0.01, 0.02, 0.01, "holds"), (0.01, 0.02, 0.2, "not significant"),
     (0.01, 0.02, None, "not significant"), (0.01, -0.02, 0.01, "reversed"),
     (-0.01, -0.002, 0.04, "holds"), (0.01, 0.0, None, "reversed")],
)  # fmt: skip
def test_a_claim_holds_only_with_the_papers_sign_at_p_below_alpha(paper_diff, diff, p, verdict):
    o = Ordering(row="r", loss="blurry", paper_diff=paper_diff, diff=diff, p_value=p, seeds=3)
    assert o.verdict == verdict
    assert o.text().endswith(f": {verdict}")


def test_orderings_pair_each_loss_with_the_papers_ce_of_its_row():
    paper = PAPER_TABLE1["mnist", 0.2]
    rows = [
        _row("ce", paper=paper["ce"][0]),
        _row("pz", diff=-0.01, p=0.3, paper=paper["pz"][0]),
        _row("blurry", diff=0.013, p=0.01, paper=paper["blurry"][0]),
        _row("auto", diff=0.02, p=0.01),  # no paper value: no claim
        _row("ce", paper=None, row="own data"),
        _row("blurry", diff=0.1, p=0.01, paper=None, row="own data"),
    ]
    found = orderings(rows)
    assert [(o.loss, o.verdict) for o in found] == [("blurry", "holds"), ("pz", "reversed")]
    assert found[0].paper_diff == pytest.approx(0.9845 - 0.9708)
    (line,) = ordering_lines(rows)
    assert line == (
        "MNIST, ρ=0.2: BL > CE in the paper (+0.0137), here +0.0130 over 3 seed(s), p=0.01: "
        "holds; PZ > CE in the paper (+0.0119), here -0.0100 over 3 seed(s), p=0.3: reversed"
    )


def test_table1_markdown_shows_the_paper_difference_and_the_orderings():
    base = {"dataset": "mnist", "noise": 0.2, "setting": "", "seeds": 3, "f1_std": 0.001,
            "best_in_row": False, "paper_setting": "", "paper_comparable": True,
            "loss_label": ""}  # fmt: skip
    rows = [
        {**base, **_row("ce", paper=0.9708), "f1_mean": 0.97, "paper_diff": 0.97 - 0.9708,
         "paired_seeds": None},
        {**base, **_row("blurry", diff=0.013, p=0.01, paper=0.9845), "f1_mean": 0.983,
         "wins": 3, "paper_diff": 0.983 - 0.9845, "best_in_row": True},
    ]  # fmt: skip
    md = table1_markdown(rows)
    assert "0.9708 (ours -0.0008)" in md and "0.9845 (ours -0.0015)" in md
    assert ORDERINGS_NOTE in md
    assert "- MNIST, ρ=0.2: BL > CE in the paper (+0.0137), here +0.0130" in md
