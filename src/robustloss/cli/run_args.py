"""The flags of ``robustloss run`` and ``robustloss detect``, and the settings they give.

Every flag defaults to "not given" (None) so that ``--preset paper`` can fill in the
authors' settings while explicit flags still win: explicit flag > preset > the command's
defaults (:class:`~robustloss.run.config.RunConfig`'s for ``run``; detect's,
:mod:`robustloss.run.defaults`, for ``detect``). The help of each flag states the
command's own default, from the same table the settings are built with.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from robustloss.data import DATASETS
from robustloss.detect import DETECTORS, METHODS, RANK_BY
from robustloss.losses import CONFIG_LOSS_PARAMS, LOSS_PARAM_SPECS
from robustloss.models.images import MODEL_NAMES, SCALINGS
from robustloss.run.config import (
    DATA_SOURCE_FIELDS,
    LOSS_CHOICES,
    NOISE_KINDS_CLI,
    PRECISIONS,
    PROTOCOLS,
    RunConfig,
)
from robustloss.run.defaults import DETECT_DEFAULTS, DETECT_FIXED_LOSS_DEFAULTS, PRESETS
from robustloss.search.criteria import AUTO, AUTO_PARAMS, CRITERIA

__all__ = [
    "DETECT_HELP_DEFAULTS",
    "RUN_DEFAULTS",
    "RUN_FIELDS",
    "VALUED_LOSS_PARAMS",
    "add_data_and_noise_flags",
    "add_run_flags",
    "detect_config",
    "explicit_settings",
    "flag",
    "settings_from_args",
]

RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))

#: ``robustloss run``'s defaults: :class:`RunConfig`'s.
RUN_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(RunConfig)}

#: The defaults ``robustloss detect``'s help states: detect's over run's (on images).
DETECT_HELP_DEFAULTS: dict[str, Any] = RUN_DEFAULTS | DETECT_DEFAULTS

#: Loss hyperparameters that take a number (a flag with a value; the rest are on/off).
VALUED_LOSS_PARAMS = tuple(n for n in CONFIG_LOSS_PARAMS if LOSS_PARAM_SPECS[n].type is not bool)


def flag(name: str) -> str:
    """The flag of a setting: ``noise_kind`` is ``--noise-kind``."""
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
        f" {flag(n)} {defaults[n]}" for n in VALUED_LOSS_PARAMS if defaults.get(n) is not None
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
            g.add_argument(flag(name), action=argparse.BooleanOptionalAction, help=spec.help)
        elif name in choosable:
            g.add_argument(flag(name), type=_float_or_auto, help=spec.help + "; or auto")
        else:
            g.add_argument(flag(name), type=spec.type, help=spec.help)
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
        metavar=_one_of(PROTOCOLS),
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


def add_run_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    _add_loss_flags(p, defaults)
    _add_training_flags(p, defaults)
    _add_detection_flags(p, defaults)
    _add_output_flags(p)


def add_data_and_noise_flags(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
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


# ----- settings ----------------------------------------------------------------------------


def explicit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig settings given as flags (those not None)."""
    return {k: v for k, v in vars(args).items() if k in RUN_FIELDS and v is not None}


def settings_from_args(
    args: argparse.Namespace, *, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """RunConfig settings: ``defaults`` < preset < explicit flags (those not None)."""
    settings: dict[str, Any] = dict(defaults or {})
    preset = getattr(args, "preset", None)
    if preset is not None:
        settings.update(PRESETS[preset])
    explicit = explicit_settings(args)
    if "data" in explicit and "dataset" not in explicit:
        settings["dataset"] = None
    settings.update(explicit)
    return settings


def detect_config(args: argparse.Namespace) -> RunConfig:
    """``detect``'s config from its flags: :meth:`RunConfig.for_detect`, as the library's
    ``detect_*`` build theirs (explicit flags > ``--preset`` > detect's defaults)."""
    explicit = explicit_settings(args)
    source = {k: explicit.pop(k) for k in DATA_SOURCE_FIELDS if k in explicit}
    return RunConfig.for_detect(explicit, preset=getattr(args, "preset", None), **source)
