"""``robustloss overfit-point``: the paper's precursor experiment on a clean dataset.

Trains cross entropy on the clean training set and prints training and test loss per
epoch, the first epoch whose test loss exceeds the minimum of the epochs before it, and the
epoch where training loss crosses below test loss (the paper's measure; it found about 10
and trained every model for 10 epochs). With ``--json`` stdout
holds exactly one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# Module-level: building the parser (robustloss.cli) imports every sub-command module, and
# the others import torch, the data layer and training already, so nothing is saved by
# deferring these to the command.
from robustloss.data import DATASETS
from robustloss.run.overfit import find_overfit_point
from robustloss.train import PRECISIONS

__all__ = ["overfit_point_command", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "overfit-point",
        help="when does cross entropy start to overfit a clean dataset (paper's precursor)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--epochs", type=int, default=15, help="epochs to train (default: 15)")
    p.add_argument(
        "--subset", type=int, metavar="N", help="random N training (and at most N test) images"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="default: auto (fp32 unless the CPU has native bf16; see robustloss run --help)",
    )
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=overfit_point_command)


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['dataset']}: {result['n_train']} training / {result['n_test']} test images, "
        f"cross entropy, {result['epochs']} epochs, seed {result['config']['seed']}, "
        f"{result['config']['precision']}",
        f"{'epoch':>5}  {'train loss':>10}  {'test loss':>10}  {'test acc':>8}",
    ]
    for i, (tr, te, acc) in enumerate(
        zip(result["train_loss"], result["test_loss"], result["test_acc"], strict=True)
    ):
        marks = [
            name
            for name, key in (("first rise", "overfit_epoch"), ("crossover", "crossover_epoch"))
            if i + 1 == result[key]
        ]
        mark = f"  <- {', '.join(marks)}" if marks else ""
        lines.append(f"{i + 1:>5}  {tr:>10.4f}  {te:>10.4f}  {acc:>8.4f}{mark}")
    best = result["best_epoch"]
    rise, cross = result["overfit_epoch"], result["crossover_epoch"]
    lines.append(
        (
            f"test loss first exceeds its running minimum at epoch {rise}"
            if rise
            else "test loss never rose above its running minimum"
        )
        + f"; lowest test loss at epoch {best} ({result['test_loss'][best - 1]:.4f}); "
        + (
            f"training loss crosses below test loss at epoch {cross}"
            if cross
            else "training and test loss do not cross"
        )
        + f"; {result['seconds']:.0f} s"
    )
    return "\n".join(lines)


def overfit_point_command(args: argparse.Namespace) -> int:
    result = find_overfit_point(
        args.dataset,
        epochs=args.epochs,
        subset=args.subset,
        seed=args.seed,
        precision=args.precision,
        threads=args.threads,
        quiet=args.quiet,
    )
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_table(result))
    return 0
