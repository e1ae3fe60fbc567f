"""``robustloss run`` (corrupt, train, detect, score) and ``robustloss detect`` (your data).

Every flag defaults to "not given" so that ``--preset paper`` can fill in the authors'
settings while explicit flags still win: explicit flag > preset > the command's defaults
(:class:`RunConfig`'s for ``run``; :data:`DETECT_DEFAULTS` and :data:`DETECT_LOSS_DEFAULTS`
over them for ``detect``). Each command's ``--help`` states its own defaults. With
``--json`` stdout holds exactly one JSON object (the summary); progress and messages go to
stderr. Bad settings or data raise ``ValueError``, reported by ``robustloss.cli.main`` as one
line with exit status 2.
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
    FEATURE_DEFAULTS,
    add_executor_flags,
    add_source_flags,
    check_executor_protocol,
    check_source_flags,
    fold_map_for,
    source_text,
)
from robustloss.data import DATASETS
from robustloss.detect import DETECTORS, METHODS, RANK_BY
from robustloss.losses import CONFIG_LOSS_PARAMS, LOSS_PARAM_SPECS
from robustloss.models.images import MODEL_NAMES, SCALINGS
from robustloss.report.run.gallery import write_report
from robustloss.review.page import write_review
from robustloss.run.config import (
    CLI_PROTOCOLS,
    LOSS_CHOICES,
    NOISE_KINDS_CLI,
    PRECISIONS,
    RETIRED_PROTOCOLS,
)
from robustloss.run.pipeline import (
    PRESETS,
    RunConfig,
    RunSummary,
    config_hash,
    detect_features,
    detect_own_data,
    detect_pred_probs,
    plan_lines,
    run_experiment,
)
from robustloss.search.autoselect import AUTO, AUTO_PARAMS, CRITERIA
from robustloss.sweeps.settings import SlurmSettings

__all__ = [
    "DETECT_DEFAULTS",
    "DETECT_LOSS_DEFAULTS",
    "detect_command",
    "register",
    "run_command",
    "settings_from_args",
]

_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))

#: ``robustloss run``'s defaults: :class:`RunConfig`'s.
_RUN_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunConfig)}

#: ``robustloss detect``'s defaults where ``run``'s differ: settings chosen from the data
#: (the loss, its parameter, the delay and the epochs, without ground truth:
#: robustloss.search.autoselect), and out-of-sample probabilities (there is no known
#: corruption to score against, so the safer protocol is worth its cost). An explicit
#: ``--loss`` drops the loss defaults.
DETECT_DEFAULTS: dict[str, Any] = {"protocol": "cv"}
DETECT_LOSS_DEFAULTS: dict[str, Any] = {"loss": AUTO}
#: ``detect``'s loss where no search runs: on embeddings (heads), or when a loss parameter
#: (``--gamma 0.3``) or ``--delay`` is given without ``--loss``.
DETECT_FIXED_LOSS_DEFAULTS: dict[str, Any] = {"loss": "blurry", "gamma": 0.4}

# Loss hyperparameters that take a number (a flag with a value; the rest are on/off).
_VALUED_LOSS_PARAMS = tuple(n for n in CONFIG_LOSS_PARAMS if LOSS_PARAM_SPECS[n].type is not bool)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _one_of(values) -> str:
    return "{" + ",".join(values) + "}"


# ----- flags -------------------------------------------------------------------------------


def _float_or_auto(text: str) -> float | str:
    """A number, or "auto" (the parameter chosen from the data)."""
    if text == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _loss_default(defaults: dict[str, Any]) -> str:
    """``ce``, or ``blurry --gamma 0.4``: the default loss with its default hyperparameters."""
    if defaults["loss"] == AUTO:
        fixed = _loss_default(DETECT_FIXED_LOSS_DEFAULTS)
        return f"auto; on --features, or with a loss parameter but no --loss: {fixed}"
    params = "".join(
        f" {_flag(n)} {defaults[n]}" for n in _VALUED_LOSS_PARAMS if defaults.get(n) is not None
    )
    return f"{defaults['loss']}{params}"


def _add_loss_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    g = p.add_argument_group("loss")
    g.add_argument(
        "--loss",
        metavar=_one_of(LOSS_CHOICES),
        help="loss function; auto: the loss, its parameter, the delay and the epochs chosen "
        "from the given labels alone (a noisy held-out split; at most 2.5x one run; "
        f"--dry-run shows the plan) (default: {_loss_default(defaults)})",
    )
    choosable = {param for param, _ in AUTO_PARAMS.values()}
    for name in CONFIG_LOSS_PARAMS:
        spec = LOSS_PARAM_SPECS[name]
        if spec.type is bool:
            g.add_argument(_flag(name), action=argparse.BooleanOptionalAction, help=spec.help)
        elif name in choosable:
            g.add_argument(_flag(name), type=_float_or_auto, help=spec.help + "; or auto")
        else:
            g.add_argument(_flag(name), type=spec.type, help=spec.help)
    g.add_argument(
        "--auto-criterion",
        choices=CRITERIA,
        help="how --loss auto ranks candidates: holdout-acc (accuracy on the noisy held-out "
        "split), cl-cleaned (the same after removing what Confident Learning flags for "
        "most candidates), holdout-gap (held-out accuracy less how far the accuracy on "
        "the examples trained on runs ahead of it: sees memorising, which in-sample "
        "detection suffers from), canary-f1 (the F1 of the in-sample detection, "
        "estimated from labels flipped on purpose) or canary-f1-structured (the same, the "
        "labels flipped the way the data's own wrong labels are, learnt by a short "
        "cross-entropy probe) (default: canary-f1-structured for --protocol in-sample, "
        "holdout-acc for cv)",
    )
    g.add_argument(
        "--delay", type=int, help=f"cross-entropy warm-up epochs d (default: {defaults['delay']})"
    )


def _add_training_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, help=f"default: {defaults['epochs']}")
    g.add_argument("--batch-size", type=int, help=f"default: {defaults['batch_size']}")
    g.add_argument("--lr", type=float, help="Adam learning rate (default: 1e-3; paper: 1e-4)")
    g.add_argument("--seed", type=int, help=f"seed of the run (default: {defaults['seed']})")
    g.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="a stratified random subset of N training examples (quick runs)",
    )
    g.add_argument("--model", metavar=_one_of(MODEL_NAMES), help=f"default: {defaults['model']}")
    g.add_argument(
        "--scaling",
        metavar=_one_of(SCALINGS),
        help=f"input scaling (default: {defaults['scaling']}; paper: raw 0..255)",
    )
    g.add_argument(
        "--precision",
        metavar=_one_of(PRECISIONS),
        help="auto: bf16 on CPUs with native bf16 (AVX512-BF16/AMX), else fp32, both "
        "channels-last (bf16 elsewhere is ~10x slower: the run warns); bf16/fp16 autocast on "
        "CUDA; "
        f"recorded in config.json (default: {defaults['precision']}; paper preset: amp)",
    )
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last memory format (default: on exactly where --precision auto "
        "resolves on a CPU)",
    )
    g.add_argument(
        "--test-every",
        type=int,
        metavar="K",
        help="also score the clean test split after every K-th epoch (default: after the "
        "last epoch only; 1: the per-epoch curve)",
    )
    g.add_argument(
        "--early-stop",
        action=argparse.BooleanOptionalAction,
        help="label-free early stopping: hold out --holdout of the given labels, stop when "
        "their accuracy has not improved for --patience epochs (--epochs is the most); "
        "no clean label is used",
    )
    g.add_argument(
        "--holdout",
        type=float,
        metavar="FRAC",
        help=f"--early-stop's held-out fraction (default: {defaults['holdout']})",
    )
    g.add_argument(
        "--patience",
        type=int,
        help=f"--early-stop's epochs without improvement (default: {defaults['patience']})",
    )
    g.add_argument(
        "--device", help=f"auto, cpu, cuda, cuda:N or mps (default: {defaults['device']})"
    )
    g.add_argument("--threads", type=int, help="torch threads (default: all cores)")


def _add_detection_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    g = p.add_argument_group("probabilities and detection")
    g.add_argument(
        "--protocol",
        metavar=_one_of(CLI_PROTOCOLS),
        help="in-sample: train on all, predict all; cv: stratified K-fold, fresh model per "
        "fold (out-of-fold, recommended by cleanlab); paper-cv: the authors' protocol, one "
        "model carried across folds (reproduction only, not recommended); "
        f"default: {defaults['protocol']}",
    )
    g.add_argument(
        "--folds", type=int, help=f"folds for cv / paper-cv (default: {defaults['folds']})"
    )
    g.add_argument(
        "--method",
        metavar=_one_of(METHODS),
        help=f"cleanlab filter_by (default: {defaults['method']}, the paper's)",
    )
    g.add_argument("--rank-by", metavar=_one_of(RANK_BY), help=f"default: {defaults['rank_by']}")
    g.add_argument(
        "--detector",
        choices=DETECTORS,
        help="who flags the suspects: cl (Confident Learning), aum (Area Under the Margin, "
        "threshold samples: one more training), aum-count (AUM, as many as CL estimates), "
        "margin / self-confidence (cleanlab's low_normalized_margin / low_self_confidence), "
        "knn (neighbours in the penultimate embeddings), vote (2 of cl, aum-count, knn); "
        f"default: {defaults['detector']}",
    )
    g.add_argument(
        "--compare-detectors",
        metavar="NAMES",
        help="also score these detectors on the same trained model ('all' or "
        "comma-separated names): the summary's `detectors`, with each one's cost",
    )
    g.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="paper: every setting of the authors' code; explicit flags override",
    )


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default: runs/<command>-<data>-<loss>-<config hash>)",
    )
    g.add_argument(
        "--json", action="store_true", help="print only the summary as one JSON object on stdout"
    )
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="load the data, print what would be trained (with --loss auto: the search's "
        "candidates, rungs and cost against one fixed run) and stop",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run folder that holds another (or the same) run",
    )


def _add_run_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    _add_loss_flags(p, defaults)
    _add_training_flags(p, defaults)
    _add_detection_flags(p, defaults)
    _add_output_flags(p)


def _add_data_and_noise_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    g = p.add_argument_group("data and noise")
    g.add_argument("--dataset", metavar=_one_of(DATASETS), help=f"default: {defaults['dataset']}")
    g.add_argument(
        "--data",
        metavar="PATH",
        help="instead of --dataset: an .npz or an image folder (one subfolder "
        "per class); its labels are taken as clean",
    )
    g.add_argument(
        "--image-size", type=int, metavar="PX", help="image folders: resize every image to PX x PX"
    )
    g.add_argument(
        "--noise",
        type=float,
        metavar="RATE",
        help=f"fraction of labels to corrupt, in [0, 1] (default: {defaults['noise']})",
    )
    g.add_argument(
        "--noise-kind",
        metavar=_one_of(NOISE_KINDS_CLI),
        help="symmetric: exactly RATE*N labels; bernoulli: each with probability "
        f"RATE (the authors'); pair: k -> k+1 (default: {defaults['noise_kind']})",
    )
    g.add_argument("--noise-seed", type=int, help="seed of the corruption (default: --seed)")


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
    _add_data_and_noise_flags(run, _RUN_DEFAULTS)
    _add_run_flags(run, _RUN_DEFAULTS)
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
            "train a linear or MLP head instead (batches of 1024 at lr 1e-2, Blurry Loss "
            "gamma 0.4); given "
            "probabilities "
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
    _add_run_flags(detect, _RUN_DEFAULTS | DETECT_DEFAULTS | DETECT_LOSS_DEFAULTS)
    add_executor_flags(detect)
    detect.set_defaults(func=detect_command)


# ----- settings ----------------------------------------------------------------------------


def settings_from_args(
    args: argparse.Namespace, *, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """RunConfig settings: ``defaults`` < preset < explicit flags (those not None)."""
    settings: dict[str, Any] = dict(defaults or {})
    preset = getattr(args, "preset", None)
    if preset is not None:
        settings.update(PRESETS[preset])
    explicit = {k: v for k, v in vars(args).items() if k in _RUN_FIELDS and v is not None}
    if explicit.get("protocol") in RETIRED_PROTOCOLS:
        raise ValueError(
            f"--protocol {explicit['protocol']} {RETIRED_PROTOCOLS[explicit['protocol']]}"
        )
    if "data" in explicit and "dataset" not in explicit:
        settings["dataset"] = None
    settings.update(explicit)
    return settings


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
        f" {_flag(k)} {cfg[k]}" for k in _VALUED_LOSS_PARAMS if cfg.get(k) is not None
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


def _detect_loss_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """auto on images; Blurry gamma 0.4 on embeddings, or when a loss parameter or a delay
    is given without --loss (``--gamma 0.3``, ``--gamma auto``: the Blurry Loss's)."""
    named = any(getattr(args, k, None) is not None for k in (*CONFIG_LOSS_PARAMS, "delay"))
    if args.features is not None or named:
        return dict(DETECT_FIXED_LOSS_DEFAULTS)
    return dict(DETECT_LOSS_DEFAULTS)


def detect_command(args: argparse.Namespace) -> int:
    check_source_flags(args)
    if args.pred_probs is not None:  # trains nothing: no training defaults
        defaults: dict[str, Any] = {}
    else:
        defaults = DETECT_DEFAULTS | (_detect_loss_defaults(args) if args.loss is None else {})
        defaults |= FEATURE_DEFAULTS if args.features is not None else {}
    cfg = RunConfig.from_dict(settings_from_args(args, defaults=defaults) | {"noise": 0.0})
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
