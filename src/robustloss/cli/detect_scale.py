"""``robustloss detect`` on embeddings and given probabilities, and where its folds run.

The flags ``robustloss detect`` adds to the image case (:mod:`robustloss.cli.run` registers
them): ``--features F --labels L [--labels-column NAME] [--head linear|mlp]`` (heads on
embeddings), ``--pred-probs P --labels L`` (no training), and the sweep's executor flags
``--executor local|dask|slurm``, ``--address``, ``--workers`` and the SLURM options (the
same :class:`~robustloss.sweeps.settings.SlurmSettings` flags as ``robustloss
sweep``), which send the K folds of a cv run to Dask workers as K tasks
(:mod:`robustloss.probs.folds`). On ``--features`` workers read the feature file
themselves (give a path every worker sees); an image run's images and labels are sent to
the cluster once. Image runs of the other protocols
(:data:`~robustloss.probs.protocols.SERIAL_PROTOCOLS`: in-sample, paper-cv) refuse
``--executor``; a ``--features`` in-sample head is one task. The ``--loss
auto`` search before the folds trains in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import Any

from robustloss.cli.cluster_flags import (
    add_cluster_flags,
    add_slurm_flags,
    check_counts,
    slurm_flags_given,
)
from robustloss.models.heads import HEAD_NAMES, MLP_DROPOUT, MLP_HIDDEN
from robustloss.probs.folds import FoldMap, dask_fold_map
from robustloss.probs.protocols import SERIAL_PROTOCOLS
from robustloss.run.config import RunConfig
from robustloss.sweeps.executors import close_client, make_client, shared_rng_warning
from robustloss.sweeps.settings import SlurmSettings

__all__ = [
    "add_executor_flags",
    "add_source_flags",
    "check_executor_protocol",
    "check_source_flags",
    "fold_map_for",
    "source_text",
]

#: Flags that mean training, refused with ``--pred-probs`` (it trains nothing).
_TRAINING_FLAGS = ("loss", "protocol", "folds", "epochs", "batch_size", "lr", "delay", "head",
                   "model", "executor")  # fmt: skip


def add_source_flags(p: argparse.ArgumentParser) -> None:
    """``--data`` | ``--features`` | ``--pred-probs`` (one of them), ``--labels`` ..."""
    g = p.add_argument_group("your data (one of --data, --features, --pred-probs)")
    source = g.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", metavar="PATH",
        help="an image folder (one subfolder per class), an .npz, or a CSV manifest "
        "(path,label columns)",
    )  # fmt: skip
    source.add_argument(
        "--features", metavar="F",
        help="embeddings: an .npy (N, D) float16/32, read in blocks (never loaded whole), or "
        "an .npz with 'features' (and 'labels'); trains heads on them",
    )  # fmt: skip
    source.add_argument(
        "--pred-probs", metavar="P",
        help="predicted probabilities you already have: an .npy (N, K), or an .npz with "
        "'pred_probs' and 'class_names'; no training",
    )  # fmt: skip
    g.add_argument(
        "--labels", metavar="L",
        help="labels of --features / --pred-probs: an .npy of class indices, or a text/CSV "
        "file of class names (one per row; a CSV by its 'label' column)",
    )  # fmt: skip
    g.add_argument("--labels-column", metavar="NAME", help="the CSV column of --labels")
    g.add_argument(
        "--no-report", dest="report", action="store_false",
        help="write no report.html / review.html (for millions of rows: detections.csv, "
        "summary.json and pred_probs.npy are the output)",
    )  # fmt: skip
    g.add_argument(
        "--head", metavar="{" + ",".join(HEAD_NAMES) + "}",
        help=f"--features: linear (default) or mlp (one hidden layer "
        f"of {MLP_HIDDEN}, dropout {MLP_DROPOUT}); inputs standardized",
    )  # fmt: skip


def add_executor_flags(p: argparse.ArgumentParser) -> None:
    """The sweep's executor flags, for the folds of a cv run."""
    g = p.add_argument_group("where the cv folds run (default: this process)")
    add_cluster_flags(g, executor_help="local: a Dask cluster on this machine; dask: an "
                       "existing cluster at --address; slurm: one sbatch job per worker. Each "
                       "fold of --protocol cv is one task (the --loss auto search before "
                       "them runs in this process). --threads: each fold's torch threads "
                       "(unset: 1 for local, --cores for slurm, torch's default for dask: 1 "
                       "under a dask worker's nanny)")
    add_slurm_flags(p)


def check_source_flags(args: argparse.Namespace) -> None:
    """Flags that do not go with the chosen source, as one ValueError."""
    if args.pred_probs is not None:
        given = [f"--{k.replace('_', '-')}" for k in _TRAINING_FLAGS
                 if getattr(args, k, None) is not None]  # fmt: skip
        if given:
            raise ValueError(
                f"--pred-probs trains nothing, so {', '.join(given)} do(es) not apply"
            )
    if args.executor == "dask" and not args.address:
        raise ValueError("--executor dask needs --address tcp://HOST:PORT of a scheduler")
    check_counts(args, ("workers", "cores", "max_jobs"))


def check_executor_protocol(args: argparse.Namespace, cfg: RunConfig) -> None:
    """``--executor`` with an image run whose protocol has no independent folds, as a
    ValueError. On the resolved ``cfg``, before any cluster starts: ``--preset paper`` sets
    ``paper-cv`` without a ``--protocol`` flag."""
    protocol = cfg.protocol
    if args.executor is None or cfg.features is not None or protocol not in SERIAL_PROTOCOLS:
        return
    origin = f" (from --preset {args.preset})" if args.protocol is None and args.preset else ""
    raise ValueError(
        f"--executor sends the folds of --protocol cv to Dask workers, but --protocol "
        f"{protocol}{origin} {SERIAL_PROTOCOLS[protocol]}: use --protocol cv, or drop "
        "--executor"
    )


def source_text(cfg: dict[str, Any]) -> str:
    """The data a config names, for one line of output."""
    if cfg.get("features") or cfg.get("pred_probs"):
        return f"{cfg.get('features') or cfg.get('pred_probs')} (labels {cfg.get('labels')})"
    return str(cfg.get("dataset") or cfg.get("data"))


@contextlib.contextmanager
def fold_map_for(args: argparse.Namespace, cfg: RunConfig) -> Iterator[FoldMap | None]:
    """None (folds in this process) or, with ``--executor``, one that maps the folds over a
    Dask client (closed on exit)."""
    if args.executor is None:
        yield None
        return
    client = make_client(
        args.executor,
        address=args.address,
        n_workers=args.workers,
        threads=cfg.threads or 1,
        slurm=dataclasses.replace(SlurmSettings(), **slurm_flags_given(args)),
    )
    try:
        warning = shared_rng_warning(client)
        if warning:
            print(f"[robustloss] warning: {warning}", file=sys.stderr)
        yield dask_fold_map(client)
    finally:
        close_client(client)
