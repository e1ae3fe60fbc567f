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
:class:`~robustloss.run.records.Corruption` is the truth the scores need.

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

import numpy as np

from robustloss import __version__
from robustloss.detect import (
    estimate_errors_per_class,
    score_detections,
)
from robustloss.noise import corrupt_labels
from robustloss.probs.features import given_probabilities, head_probabilities
from robustloss.probs.folds import FoldMap
from robustloss.probs.protocols import (
    check_fold_map,
    derive_seed,
    predicted_probabilities,
)
from robustloss.run import rundir
from robustloss.run.config import (
    PRESETS,
    PROTOCOLS,
    RunConfig,
    config_hash,
)
from robustloss.run.detectors import DetectPhase, detect_phase, needs_margins
from robustloss.run.records import Corruption, ProbabilityResult, RunSummary
from robustloss.run.rundir import DETECTION_COLUMNS, GALLERY_SIZE, read_detections
from robustloss.run.trainset import (
    SUBSET_STREAM,
    SourceData,
    TrainingSet,
    load_source,
    training_set,
)
from robustloss.search.autoselect import (
    AUTO,
    TABLE_COLUMNS,
    Selection,
    TooSmallError,
    fixed_run_cost,
    plan_search,
    resolve_criterion,
    select_settings,
)
from robustloss.train import TrainConfig
from robustloss.train.head_training import HeadConfig

__all__ = [
    "DETECTION_COLUMNS",
    "GALLERY_SIZE",
    "PRESETS",
    "PROTOCOLS",
    "RunConfig",
    "RunSummary",
    "config_hash",
    "detect_features",
    "detect_own_data",
    "detect_pred_probs",
    "head_config_for",
    "plan_lines",
    "read_detections",
    "run_experiment",
    "train_config_for",
]

# Detection settings not exposed as flags, recorded in config.json.
_DETECT_FIXED = {"frac_noise": 1.0, "min_examples_per_class": 1, "n_jobs": 1}


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"[robustloss] {message}", file=sys.stderr, flush=True)


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
        corrupt=_corrupt,
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
    the training and detection settings (its dataset/data/noise fields are replaced by
    ``data=path``, ``noise=0``). The run folder holds detections.csv ranked by suspicion (with
    file paths and class names for a folder), suspect_images.npz, and a summary with
    ``flagged``, ``estimated_errors_per_class`` (cleanlab's calibrated confident joint; an
    estimate of how many labels of each given class are wrong), ``top_suspects`` and the
    training history; ``finalize`` as in :func:`run_experiment`. ``fold_map`` runs the
    folds of protocol cv (``robustloss detect --executor`` passes one that sends them to
    Dask workers, :mod:`robustloss.probs.folds`); a ``loss="auto"`` search before them
    trains in this process. Other protocols with a ``fold_map`` are a ValueError.
    """
    base = _config_dict(config)
    base.update({"dataset": None, "data": str(path), "noise": 0.0, "noise_seed": None})
    cfg = RunConfig.from_dict(base)
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


def _config_dict(config: RunConfig | dict[str, Any] | None) -> dict[str, Any]:
    """A fresh dict of the settings ``config`` gives (None: none, the defaults)."""
    if config is None:
        return {}
    if isinstance(config, RunConfig):
        return config.to_dict()
    return dict(config)


def _source_config(config: RunConfig | dict[str, Any] | None, **source: Any) -> RunConfig:
    """``config`` with its data source replaced by ``source`` and no corruption."""
    base = _config_dict(config)
    for key in ("dataset", "data", "features", "labels", "labels_column", "pred_probs"):
        base[key] = None
    base.update({"noise": 0.0, "noise_seed": None, **source})
    return RunConfig.from_dict(base)


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
    (``head``: linear or mlp), training and protocol (in-sample or cv) settings.
    ``fold_map`` runs the cv folds (``robustloss detect --executor`` passes one that sends
    them to Dask workers). The run folder is :func:`detect_own_data`'s, without images.
    """
    cfg = _source_config(
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
    cfg = _source_config(
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
        train_set, _ = _corrupt(cfg, train_set, True)
    n, k = int(train_set.labels.shape[0]), train_set.num_classes
    lines = [f"data: {_source_name(cfg)}, {n:,} examples, {k} classes"]
    if train_set.data.pred_probs is not None:
        return [*lines, "given probabilities: no training"]
    models = 1 if cfg.protocol in ("in-sample", "embed-cv") else cfg.folds
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


def head_config_for(cfg: RunConfig) -> HeadConfig:
    """The :class:`robustloss.train.head_training.HeadConfig` a ``--features`` run trains with."""
    return HeadConfig(
        head=cfg.head or "linear",
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        loss=cfg.loss,
        loss_params=cfg.loss_params(),
        delay=cfg.delay,
        seed=cfg.seed,
        # One thread unless --threads: a head's operations ((1024, D) x (D, K)) are too
        # small to split, and a second thread only adds synchronisation (on a busy 2-core
        # machine, several times the time per step).
        threads=cfg.threads or 1,
    )


def train_config_for(cfg: RunConfig) -> TrainConfig:
    """The :class:`robustloss.train.TrainConfig` a run config trains with."""
    return TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        optimizer="adam",
        loss=cfg.loss,
        loss_params=cfg.loss_params(),
        delay=cfg.delay,
        seed=cfg.seed,
        scaling=cfg.scaling,
        device=cfg.device,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        threads=cfg.threads,
        model=cfg.model,
        test_every=cfg.test_every,
        early_stop=cfg.early_stop,
        holdout=cfg.holdout,
        patience=cfg.patience,
        record_margins=needs_margins(cfg),
    )


# ----- the shared phases -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Detection:
    """What Confident Learning found on the training set."""

    flagged: np.ndarray  # (M,) int64 indices, most suspect first
    scores: np.ndarray  # (N,) rank scores, low = suspect
    per_class: np.ndarray  # (K,) estimated wrong labels per given class
    phase: DetectPhase  # every detector run, their costs


#: A run's corruption step: the training set with corrupted labels, and the truth.
CorruptStep = Callable[[RunConfig, TrainingSet, bool], tuple[TrainingSet, Corruption]]


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
    start = time.perf_counter()
    chash = config_hash(cfg)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        rundir.check_out_dir(out, command, chash, overwrite)  # fail before any training
    data = _load(cfg, quiet)
    train_set = training_set(cfg, data)
    truth = None
    if corrupt is not None:
        train_set, truth = corrupt(cfg, train_set, quiet)
    used, selection = _select(cfg, train_set, quiet)  # the given labels only, never the truth
    probs = _probabilities(used, train_set, truth, quiet, checkpoint_dir, resume_dir, fold_map)
    detection = _detect(used, train_set, probs, quiet)
    table = _tabulate(train_set, probs, detection, truth)
    summary = _summarize(cfg, chash, command, train_set, probs, detection, truth, table, out)
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
            meta = _config_record(
                cfg, chash, command, train_set, probs, truth, resume_dir, detection
            )
            if selection is not None:
                meta["config_used"] = used.resolved()
                meta["auto"] = selection.to_dict()
                if selection.results:
                    rundir.write_auto_table(tmp, selection.table(), TABLE_COLUMNS)
            _write(tmp, meta, summary, train_set, probs, detection, truth, table)
            if finalize is not None:
                finalize(tmp)
    if out is not None:
        _log(quiet, f"run folder: {out}")
    return dataclasses.replace(summary, seconds=time.perf_counter() - start)


def _load(cfg: RunConfig, quiet: bool) -> SourceData:
    _log(quiet, f"loading {_source_name(cfg)}")
    return load_source(cfg)


def _source_name(cfg: RunConfig) -> str:
    if cfg.features is not None or cfg.pred_probs is not None:
        return f"{cfg.features or cfg.pred_probs} with labels {cfg.labels or '(in the .npz)'}"
    return str(cfg.dataset or cfg.data)


def _corrupt(cfg: RunConfig, train_set: TrainingSet, quiet: bool) -> tuple[TrainingSet, Corruption]:
    """``run``'s own step: corrupt the labels (taken as clean) and keep the truth."""
    true_labels = train_set.labels
    rng = np.random.default_rng(cfg.resolved_noise_seed)
    noisy, corrupted = corrupt_labels(
        true_labels, cfg.noise, num_classes=train_set.num_classes, kind=cfg.noise_kind, rng=rng
    )
    corruption = Corruption(
        seed=cfg.resolved_noise_seed,
        kind=cfg.noise_kind,
        rate=cfg.noise,
        num_classes=train_set.num_classes,
        true_labels=true_labels,
        noisy_labels=np.asarray(noisy, dtype=np.int64),
        corrupted=np.asarray(corrupted, dtype=bool),
        source=train_set.data.source,
        source_indices=None if cfg.subset is None else train_set.source_index,
    )
    n, count = true_labels.shape[0], int(corruption.corrupted.sum())
    _log(quiet, f"corrupted {count} of {n} labels ({cfg.noise_kind}, rate {cfg.noise})")
    return dataclasses.replace(train_set, labels=corruption.noisy_labels), corruption


def _select(
    cfg: RunConfig, train_set: TrainingSet, quiet: bool
) -> tuple[RunConfig, Selection | None]:
    """``loss="auto"`` (or a parameter "auto"): the settings a search chooses from the
    training images and their *given* labels alone (:mod:`robustloss.search.autoselect`).

    Nothing else reaches the search: not a run's corruption (the truth is not an argument
    here), not a built-in dataset's clean test split. Returns the config to train with
    (``cfg`` itself when it names its settings) and the :class:`Selection`.
    """
    if not cfg.chooses_settings:
        return cfg, None
    loss = None if cfg.loss == AUTO else cfg.loss
    _log(quiet, f"choosing {'the loss' if loss is None else loss + ' ' + str(cfg.auto_param())} "
         f"without ground truth ({resolve_criterion(cfg.auto_criterion, cfg.protocol)} on a "
         f"held-out {cfg.holdout:g} of the "
         "given labels)")  # fmt: skip
    base = train_config_for(cfg.with_chosen({"loss": "ce", "delay": 0}))
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
    _log(quiet, f"auto chose {selection.why}")
    return cfg.with_chosen(selection.settings()), selection


def _probabilities(
    cfg: RunConfig,
    train_set: TrainingSet,
    truth: Corruption | None,
    quiet: bool,
    checkpoint_dir: str | os.PathLike | None,
    resume_dir: str | os.PathLike | None,
    fold_map: FoldMap | None = None,
) -> ProbabilityResult:
    n = train_set.labels.shape[0]
    data = train_set.data
    if data.pred_probs is not None:
        _log(quiet, f"given probabilities of {n} examples: no training")
        return given_probabilities(data.pred_probs[train_set.source_index])
    if data.features is not None:
        head = cfg.head or "linear"
        _log(quiet, f"training {head} heads: protocol {cfg.protocol}, loss {cfg.loss}, {n} "
             f"examples x {data.features.dim} features")  # fmt: skip
        return head_probabilities(
            data.features,
            train_set.labels,
            head_config_for(cfg),
            rows=train_set.source_index,
            protocol=cfg.protocol,
            folds=cfg.folds,
            seed=cfg.seed,
            num_classes=train_set.num_classes,
            fold_map=fold_map,
        )
    _log(quiet, f"training: protocol {cfg.protocol}, loss {cfg.loss}, {n} examples")
    return predicted_probabilities(
        train_set.images,
        train_set.labels,
        train_config_for(cfg),
        protocol=cfg.protocol,
        folds=cfg.folds,
        seed=cfg.seed,
        num_classes=train_set.num_classes,
        true_labels=None if truth is None else truth.true_labels,
        test=train_set.data.test,
        quiet=quiet,
        checkpoint_dir=checkpoint_dir,
        resume_dir=resume_dir,
        head=cfg.head,
        fold_map=fold_map,
    )


def _detect(
    cfg: RunConfig, train_set: TrainingSet, probs: ProbabilityResult, quiet: bool
) -> _Detection:
    """The chosen detector (and the compared ones) on the given labels and model outputs
    only: the truth of a ``run`` is not an argument (:mod:`robustloss.run.detectors`)."""
    labels, pred_probs = train_set.labels, probs.pred_probs
    if cfg.detectors_run() != ("cl",):
        _log(quiet, f"detectors: {', '.join(cfg.detectors_run())}")
    phase = detect_phase(
        cfg,
        labels,
        probs,
        images=train_set.images,
        source_features=train_set.data.features,
        rows=train_set.source_index,
        quiet=quiet,
        train_config=None if train_set.images is None else train_config_for(cfg),
    )
    return _Detection(
        flagged=phase.main.flagged,
        scores=phase.main.scores,
        per_class=estimate_errors_per_class(labels, pred_probs),
        phase=phase,
    )


def _tabulate(
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: _Detection,
    truth: Corruption | None,
) -> rundir.DetectionTable:
    return rundir.detection_table(
        train_set.labels,
        probs.pred_probs,
        detection.flagged,
        detection.scores,
        class_names=train_set.data.class_names,
        source_index=train_set.source_index,
        fold_of=probs.fold_of,
        corrupted=None if truth is None else truth.corrupted,
        true_labels=None if truth is None else truth.true_labels,
        paths=train_set.data.paths,
        ids=train_set.data.ids,
    )


def _score(detection: _Detection, truth: Corruption | None) -> dict[str, Any]:
    """Precision, recall, F1, flagged, correct, corrupted with a truth; else flagged alone."""
    if truth is None:
        return {"flagged": int(detection.flagged.size)}
    return score_detections(detection.flagged, truth.corrupted)


def _summarize(
    cfg: RunConfig,
    chash: str,
    command: str,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: _Detection,
    truth: Corruption | None,
    table: rundir.DetectionTable,
    out: Path | None,
) -> RunSummary:
    names = train_set.data.class_names
    test_accs = probs.test_acc_per_model
    return RunSummary(
        command=command,
        **_score(detection, truth),
        test_acc=None if not test_accs else float(np.mean(test_accs)),
        test_acc_per_model=test_accs,
        n=int(train_set.labels.shape[0]),
        num_classes=train_set.num_classes,
        class_names=names,
        estimated_errors=int(detection.per_class.sum()),
        estimated_errors_per_class={
            names[k] if k < len(names) else str(k): int(v)
            for k, v in enumerate(detection.per_class)
        },
        protocol=probs.protocol,
        protocol_note=probs.note,
        config=cfg.resolved(),
        config_hash=chash,
        loss_params_effective=cfg.effective_loss_params(),
        history=probs.history_rows(),
        out_dir=None if out is None else str(out),
        top_suspects=table.rows[: min(10, int(detection.flagged.size))],
        **_runtime(probs),
        **_detector_fields(cfg, detection, truth),
    )


def _detector_fields(
    cfg: RunConfig, detection: _Detection, truth: Corruption | None
) -> dict[str, Any]:
    """The summary's detector, its cost, and the compared detectors' scores."""
    phase = detection.phase
    return {
        "detector": cfg.detector,
        "detector_seconds": phase.seconds[cfg.detector],
        "detectors": None
        if cfg.compare_detectors is None
        else phase.comparison(None if truth is None else truth.corrupted),
        "detector_costs": phase.costs or None,
    }


def _runtime(probs: ProbabilityResult) -> dict[str, Any]:
    """What the run's precision resolved to here, and the epochs its models predicted with."""
    tc = probs.train_config
    return {
        "precision_used": tc.get("precision"),
        "memory_format": tc.get("memory_format"),
        "cpu_capability": tc.get("cpu_capability"),
        "native_bf16": tc.get("native_bf16"),
        "chosen_epochs": [int(e) for e in probs.chosen_epochs] or None,
    }


def _config_record(
    cfg: RunConfig,
    chash: str,
    command: str,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    truth: Corruption | None,
    resume_dir: str | os.PathLike | None,
    detection: _Detection,
) -> dict[str, Any]:
    """config.json: how this run was made (settings, seeds, versions, command line)."""
    return {
        "command": command,
        "config": cfg.resolved(),
        "config_hash": chash,
        "protocol_note": probs.note,
        "loss_params_effective": cfg.effective_loss_params(),
        "train_config": probs.train_config,
        "detect": {
            "detector": cfg.detector,
            "compare_detectors": list(cfg.detectors_run()),
            "method": cfg.method,
            "rank_by": cfg.rank_by,
            **_DETECT_FIXED,
            "aum_threshold": None
            if detection.phase.threshold is None
            else detection.phase.threshold.threshold,
        },
        "seeds": {
            "seed": cfg.seed,
            "noise_seed": None if truth is None else truth.seed,
            "subset_seed": None if cfg.subset is None else derive_seed(cfg.seed, SUBSET_STREAM),
            "split_seed": probs.split_seed,
            "model_seeds": probs.seeds,
        },
        "source": train_set.data.source,
        "resumed_from_warmup": None if resume_dir is None else str(resume_dir),
        "environment": probs.environment,
        "robustloss": __version__,
        "argv": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write(
    folder: Path,
    meta: dict[str, Any],
    summary: RunSummary,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: _Detection,
    truth: Corruption | None,
    table: rundir.DetectionTable,
) -> None:
    """Every file of the run folder but the report (see :mod:`robustloss.run.rundir`)."""
    rundir.write_json(folder / "config.json", meta)
    rundir.write_history(folder, summary.history)
    if truth is not None:
        rundir.write_json(folder / "corruption.json", truth.to_dict())
    np.save(folder / "pred_probs.npy", probs.pred_probs)
    rundir.write_detections(folder, table)
    if train_set.images is not None:  # features and given probabilities have none
        rundir.write_suspect_images(
            folder, train_set.images, detection.flagged, None if truth is None else truth.corrupted
        )
    rundir.write_json(folder / "summary.json", summary.to_dict())
