"""Protocols for the predicted probabilities that Confident Learning needs.

N training examples, K classes. Every protocol returns ``pred_probs`` (N, K), one row per
training example, and records how each row was obtained:

``in-sample``
    One model trained on all N (noisy) examples, then asked about those same N examples.
    Cheapest; a model that has fitted wrong labels hides them (recall suffers), which robust
    losses are meant to prevent.
``cv``
    ``StratifiedKFold(folds, shuffle=True)`` on the given labels; a *fresh* model per fold
    (its own seed), trained on the other folds; each row comes from the one model that never
    saw that example (out-of-fold). What cleanlab recommends; ``folds`` times the cost.
``paper-cv``
    The authors' code, reproduced: ``KFold(folds, shuffle=True)`` and ONE model carried from
    fold to fold without re-initialisation, with a new Adam optimizer per fold. From fold 2 on
    the model has already trained on the examples it is asked about, so the probabilities are
    partly in-sample. Kept to reproduce their numbers; not recommended.

Seeds (stream ids: :mod:`robustloss.seeds`): the folds come from ``derive_seed(seed,
SPLIT_STREAM)``; fold k's model (initial weights, batch order, dropout) from
``derive_seed(train_config.seed, FOLD_STREAM, k)``; ``in-sample`` uses ``train_config.seed``
itself, so it equals a plain :func:`robustloss.train.train` call.

Where the folds run: ``cv``'s K folds are independent :class:`ImageFoldTask` records (a
fold's rows and config), run by :func:`run_image_fold` through a ``fold_map``
(:mod:`robustloss.probs.folds`): in this process by default, or as K Dask tasks
(``robustloss detect --executor``). The N images and labels every fold needs travel once,
as the map's ``shared`` value, not inside each task. The other protocols train in this
process (:data:`SERIAL_PROTOCOLS` says why).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from robustloss.probs.folds import FoldMap, map_in_process
from robustloss.probs.records import ProbabilityResult
from robustloss.seeds import FOLD_STREAM, SPLIT_STREAM, derive_seed
from robustloss.train import TrainConfig, TrainResult, predict_proba, train
from robustloss.train.checkpoint import checkpoint_path

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_NOTES",
    "SERIAL_PROTOCOLS",
    "ImageFoldOutcome",
    "ImageFoldTask",
    "ProbabilityResult",
    "Protocol",
    "check_fold_map",
    "chosen_epoch",
    "predicted_probabilities",
    "run_image_fold",
]

@dataclasses.dataclass(frozen=True)
class Protocol:
    """One way to get predicted probabilities: its one-line ``note`` and, when its models
    cannot train apart (a ``fold_map`` is for ``cv`` alone), why (``serial``)."""

    note: str
    serial: str | None = None


#: The one table of protocols: RunConfig's choices (``robustloss.run.validation``), the
#: command line's ``--protocol``, the notes in every run folder and the executors' refusals
#: all come from it.
PROTOCOLS: Mapping[str, Protocol] = MappingProxyType({
    "in-sample": Protocol(
        "one model trained on all examples and asked about those same examples",
        serial="trains one model on every example: there are no folds to distribute",
    ),
    "cv": Protocol(
        "stratified K-fold, a fresh model per fold, out-of-fold probabilities "
        "(what cleanlab recommends)"
    ),
    "paper-cv": Protocol(
        "reproduces the authors' protocol: KFold(shuffle=True) with ONE model carried "
        "across folds (fresh Adam per fold), so folds 2..K are partly in-sample; not "
        "recommended",
        serial="carries one model from fold to fold, so a fold cannot start before the "
        "previous one ends",
    ),
})  # fmt: skip

#: Each protocol's note, and the protocols that cannot train apart with why (from PROTOCOLS).
PROTOCOL_NOTES: Mapping[str, str] = MappingProxyType({k: p.note for k, p in PROTOCOLS.items()})
SERIAL_PROTOCOLS: Mapping[str, str] = MappingProxyType(
    {k: p.serial for k, p in PROTOCOLS.items() if p.serial is not None}
)


def chosen_epoch(result: TrainResult) -> int:
    """The epoch whose weights ``result.model`` has: early stopping's best, else the last."""
    return int(result.config.get("chosen_epoch", len(result.history)))


def _accuracy(model, images, labels) -> float:
    probs = predict_proba(model, images)
    return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every model of one protocol trains on (the arguments of
    :func:`predicted_probabilities`, checked)."""

    images: np.ndarray  # (N, H, W) or (N, H, W, C)
    labels: np.ndarray  # (N,) given labels
    num_classes: int
    true_labels: np.ndarray | None  # (N,)
    test: tuple[np.ndarray, np.ndarray] | None
    quiet: bool
    checkpoint_dir: Path | None
    resume_dir: Path | None

    @classmethod
    def of(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        num_classes: int | None,
        true_labels: np.ndarray | None,
        test: tuple[np.ndarray, np.ndarray] | None,
        quiet: bool,
        checkpoint_dir: str | os.PathLike | None = None,
        resume_dir: str | os.PathLike | None = None,
    ) -> _Job:
        """The job of these arguments: K defaulted from the labels, paths as Paths."""
        labels = np.asarray(labels)
        return cls(
            images=images,
            labels=labels,
            num_classes=int(labels.max()) + 1 if num_classes is None else num_classes,
            true_labels=None if true_labels is None else np.asarray(true_labels),
            test=test,
            quiet=quiet,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir),
            resume_dir=None if resume_dir is None else Path(resume_dir),
        )


def predicted_probabilities(
    images: np.ndarray,
    labels: np.ndarray,
    train_config: TrainConfig,
    *,
    protocol: str,
    folds: int = 5,
    seed: int = 0,
    num_classes: int | None = None,
    true_labels: np.ndarray | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    quiet: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_dir: str | os.PathLike | None = None,
    fold_map: FoldMap | None = None,
) -> ProbabilityResult:
    """Train per ``protocol`` and return the predicted probabilities of every example.

    Args:
        images: (N, H, W) or (N, H, W, C) training images, values 0..255.
        labels: (N,) int64 given (possibly corrupted) labels.
        train_config: training settings; its ``seed`` is the base of the model seeds.
        protocol: "in-sample", "cv" or "paper-cv" (see the module docstring).
        folds: number of folds for "cv" / "paper-cv" (>= 2).
        seed: seed of the fold assignment.
        num_classes: K (default: ``labels.max() + 1``); every model gets K outputs even when
            a training fold lacks a class.
        true_labels: (N,) clean labels when known (training history reports accuracy on them).
        test: (test_images, test_labels), a clean test split: each trained model's accuracy
            on it is recorded (``in-sample`` also per ``train_config.test_every`` epochs).
        quiet: no progress bars.
        checkpoint_dir: save model k's checkpoint after every epoch in
            ``checkpoint_dir/model-{k}/epoch-{e:03d}.pt`` (k = fold, 0 for in-sample).
        resume_dir: a folder written with ``checkpoint_dir`` by a cross-entropy warm-up of
            this same data, protocol and seed: model k starts from its checkpoint after
            ``train_config.delay`` epochs (shared warm-ups; bitwise equal to training alone,
            per ``robustloss.train``'s ``resume_from``). Not for ``paper-cv``, whose folds
            depend on each other. Ignored when ``delay == 0``.
        fold_map: "cv" only: runs :func:`run_image_fold` over the K fold tasks with the
            images and labels as ``shared`` (:mod:`robustloss.probs.folds`; None: in
            this process). Each fold's ``checkpoint_dir`` / ``resume_dir`` is read and
            written where the fold runs (a shared filesystem for Dask workers), and its
            model comes back on the CPU (a GPU worker's included).

    Returns:
        A :class:`~robustloss.run.records.ProbabilityResult`: ``pred_probs`` (N, K)
        float64, ``fold_of`` ((N,) int64 fold that held each example out, -1 for in-sample),
        the per-model ``histories``, ``models``, ``seeds`` and ``test_acc_per_model`` (or
        None), ``split_seed``, the first model's ``train_config`` and ``environment``.
    """
    labels = np.asarray(labels)
    _validate(protocol, labels, folds=folds, resume_dir=resume_dir, fold_map=fold_map)
    job = _Job.of(
        images, labels, num_classes=num_classes, true_labels=true_labels, test=test,
        quiet=quiet, checkpoint_dir=checkpoint_dir, resume_dir=resume_dir,
    )  # fmt: skip
    if protocol == "in-sample":
        return _in_sample(job, train_config)
    return _k_fold(job, train_config, protocol=protocol, folds=folds, seed=seed,
                   fold_map=fold_map)  # fmt: skip


def check_fold_map(protocol: str, fold_map: FoldMap | None) -> None:
    """A ValueError unless ``fold_map`` is None or ``protocol`` is "cv" (the one protocol
    whose folds train apart; :data:`SERIAL_PROTOCOLS`)."""
    if fold_map is not None and protocol in SERIAL_PROTOCOLS:
        raise ValueError(
            f"Expected protocol 'cv' with a `fold_map` (its folds train apart), but got "
            f"{protocol!r}, which {SERIAL_PROTOCOLS[protocol]}"
        )


def _validate(
    protocol: str,
    labels: np.ndarray,
    *,
    folds: int,
    resume_dir: str | os.PathLike | None,
    fold_map: FoldMap | None = None,
) -> None:
    if protocol not in PROTOCOL_NOTES:
        raise ValueError(
            f"Expected `protocol` to be one of {list(PROTOCOL_NOTES)}, but got {protocol!r}"
        )
    check_fold_map(protocol, fold_map)
    if resume_dir is not None and protocol == "paper-cv":
        raise ValueError(
            f"resume_dir (a shared warm-up) does not apply to protocol {protocol!r}: its "
            "folds do not each train a CNN from the warm-up's start"
        )
    if protocol != "in-sample":
        n = labels.shape[0]
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ValueError(f"Expected `folds` to be an integer >= 2, but got {folds!r}")
        if folds > n:
            raise ValueError(f"Expected `folds` <= the number of examples ({n}), but got {folds}")


def _fit(
    job: _Job,
    config: TrainConfig,
    idx: np.ndarray | None,
    k: int,
    *,
    model=None,
    test_per_epoch: bool = False,
) -> TrainResult:
    """Train model ``k`` on the examples ``idx`` (all if None), per ``job``."""
    sel = slice(None) if idx is None else idx
    extra: dict[str, Any] = {}
    if job.checkpoint_dir is not None:
        extra["checkpoint_dir"] = job.checkpoint_dir / f"model-{k}"
    if job.resume_dir is not None and config.delay > 0:
        start = checkpoint_path(job.resume_dir / f"model-{k}", config.delay)
        if not start.is_file():
            raise ValueError(f"resume_dir: no warm-up checkpoint {start}")
        extra["resume_from"] = start
    test = job.test if test_per_epoch else None
    return train(
        config,
        job.images[sel],
        job.labels[sel],
        true_labels=None if job.true_labels is None else job.true_labels[sel],
        test_images=None if test is None else test[0],
        test_labels=None if test is None else test[1],
        num_classes=job.num_classes,
        model=model,
        quiet=job.quiet,
        **extra,
    )


def _train_one(job: _Job, train_config: TrainConfig) -> tuple[TrainResult, list[float] | None]:
    """The in-sample model, and its test accuracy (None without a test split)."""
    result = _fit(job, train_config, None, 0, test_per_epoch=True)
    if job.test is None:
        return result, None
    done = result.test_acc  # evaluated by train() on the model it returned already
    return result, [_accuracy(result.model, *job.test) if done is None else float(done)]


def _in_sample(job: _Job, train_config: TrainConfig) -> ProbabilityResult:
    """One model on all examples, asked about those same examples."""
    result, test_accs = _train_one(job, train_config)
    pred_probs = predict_proba(result.model, job.images)
    n = job.labels.shape[0]
    return _collect(
        [result],
        pred_probs=pred_probs,
        protocol="in-sample",
        folds=None,
        fold_of=np.full(n, -1, dtype=np.int64),
        seeds=[train_config.seed],
        split_seed=None,
        test_accs=test_accs,
        margins=result.margins,
    )


@dataclasses.dataclass(frozen=True)
class ImageFoldTask:
    """One fold to train: its rows and its model's config. The images and labels every fold
    shares are not in it (they are the ``job`` of :func:`run_image_fold`, a fold map's
    ``shared`` value), so K tasks are K small records."""

    k: int  # fold
    train_idx: np.ndarray  # (N - M,) sorted example indices to train on
    held_idx: np.ndarray  # (M,) sorted example indices held out, to predict
    config: TrainConfig  # seeded derive_seed(train_config.seed, FOLD_STREAM, k)
    cpu_model: bool = False  # return the model on the CPU (one trained by a GPU worker)


@dataclasses.dataclass(frozen=True)
class ImageFoldOutcome:
    """A trained fold model's predictions of ``held_idx``, its test accuracy and record."""

    k: int
    probs: np.ndarray  # (M, K) float64
    test_acc: float | None  # on the job's test split, right after the fold trained
    result: TrainResult


def run_image_fold(task: ImageFoldTask, job: _Job, *, model=None) -> ImageFoldOutcome:
    """Train fold ``task.k``'s model on ``job`` (a fresh one, or ``model`` trained on, for
    paper-cv) and ask it about its held-out examples and the test split before anything
    trains it further (runs on a Dask worker too)."""
    result = _fit(job, task.config, task.train_idx, task.k, model=model)
    probs = predict_proba(result.model, job.images[task.held_idx])
    test_acc = None if job.test is None else _accuracy(result.model, *job.test)
    if task.cpu_model:
        result = dataclasses.replace(result, model=result.model.cpu())
    return ImageFoldOutcome(task.k, probs, test_acc, result)


def _fold_config(train_config: TrainConfig, k: int) -> TrainConfig:
    """Fold ``k``'s model config: ``train_config`` seeded for the fold."""
    return dataclasses.replace(train_config, seed=derive_seed(train_config.seed, FOLD_STREAM, k))


def _k_fold(
    job: _Job,
    train_config: TrainConfig,
    *,
    protocol: str,
    folds: int,
    seed: int,
    fold_map: FoldMap | None = None,
) -> ProbabilityResult:
    """cv: a fresh model per fold (through ``fold_map``); paper-cv: one model carried from
    fold to fold, here."""
    n = job.labels.shape[0]
    split_seed = derive_seed(seed, SPLIT_STREAM)
    if protocol == "cv":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split_seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=split_seed)
    splits = splitter.split(np.zeros(n), job.labels)
    remote = fold_map is not None
    tasks = [
        ImageFoldTask(k, tr, held, _fold_config(train_config, k), cpu_model=remote)
        for k, (tr, held) in enumerate(splits)
    ]
    if protocol == "cv":
        outcomes = (fold_map or map_in_process)(run_image_fold, tasks, shared=job)
        outcomes = sorted(outcomes, key=lambda o: o.k)
    else:  # the previous fold's model, trained on
        outcomes, model = [], None
        for task in tasks:
            outcomes.append(run_image_fold(task, job, model=model))
            model = outcomes[-1].result.model
    pred_probs = np.full((n, job.num_classes), np.nan, dtype=np.float64)
    fold_of = np.full(n, -1, dtype=np.int64)
    margins = None
    for task, outcome in zip(tasks, outcomes, strict=True):
        pred_probs[task.held_idx] = outcome.probs
        fold_of[task.held_idx] = task.k
        if outcome.result.margins is not None:  # the fold's training rows, into the N rows
            fold_margins = outcome.result.margins.scattered(task.train_idx, n)
            margins = fold_margins if margins is None else margins + fold_margins
    if np.isnan(pred_probs).any():  # pragma: no cover - KFold covers every example
        raise RuntimeError("some examples were never held out")
    return _collect(
        [o.result for o in outcomes],
        pred_probs=pred_probs,
        protocol=protocol,
        folds=folds,
        fold_of=fold_of,
        seeds=[t.config.seed for t in tasks],
        split_seed=split_seed,
        test_accs=None if job.test is None else [o.test_acc for o in outcomes],
        margins=margins,
    )


def _collect(
    results: list[TrainResult],
    *,
    pred_probs: np.ndarray,
    protocol: str,
    folds: int | None,
    fold_of: np.ndarray,
    seeds: list[int],
    split_seed: int | None,
    test_accs: list[float] | None,
    margins: Any = None,
) -> ProbabilityResult:
    return ProbabilityResult(
        pred_probs=pred_probs,
        protocol=protocol,
        note=PROTOCOL_NOTES[protocol],
        folds=folds,
        fold_of=fold_of,
        histories=[[dict(row) for row in result.history] for result in results],
        models=[result.model for result in results],
        seeds=seeds,
        split_seed=split_seed,
        test_acc_per_model=test_accs,
        train_config=dict(results[0].config),
        environment=dict(results[0].environment),
        chosen_epochs=[chosen_epoch(r) for r in results],
        margins=margins,
    )
