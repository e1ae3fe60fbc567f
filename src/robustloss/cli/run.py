"""``robustloss run`` (corrupt, train, detect, score) and ``robustloss detect`` (your data).

Their flags and how they become settings are :mod:`robustloss.cli.run_args`'s: explicit
flag > preset > the command's defaults (:class:`RunConfig`'s for ``run``; for ``detect``
those of :mod:`robustloss.run.defaults`, which the library's ``detect_*`` use too). Each
command's ``--help`` states its own defaults. With ``--json`` stdout holds exactly one JSON
object (the summary); progress and messages go to stderr. Bad settings or data raise
``ValueError``, reported by ``robustloss.cli.main`` as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robustloss._io import json_text
from robustloss.cli.detect_scale import (
    add_executor_flags,
    add_source_flags,
    check_executor_protocol,
    check_source_flags,
    fold_map_for,
    source_text,
)
from robustloss.cli.run_args import (
    DETECT_HELP_DEFAULTS,
    RUN_DEFAULTS,
    VALUED_LOSS_PARAMS,
    add_data_and_noise_flags,
    add_run_flags,
    detect_config,
    flag,
    settings_from_args,
)
from robustloss.losses import CONFIG_LOSS_PARAMS
from robustloss.report.run.gallery import write_report
from robustloss.review.page import write_review
from robustloss.run.defaults import DETECT_FIXED_LOSS_DEFAULTS, FEATURE_DEFAULTS
from robustloss.run.pipeline import (
    RunConfig,
    RunSummary,
    config_hash,
    detect_features,
    detect_own_data,
    detect_pred_probs,
    plan_lines,
    run_experiment,
)
from robustloss.sweeps.settings import SlurmSettings

__all__ = [
    "detect_command",
    "register",
    "run_command",
    "settings_from_args",  # re-exported from robustloss.cli.run_args
]

_FEATURES_TEXT = (
    f"batches of {FEATURE_DEFAULTS['batch_size']} at lr {FEATURE_DEFAULTS['lr']:g}, Blurry "
    f"Loss gamma {DETECT_FIXED_LOSS_DEFAULTS['gamma']}"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="corrupt a dataset's labels, train, find the wrong labels, score P/R/F1",
        description=(
            "Corrupt a fraction of a dataset's labels, train with a (robust) loss, find the "
            "wrong labels with Confident Learning and score them against the known "
            "corruptions. Writes a run folder with report.html and a gallery of suspects."
        ),
    )
    add_data_and_noise_flags(run, RUN_DEFAULTS)
    add_run_flags(run, RUN_DEFAULTS)
    run.set_defaults(func=run_command)

    detect = subparsers.add_parser(
        "detect",
        help="find probably-wrong labels in your own data (images, embeddings or "
        "predicted probabilities)",
        description=(
            "Train on your data as labelled, then rank the examples whose label is probably "
            "wrong (Confident Learning). Writes detections.csv (file paths, class names, "
            "most suspect first), a gallery, report.html and the estimated number of wrong "
            "labels per class. Defaults here: --loss auto (the loss, its parameter, the delay "
            "and the epochs chosen from your labels alone, on a held-out split) and protocol "
            "cv (out-of-sample probabilities). Embeddings (--features F --labels L) "
            f"train a linear or MLP head instead ({_FEATURES_TEXT}); given probabilities "
            "(--pred-probs P --labels L) train nothing."
        ),
    )
    add_source_flags(detect)
    detect.add_argument(
        "--image-size",
        type=int,
        metavar="PX",
        help="resize every image to PX x PX (default: the most common size)",
    )
    add_run_flags(detect, DETECT_HELP_DEFAULTS)
    add_executor_flags(detect)
    detect.set_defaults(func=detect_command)


# ----- settings ----------------------------------------------------------------------------


def _default_out(command: str, cfg: RunConfig) -> Path:
    source = cfg.dataset or Path(cfg.data or cfg.features or cfg.pred_probs).stem or "data"
    return Path("runs") / f"{command}-{source}-{cfg.loss}-{config_hash(cfg)[:10]}"


def _finalize(run_dir: Path) -> None:
    write_review(run_dir)  # first: the report's galleries read its sprite sheets
    write_report(run_dir)


def _in_run_folder(
    args: argparse.Namespace,
    command: str,
    cfg: RunConfig,
    execute: Callable[..., RunSummary],
) -> RunSummary:
    """``execute(out, quiet=, overwrite=, finalize=)`` into ``--out`` (or the default)."""
    out = Path(args.out) if args.out else _default_out(command, cfg)
    # With --json nothing but the summary may reach stdout: send stray prints to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect:
        return execute(out, quiet=args.quiet, overwrite=args.overwrite, finalize=_finalize)


# ----- output ------------------------------------------------------------------------------


def _paper_hint(summary: RunSummary) -> str:
    cfg = summary.config
    source = f"--dataset {cfg['dataset']}" if cfg.get("dataset") else f"--data {cfg['data']}"
    loss = f"--loss {cfg['loss']}" + "".join(
        f" {flag(k)} {cfg[k]}" for k in VALUED_LOSS_PARAMS if cfg.get(k) is not None
    )
    return (
        "Full setting, all training examples:\n"
        f"  clean protocol (what Table 1 is consistent with, ~5x one run):\n"
        f"    robustloss run {source} --noise {cfg['noise']} {loss} --protocol cv\n"
        f"  the authors' exact code settings (carried-over folds; reproduces their protocol, "
        f"does not reach Table 1):\n"
        f"    robustloss run --preset paper {source} --noise {cfg['noise']} {loss}"
    )


def _loss_text(cfg: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={cfg[k]}" for k in CONFIG_LOSS_PARAMS if cfg.get(k) is not None)
    return cfg["loss"] + (f" ({params})" if params else "")


def _print_run(summary: RunSummary) -> None:
    cfg = summary.config
    print(
        f"robustloss run: {cfg.get('dataset') or cfg.get('data')}, {summary.n} examples, "
        f"{cfg['noise']:.0%} {cfg['noise_kind']} noise, loss {_loss_text(cfg)}, "
        f"protocol {cfg['protocol']}"
    )
    print(f"  flagged {summary.flagged}  correct {summary.correct}  corrupted {summary.corrupted}")
    print(f"  precision {summary.precision:.4f}  recall {summary.recall:.4f}  F1 {summary.f1:.4f}")


def _print_detect(summary: RunSummary) -> None:
    cfg = summary.config
    print(
        f"robustloss detect: {source_text(cfg)}, {summary.n} examples, "
        + (f"loss {_loss_text(cfg)}, " if summary.protocol != "pred-probs" else "")
        + f"protocol {summary.protocol}"
    )
    print(
        f"  flagged {summary.flagged} suspects; estimated wrong labels {summary.estimated_errors}"
    )
    per_class = summary.estimated_errors_per_class
    print("  estimated per class: " + ", ".join(f"{k}: {v}" for k, v in per_class.items()))


def _print_footer(summary: RunSummary) -> None:
    if summary.test_acc is not None:
        print(f"  test accuracy {summary.test_acc:.4f} (clean test split)")
    if summary.config["protocol"] == "paper-cv":
        print(
            "  note: paper-cv reproduces the authors' protocol (one model carried across "
            "folds); it is not recommended"
        )
    if summary.out_dir:
        print(f"  run folder {summary.out_dir}: report.html, review.html, detections.csv")
    print(f"  {summary.seconds:.0f} s")


def _report(
    args: argparse.Namespace, summary: RunSummary, headline: Callable[[RunSummary], None]
) -> None:
    if args.json:
        sys.stdout.write(json_text(summary.to_dict()) + "\n")
        sys.stdout.flush()
        return
    headline(summary)
    _print_footer(summary)


# ----- the commands ------------------------------------------------------------------------


def _dry_run(cfg: RunConfig, command: str) -> int:
    for line in plan_lines(cfg, corrupt=command == "run"):
        print(line)
    return 0


def run_command(args: argparse.Namespace) -> int:
    cfg = RunConfig.from_dict(settings_from_args(args))
    if args.dry_run:
        return _dry_run(cfg, "run")
    summary = _in_run_folder(args, "run", cfg, lambda out, **kw: run_experiment(cfg, out, **kw))
    _report(args, summary, _print_run)
    full = cfg.subset is None and cfg.protocol != "in-sample"
    if not full and not (args.json and args.quiet):
        # Part of the answer on stdout; with --json (stdout is only JSON) on stderr.
        print(_paper_hint(summary), file=sys.stderr if args.json else sys.stdout)
    return 0


def _executor_threads(cfg: RunConfig, args: argparse.Namespace) -> RunConfig:
    """``cfg`` with each fold's torch threads set to a SLURM job's ``--cores`` when
    ``--threads`` is unset.

    Dask's nanny starts every worker with ``OMP_NUM_THREADS=1``, so a fold trains on 1
    thread by default: right for ``--executor local`` (one worker per core) and left alone
    there (the in-process ``--loss auto`` search keeps this machine's default), but a SLURM
    job that books ``--cores`` would use one of them. ``dask`` workers' machines are
    unknown here (give ``--threads``).
    """
    if args.executor != "slurm" or cfg.threads is not None:
        return cfg
    cores = args.cores if args.cores is not None else SlurmSettings().cores
    return dataclasses.replace(cfg, threads=cores)


def detect_command(args: argparse.Namespace) -> int:
    check_source_flags(args)
    cfg = detect_config(args)  # detect's defaults, as detect_own_data's
    check_executor_protocol(args, cfg)  # on the resolved protocol (a preset's too)
    cfg = _executor_threads(cfg, args)
    if args.dry_run:
        return _dry_run(cfg, "detect")

    def execute(out, **kw):
        if not args.report:
            kw["finalize"] = None
        if cfg.pred_probs is not None:
            return detect_pred_probs(cfg.pred_probs, cfg.labels, cfg, out,
                                     labels_column=cfg.labels_column, **kw)  # fmt: skip
        with fold_map_for(args, cfg) as fold_map:
            if cfg.features is not None:
                return detect_features(cfg.features, cfg.labels, cfg, out, fold_map=fold_map,
                                       labels_column=cfg.labels_column, **kw)  # fmt: skip
            return detect_own_data(cfg.data, cfg, out, fold_map=fold_map, **kw)

    summary = _in_run_folder(args, "detect", cfg, execute)
    _report(args, summary, _print_detect)
    return 0
