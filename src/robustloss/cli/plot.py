"""``robustloss plot-losses``: draw the paper's Figures 2-4 (and the gradient-weight figure)."""

from __future__ import annotations

import argparse

# Module-level since building the parser imports every sub-command module and ``run``
# already brings in torch and matplotlib (the report); this adds about 5 ms.
from robustloss.report.sweep.loss_curves import plot_loss_curves


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plot-losses`` sub-command."""
    parser = subparsers.add_parser(
        "plot-losses",
        help="draw the paper's Figures 2-4 (loss versus p_t) from the library's losses",
        description=(
            "Draw CE vs focal loss (Figure 2), Blurry loss (Figure 3), Piecewise-zero loss "
            "(Figure 4) and each loss's per-sample gradient weight relative to cross entropy, "
            "as PNG files computed with robustloss.losses. Prints the paths written."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--dpi", type=int, default=150, metavar="N", help="resolution (150)")
    parser.set_defaults(func=_plot_losses)


def _plot_losses(args: argparse.Namespace) -> int:
    for path in plot_loss_curves(args.out, dpi=args.dpi):
        print(path)
    return 0
