"""One run: load data, corrupt labels, train, predict, detect the wrong labels, score.

:func:`run_experiment` is ``robustloss run``: on a dataset whose labels are taken as clean,
corrupt a fraction of them (the corruption is recorded), obtain predicted probabilities by a
protocol (:mod:`robustloss.probs.protocols`), flag suspects with Confident Learning
(:mod:`robustloss.detect`) and score the flags against the known corruptions.
:func:`detect_own_data` is ``robustloss detect``: the same on a user's data, as labelled,
with no ground truth: ranked suspects and the estimated number of wrong labels per class.
:func:`detect_features` and :func:`detect_pred_probs` are ``detect --features`` (heads on
the user's embeddings, :mod:`robustloss.probs.features`) and ``detect
--pred-probs`` (the user's own probabilities: no training); they differ from it only in
where the training set and its probabilities come from.
The two differ only in what they pass the shared phases: ``run`` a corruption step, whose
:class:`~robustloss.run.records.Corruption` is the truth the scores need. ``detect``'s
settings default as the command line's (:mod:`robustloss.run.defaults`).

A run's phases, in order (:func:`_execute`): load and subset (:mod:`robustloss.run.phases`,
:mod:`robustloss.run.trainset`), corrupt (``run`` only), choose the settings (the search,
:func:`_select`, here), the probabilities, detect, tabulate, summarize and write
(:mod:`robustloss.run.outputs`).

Both write a run folder (:mod:`robustloss.run.rundir` describes its files; it is
staged in a hidden folder and renamed into place when complete) and return a
:class:`~robustloss.run.records.RunSummary`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robustloss.probs.folds import FoldMap
from robustloss.probs.protocols import check_fold_map
from robustloss.run import outputs, phases, rundir
from robustloss.run.config import PRESETS, PROTOCOLS, RunConfig, config_hash
from robustloss.run.phases import CorruptStep, head_config_for, log, train_config_for
from robustloss.run.reader import read_detections
from robustloss.run.records import RunSummary
from robustloss.run.rundir import DETECTION_COLUMNS, GALLERY_SIZE
from robustloss.run.trainset import TrainingSet, load_source, training_set
from robustloss.search.criteria import AUTO, resolve_criterion
from robustloss.search.plan import TooSmallError, fixed_run_cost, plan_search
from robustloss.search.results import TABLE_COLUMNS, Selection
from robustloss.search.search import select_settings

__all__ = [
    "DETECTION_COLUMNS",  # re-exported from robustloss.run.rundir, as is the next
    "GALLERY_SIZE",
    "PRESETS",  # re-exported from robustloss.run.config, as are the next three
    "PROTOCOLS",
    "RunConfig",
    "RunSummary",  # re-exported from robustloss.run.records
    "config_hash",
    "detect_features",
    "detect_own_data",
    "detect_pred_probs",
    "head_config_for",  # re-exported from robustloss.run.phases, as is train_config_for
    "plan_lines",
    "read_detections",  # re-exported from robustloss.run.reader
    "run_experiment",
    "train_config_for",
]


# ----- public entry points -----------------------------------------------------------------


def run_experiment(
    config: RunConfig | dict[str, Any],
    out_dir: str | os.PathLike | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    finalize: Callable[[Path], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_dir: str | os.PathLike | None = None,
) -> RunSummary:
    """Corrupt a dataset's labels, train, find the wrong labels and score them.

    Args:
        config: a :class:`RunConfig` or a dict for :meth:`RunConfig.from_dict`.
        out_dir: the run folder to write (see :mod:`robustloss.run.rundir`); None
            writes nothing.
        quiet: no progress on stderr.
        overwrite: replace a run folder that holds a different (or the same) run.
        finalize: called with the complete temporary run folder before it is moved into
            place, to add files (the CLI passes ``robustloss.report.run.gallery.write_report``,
            which draws suspects.png and report.html). If it raises, no folder is left.
        checkpoint_dir: save every model's checkpoint after every epoch there
            (``model-{k}/epoch-{e:03d}.pt``); used by sweeps to record a shared warm-up.
        resume_dir: start every model from such a warm-up's checkpoint at ``config.delay``
            (see :func:`robustloss.probs.protocols.predicted_probabilities`).

    Returns:
        The :class:`RunSummary`: ``precision``, ``recall``, ``f1``, ``flagged``, ``correct``
        and ``corrupted`` (as :func:`robustloss.detect.score_detections`; 0/0 gives 0.0),
        ``test_acc`` (mean accuracy of the trained models on the clean test split of a
        built-in dataset; for cv / paper-cv the mean over the fold models, each evaluated
        right after its fold; None for ``data``), ``test_acc_per_model``, ``seconds``,
        ``config`` (resolved), ``config_hash``, ``history`` (per model and epoch),
        ``estimated_errors_per_class``, ``top_suspects``, ``n``, ``num_classes``, ...

    Raises:
        ValueError: bad settings or data (unknown dataset, a folder with one class, labels
            that are not integers, a rate outside [0, 1], a loss flag the loss does not take),
            or ``out_dir`` holding a different run without ``overwrite``.
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    return _execute(
        cfg,
        out_dir,
        command="run",
        corrupt=phases.corrupt,
        quiet=quiet,
        overwrite=overwrite,
        finalize=finalize,
        checkpoint_dir=checkpoint_dir,
        resume_dir=resume_dir,
    )


def detect_own_data(
    path: str | os.PathLike,
    config: RunConfig | dict[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    finalize: Callable[[Path], None] | None = None,
    fold_map: FoldMap | None = None,
) -> RunSummary:
    """Find probably-wrong labels in the user's own data (no corruption, no ground truth).

    ``path`` is an image folder (one sub-folder per class) or an ``.npz``; ``config`` gives
    the training and detection settings over ``detect``'s defaults, the command line's
    (:meth:`RunConfig.for_detect`: ``loss="auto"``, protocol cv; its data source is replaced
    by ``data=path``, its noise by none). The run folder holds detections.csv ranked by
    suspicion (with file paths and class names for a folder), suspect_images.npz, and a
    summary with
    ``flagged``, ``estimated_errors_per_class`` (cleanlab's calibrated confident joint; an
    estimate of how many labels of each given class are wrong), ``top_suspects`` and the
    training history; ``finalize`` as in :func:`run_experiment`. ``fold_map`` runs the
    folds of protocol cv (``robustloss detect --executor`` passes one that sends them to
    Dask workers, :mod:`robustloss.probs.folds`); a ``loss="auto"`` search before them
    trains in this process. Other protocols with a ``fold_map`` are a ValueError.
    """
    cfg = RunConfig.for_detect(config, data=str(path))
    check_fold_map(cfg.protocol, fold_map)  # before loading and searching
    return _execute(
        cfg,
        out_dir,
        command="detect",
        corrupt=None,
        quiet=quiet,
        overwrite=overwrite,
        finalize=finalize,
        fold_map=fold_map,
    )


def detect_features(
    features: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    config: RunConfig | dict[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    labels_column: str | None = None,
    quiet: bool = False,
    overwrite: bool = False,
    finalize: Callable[[Path], None] | None = None,
    fold_map: FoldMap | None = None,
) -> RunSummary:
    """Find probably-wrong labels from embeddings: heads trained on ``features``.

    ``features`` is an (N, D) ``.npy`` (read in blocks, never whole) or an ``.npz``;
    ``labels`` an ``.npy`` or a text/CSV file of class names (``labels_column`` names its
    column) (formats: :mod:`robustloss.data.user.features`). ``config`` gives the loss, head
    (``head``: linear or mlp), training and protocol (in-sample or cv) settings over
    ``detect --features``' defaults (:meth:`RunConfig.for_detect`: Blurry gamma 0.4,
    protocol cv, batches of 1024 at 1e-2).
    ``fold_map`` runs the cv folds (``robustloss detect --executor`` passes one that sends
    them to Dask workers). The run folder is :func:`detect_own_data`'s, without images.
    """
    cfg = RunConfig.for_detect(
        config,
        features=str(features),
        labels=None if labels is None else str(labels),
        labels_column=labels_column,
    )
    return _execute(
        cfg, out_dir, command="detect", corrupt=None, quiet=quiet, overwrite=overwrite,
        finalize=finalize, fold_map=fold_map,
    )  # fmt: skip


def detect_pred_probs(
    pred_probs: str | os.PathLike,
    labels: str | os.PathLike,
    config: RunConfig | dict[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    labels_column: str | None = None,
    quiet: bool = False,
    overwrite: bool = False,
    finalize: Callable[[Path], None] | None = None,
) -> RunSummary:
    """Find probably-wrong labels from predicted probabilities the user already has.

    ``pred_probs`` is an (N, K) ``.npy`` (or an ``.npz`` with ``pred_probs`` and
    ``class_names``), ``labels`` as :func:`detect_features`'. No training: Confident
    Learning, the ranking, the estimated errors per class and the run folder.
    """
    cfg = RunConfig.for_detect(
        config, pred_probs=str(pred_probs), labels=str(labels), labels_column=labels_column
    )
    return _execute(
        cfg, out_dir, command="detect", corrupt=None, quiet=quiet, overwrite=overwrite,
        finalize=finalize,
    )  # fmt: skip


def plan_lines(config: RunConfig | dict[str, Any], *, corrupt: bool) -> list[str]:
    """What a run of ``config`` would train, in words (``--dry-run``): the data it loads, the
    fixed run's sample-epochs and, when a search chooses the settings, its plan and cost.
    ``corrupt``: corrupt the labels first, as ``run`` does (the plan's held-out split is
    drawn from the labels the search would see). Trains nothing, writes nothing."""
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    train_set = training_set(cfg, load_source(cfg))
    if corrupt:
        train_set, _ = phases.corrupt(cfg, train_set, True)
    n, k = int(train_set.labels.shape[0]), train_set.num_classes
    lines = [f"data: {phases.source_name(cfg)}, {n:,} examples, {k} classes"]
    if train_set.data.pred_probs is not None:
        return [*lines, "given probabilities: no training"]
    models = 1 if cfg.protocol == "in-sample" else cfg.folds
    cost = fixed_run_cost(cfg.protocol, n, cfg.epochs, cfg.folds)
    what = "the chosen settings" if cfg.chooses_settings else f"loss {cfg.loss}"
    lines.append(
        f"train: protocol {cfg.protocol}, {models} model(s), {what}, at most {cfg.epochs} "
        f"epochs: {cost:,.0f} sample-epochs"
    )
    if cfg.chooses_settings:
        loss = None if cfg.loss == AUTO else cfg.loss
        try:
            plan = plan_search(
                train_set.labels, epochs=cfg.epochs, protocol=cfg.protocol, folds=cfg.folds,
                loss=loss, fixed=cfg.loss_params(), criterion=cfg.auto_criterion,
                holdout=cfg.holdout, num_classes=k, seed=cfg.seed,
            )  # fmt: skip
        except TooSmallError as exc:
            if loss is not None:  # as the run itself: no default to fall back on
                raise
            fallback = Selection.fallback(
                str(exc), epochs=cfg.epochs,
                criterion=resolve_criterion(cfg.auto_criterion, cfg.protocol),
            )  # fmt: skip
            return [*lines, f"auto: {fallback.why}"]
        lines += plan.lines()
    return lines


def _execute(
    cfg: RunConfig,
    out_dir: str | os.PathLike | None,
    *,
    command: str,
    corrupt: CorruptStep | None,
    quiet: bool,
    overwrite: bool,
    finalize: Callable[[Path], None] | None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_dir: str | os.PathLike | None = None,
    fold_map: FoldMap | None = None,
) -> RunSummary:
    """One run's phases, in order; ``corrupt`` is ``run``'s own (None for ``detect``)."""
    start = time.perf_counter()
    chash = config_hash(cfg)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        rundir.check_out_dir(out, command, chash, overwrite)  # fail before any training
    train_set = training_set(cfg, phases.load(cfg, quiet))
    truth = None
    if corrupt is not None:
        train_set, truth = corrupt(cfg, train_set, quiet)
    used, selection = _select(cfg, train_set, quiet)  # the given labels only, never the truth
    probs = phases.probabilities(
        used, train_set, truth, quiet, checkpoint_dir, resume_dir, fold_map
    )
    detection = phases.detect(used, train_set, probs, quiet)
    table = phases.tabulate(train_set, probs, detection, truth)
    summary = outputs.summarize(cfg, chash, command, train_set, probs, detection, truth, table, out)
    if selection is not None:
        summary = dataclasses.replace(
            summary,
            loss_params_effective=used.effective_loss_params(),
            auto={k: v for k, v in selection.to_dict().items() if k != "plan"},
        )
    with rundir.staging(out, command, chash, overwrite) as tmp:
        if tmp is not None:
            # summary.json keeps the time to the start of writing; the return value to the end.
            summary = dataclasses.replace(summary, seconds=time.perf_counter() - start)
            meta = outputs.config_record(
                cfg, chash, command, train_set, probs, truth, resume_dir, detection
            )
            if selection is not None:
                meta["config_used"] = used.resolved()
                meta["auto"] = selection.to_dict()
                if selection.results:
                    rundir.write_auto_table(tmp, selection.table(), TABLE_COLUMNS)
            outputs.write_files(tmp, meta, summary, train_set, probs, detection, truth, table)
            if finalize is not None:
                finalize(tmp)
    if out is not None:
        log(quiet, f"run folder: {out}")
    return dataclasses.replace(summary, seconds=time.perf_counter() - start)


def _select(
    cfg: RunConfig, train_set: TrainingSet, quiet: bool
) -> tuple[RunConfig, Selection | None]:
    """``loss="auto"`` (or a parameter "auto"): the settings a search chooses from the
    training images and their *given* labels alone (:mod:`robustloss.search`).

    Nothing else reaches the search: not a run's corruption (the truth is not an argument
    here), not a built-in dataset's clean test split. Returns the config to train with
    (``cfg`` itself when it names its settings) and the :class:`Selection`.
    """
    if not cfg.chooses_settings:
        return cfg, None
    loss = None if cfg.loss == AUTO else cfg.loss
    log(quiet, f"choosing {'the loss' if loss is None else loss + ' ' + str(cfg.auto_param())} "
         f"without ground truth ({resolve_criterion(cfg.auto_criterion, cfg.protocol)} on a "
         f"held-out {cfg.holdout:g} of the "
         "given labels)")  # fmt: skip
    base = cfg.with_chosen({"loss": "ce", "delay": 0}).train_config()
    try:
        selection = select_settings(
            train_set.images,
            train_set.labels,
            train_config=base,
            protocol=cfg.protocol,
            folds=cfg.folds,
            loss=loss,
            fixed=cfg.loss_params(),
            criterion=cfg.auto_criterion,
            holdout=cfg.holdout,
            num_classes=train_set.num_classes,
            quiet=quiet,
        )
    except TooSmallError as exc:
        if loss is not None:  # one loss's parameter asked for: no default to fall back on
            raise
        # Recorded (summary, config.json, report) and said on stderr even with --quiet.
        selection = Selection.fallback(
            str(exc), epochs=cfg.epochs,
            criterion=resolve_criterion(cfg.auto_criterion, cfg.protocol),
        )  # fmt: skip
        print(f"[robustloss] warning: --loss auto: {selection.why}", file=sys.stderr)
    log(quiet, f"auto chose {selection.why}")
    return cfg.with_chosen(selection.settings()), selection
