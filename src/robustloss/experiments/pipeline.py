"""One run: load data, corrupt labels, train, predict, detect the wrong labels, score.

:func:`run_experiment` is ``robustloss run``: on a dataset whose labels are taken as clean,
corrupt a fraction of them (the corruption is recorded), obtain predicted probabilities by a
protocol (:mod:`robustloss.experiments.protocols`), flag suspects with Confident Learning
(:mod:`robustloss.detect`) and score the flags against the known corruptions.
:func:`detect_own_data` is ``robustloss detect``: the same on a user's data, as labelled,
with no ground truth: ranked suspects and the estimated number of wrong labels per class.

A run folder (``out_dir``) holds::

    config.json           resolved config, its hash, training config, seeds, versions
    summary.json          the summary this function returns
    history.csv / .json   per model (fold) and epoch: loss, accuracies, seconds
    corruption.json       run only: seed, kind, rate, corrupted indices, their true labels
    pred_probs.npy        (N, K) float64 predicted probabilities
    detections.csv        one row per example, most suspect first (see DETECTION_COLUMNS)
    suspect_images.npz    the top suspects' images (what the gallery draws)
    suspects.png, report.html   written by ``finalize`` (the CLI passes the report writer)

It is written into a hidden temporary folder beside ``out_dir`` and renamed into place only
when complete, so a crash never leaves a half-written run folder. A folder that holds a
different run (another config hash) is refused unless ``overwrite=True``; a folder that is
not a run folder is never replaced.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robustloss import __version__
from robustloss._io import json_text
from robustloss.data import dataset_class_names, load_dataset, load_path
from robustloss.detect import (
    estimate_errors_per_class,
    find_label_errors,
    rank_scores,
    score_detections,
)
from robustloss.experiments.config import (
    PRESETS,
    PROTOCOLS,
    RunConfig,
    config_hash,
)
from robustloss.experiments.protocols import PROTOCOL_NOTES, derive_seed, predicted_probabilities
from robustloss.noise import corrupt_labels
from robustloss.train import TrainConfig

__all__ = [
    "DETECTION_COLUMNS",
    "GALLERY_SIZE",
    "PRESETS",
    "PROTOCOLS",
    "RunConfig",
    "config_hash",
    "detect_own_data",
    "read_detections",
    "run_experiment",
    "train_config_for",
]

#: Columns of detections.csv, in order. ``rank`` is 1 for the most suspect example;
#: ``index`` is the row in this run's training set, ``source_index`` the row in the source
#: data (they differ with --subset). ``corrupted``/``true_label``/``true_class`` exist only
#: when the truth is known (run), ``path`` only for image folders.
DETECTION_COLUMNS: tuple[str, ...] = (
    "rank",
    "index",
    "source_index",
    "given_label",
    "given_class",
    "suggested_label",
    "suggested_class",
    "p_given",
    "p_suggested",
    "rank_score",
    "flagged",
    "corrupted",
    "true_label",
    "true_class",
    "fold",
    "path",
)

#: How many top suspects' images the run folder keeps for the gallery.
GALLERY_SIZE = 48

SUBSET_STREAM = 3

# Detection settings not exposed as flags, recorded in config.json.
_DETECT_FIXED = {"frac_noise": 1.0, "min_examples_per_class": 1, "n_jobs": 1}


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"[robustloss] {message}", file=sys.stderr, flush=True)


# ----- data --------------------------------------------------------------------------------


@dataclasses.dataclass
class _Data:
    images: np.ndarray
    labels: np.ndarray  # (N,) int64: clean labels (run) or given labels (detect)
    class_names: list[str]
    paths: list[str] | None
    test: tuple[np.ndarray, np.ndarray] | None
    source: str


def _load(cfg: RunConfig) -> _Data:
    if cfg.dataset is not None:
        images, labels = load_dataset(cfg.dataset, "train")
        test = load_dataset(cfg.dataset, "test")
        names = list(dataset_class_names(cfg.dataset))
        return _Data(images, np.asarray(labels), names, None, test, cfg.dataset)
    image_set = load_path(cfg.data, image_size=cfg.image_size)
    return _Data(
        image_set.images,
        np.asarray(image_set.labels),
        list(image_set.class_names),
        None if image_set.paths is None else list(image_set.paths),
        None,
        str(cfg.data),
    )


def _check_labels(data: _Data) -> int:
    """Labels are integers in [0, K) with at least 2 classes present; returns K."""
    labels = data.labels
    if labels.ndim != 1 or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{data.source}: labels must be a 1-D array of integer class indices, "
            f"but got dtype {labels.dtype}, shape {labels.shape}"
        )
    if labels.shape[0] != data.images.shape[0]:
        raise ValueError(
            f"{data.source}: {data.images.shape[0]} images but {labels.shape[0]} labels"
        )
    k = max(len(data.class_names), int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{data.source}: labels must be >= 0, but got {int(labels.min())}")
    present = np.unique(labels)
    if present.size < 2:
        name = data.class_names[int(present[0])] if present.size else "none"
        raise ValueError(
            f"{data.source}: finding wrong labels needs at least 2 classes, but the data has "
            f"{present.size} ({name!r})"
        )
    return k


def _stratified_subset(labels: np.ndarray, subset: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random subset of ``subset`` examples (all if None)."""
    n = labels.shape[0]
    if subset is None or subset == n:
        return np.arange(n)
    if subset > n:
        raise ValueError(f"Expected `subset` (--subset) <= the {n} examples, but got {subset}")
    from sklearn.model_selection import train_test_split

    try:
        chosen, _ = train_test_split(
            np.arange(n),
            train_size=subset,
            stratify=labels,
            random_state=derive_seed(seed, SUBSET_STREAM),
        )
    except ValueError as exc:
        raise ValueError(f"--subset {subset}: cannot draw a stratified subset: {exc}") from None
    return np.sort(chosen)


# ----- training config ---------------------------------------------------------------------


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
    )


# ----- run folder --------------------------------------------------------------------------


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json_text(obj, indent=2) + "\n", encoding="utf-8")


def _existing_run(out: Path) -> tuple[str | None, str | None, bool]:
    """(command, config hash, finished) of a run folder; (None, None, False) if not one."""
    try:
        meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
        return meta.get("command"), meta.get("config_hash"), (out / "summary.json").is_file()
    except (OSError, ValueError, AttributeError):
        return None, None, False


def _check_out_dir(out: Path, command: str, chash: str, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"output folder {out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    old_command, old_hash, finished = _existing_run(out)
    if old_hash is None:
        raise ValueError(
            f"output folder {out} is not empty and is not a robustloss run folder; "
            "refusing to replace it (even with --overwrite): choose another --out"
        )
    if overwrite:
        return
    if old_hash == chash and old_command == command and finished:
        raise ValueError(
            f"output folder {out} already holds this finished {command} (config hash "
            f"{chash[:12]}); its results are in {out / 'summary.json'}. "
            "Pass --overwrite to run it again"
        )
    raise ValueError(
        f"output folder {out} holds a different run ({old_command or 'unknown'}, config hash "
        f"{(old_hash or '?')[:12]}; this {command} is {chash[:12]}); choose another --out or "
        "pass --overwrite to replace it"
    )


@contextlib.contextmanager
def _staging(out: Path | None, command: str, chash: str, overwrite: bool):
    """Yield a temporary folder beside ``out``; on success move it into place atomically."""
    if out is None:
        yield None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        _check_out_dir(out, command, chash, overwrite)  # again: something may have appeared
        if out.exists():
            trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _history_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    with_folds = info["protocol"] != "in-sample"
    for k, history in enumerate(info["histories"]):
        for row in history:
            rows.append({"fold": k if with_folds else None, **row})
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Floats are written with ``str``: the shortest text that reads back to the same float64."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


def _detection_table(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    flagged: np.ndarray,
    scores: np.ndarray,
    *,
    class_names: list[str],
    source_index: np.ndarray,
    fold_of: np.ndarray,
    corrupted: np.ndarray | None,
    true_labels: np.ndarray | None,
    paths: list[str] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of detections.csv, most suspect first: the flagged examples in their ranked
    order, then the others by ascending rank score (ties by index)."""
    n = labels.shape[0]
    is_flagged = np.zeros(n, dtype=bool)
    is_flagged[flagged] = True
    rest = np.flatnonzero(~is_flagged)
    rest = rest[np.argsort(scores[rest], kind="stable")]
    order = np.concatenate([flagged, rest]).astype(np.int64)
    suggested = pred_probs.argmax(axis=1)
    rows = np.arange(n)
    p_given = pred_probs[rows, labels]
    p_suggested = pred_probs[rows, suggested]

    def name(k: int) -> str:
        return class_names[k] if 0 <= k < len(class_names) else str(k)

    columns = list(DETECTION_COLUMNS)
    if corrupted is None:
        columns = [c for c in columns if c not in ("corrupted", "true_label", "true_class")]
    if paths is None:
        columns.remove("path")
    if (fold_of < 0).all():
        columns.remove("fold")
    table = []
    for rank, i in enumerate(order.tolist(), start=1):
        row: dict[str, Any] = {
            "rank": rank,
            "index": i,
            "source_index": int(source_index[i]),
            "given_label": int(labels[i]),
            "given_class": name(int(labels[i])),
            "suggested_label": int(suggested[i]),
            "suggested_class": name(int(suggested[i])),
            "p_given": float(p_given[i]),
            "p_suggested": float(p_suggested[i]),
            "rank_score": float(scores[i]),
            "flagged": int(is_flagged[i]),
            "fold": int(fold_of[i]),
        }
        if corrupted is not None:
            row["corrupted"] = int(corrupted[i])
            row["true_label"] = int(true_labels[i])
            row["true_class"] = name(int(true_labels[i]))
        if paths is not None:
            row["path"] = paths[int(source_index[i])]
        table.append(row)
    return table, columns


def read_detections(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a run folder's detections.csv (strings, as written), most suspect first."""
    with (Path(run_dir) / "detections.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ----- the shared core ---------------------------------------------------------------------


def _execute(
    cfg: RunConfig,
    out_dir: str | os.PathLike | None,
    *,
    command: str,
    quiet: bool,
    overwrite: bool,
    finalize: Callable[[Path], None] | None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    chash = config_hash(cfg)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        _check_out_dir(out, command, chash, overwrite)  # fail before any training

    _log(quiet, f"loading {cfg.dataset or cfg.data}")
    data = _load(cfg)
    num_classes = _check_labels(data)
    source_index = _stratified_subset(data.labels, cfg.subset, cfg.seed)
    images = data.images[source_index]
    given = data.labels[source_index].astype(np.int64)
    n = given.shape[0]

    corruption: dict[str, Any] | None = None
    true_labels: np.ndarray | None = None
    corrupted: np.ndarray | None = None
    if command == "run":
        true_labels = given
        rng = np.random.default_rng(cfg.resolved_noise_seed)
        given, corrupted = corrupt_labels(
            true_labels, cfg.noise, num_classes=num_classes, kind=cfg.noise_kind, rng=rng
        )
        given = np.asarray(given, dtype=np.int64)
        corrupted = np.asarray(corrupted, dtype=bool)
        idx = np.flatnonzero(corrupted)
        corruption = {
            "seed": cfg.resolved_noise_seed,
            "kind": cfg.noise_kind,
            "rate": cfg.noise,
            "n": n,
            "num_classes": num_classes,
            "count": int(idx.size),
            "indices": idx.tolist(),
            "true_labels": true_labels[idx].tolist(),
            "noisy_labels": given[idx].tolist(),
            "source": data.source,
            "source_indices": None if cfg.subset is None else source_index.tolist(),
        }
        _log(quiet, f"corrupted {idx.size} of {n} labels ({cfg.noise_kind}, rate {cfg.noise})")

    _log(quiet, f"training: protocol {cfg.protocol}, loss {cfg.loss}, {n} examples")
    pred_probs, info = predicted_probabilities(
        images,
        given,
        train_config_for(cfg),
        protocol=cfg.protocol,
        folds=cfg.folds,
        seed=cfg.seed,
        num_classes=num_classes,
        true_labels=true_labels,
        test=data.test,
        quiet=quiet,
        checkpoint_dir=checkpoint_dir,
        resume_dir=resume_dir,
    )

    flagged = find_label_errors(
        given, pred_probs, method=cfg.method, rank_by=cfg.rank_by, **_DETECT_FIXED
    )
    scores = rank_scores(given, pred_probs, rank_by=cfg.rank_by)
    per_class = estimate_errors_per_class(given, pred_probs)
    history = _history_rows(info)
    test_accs = info["test_acc_per_model"]

    summary: dict[str, Any] = {"command": command}
    if command == "run":
        summary.update(score_detections(flagged, corrupted))
    else:
        summary["flagged"] = int(flagged.size)
    summary.update(
        {
            "test_acc": None if not test_accs else float(np.mean(test_accs)),
            "test_acc_per_model": test_accs,
            "n": n,
            "num_classes": num_classes,
            "class_names": data.class_names,
            "estimated_errors": int(per_class.sum()),
            "estimated_errors_per_class": {
                data.class_names[k] if k < len(data.class_names) else str(k): int(v)
                for k, v in enumerate(per_class)
            },
            "protocol": cfg.protocol,
            "protocol_note": PROTOCOL_NOTES[cfg.protocol],
            "config": cfg.resolved(),
            "config_hash": chash,
            "loss_params_effective": cfg.effective_loss_params(),
            "history": history,
            "out_dir": None if out is None else str(out),
        }
    )

    table, columns = _detection_table(
        given,
        pred_probs,
        flagged,
        scores,
        class_names=data.class_names,
        source_index=source_index,
        fold_of=info["fold_of"],
        corrupted=corrupted,
        true_labels=true_labels,
        paths=data.paths,
    )
    summary["top_suspects"] = table[: min(10, int(flagged.size))]

    with _staging(out, command, chash, overwrite) as tmp:
        if tmp is not None:
            summary["seconds"] = time.perf_counter() - start
            _write_json(
                tmp / "config.json",
                {
                    "command": command,
                    "config": cfg.resolved(),
                    "config_hash": chash,
                    "protocol_note": PROTOCOL_NOTES[cfg.protocol],
                    "loss_params_effective": cfg.effective_loss_params(),
                    "train_config": info["train_config"],
                    "detect": {"method": cfg.method, "rank_by": cfg.rank_by, **_DETECT_FIXED},
                    "seeds": {
                        "seed": cfg.seed,
                        "noise_seed": cfg.resolved_noise_seed if command == "run" else None,
                        "subset_seed": None
                        if cfg.subset is None
                        else derive_seed(cfg.seed, SUBSET_STREAM),
                        "split_seed": info["split_seed"],
                        "model_seeds": info["seeds"],
                    },
                    "source": data.source,
                    "resumed_from_warmup": None if resume_dir is None else str(resume_dir),
                    "environment": info["environment"],
                    "robustloss": __version__,
                    "argv": sys.argv,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
            )
            _write_json(tmp / "history.json", history)
            hist_cols = list(dict.fromkeys(k for row in history for k in row))
            _write_csv(tmp / "history.csv", history, hist_cols)
            if corruption is not None:
                _write_json(tmp / "corruption.json", corruption)
            np.save(tmp / "pred_probs.npy", pred_probs)
            _write_csv(tmp / "detections.csv", table, columns)
            top = flagged[:GALLERY_SIZE]
            # With a known corruption, the flagged examples we did NOT corrupt are the most
            # interesting ones: errors in the original labels, or truly ambiguous images.
            unexpected = (
                flagged[~corrupted[flagged]][:GALLERY_SIZE]
                if corrupted is not None
                else flagged[:0]
            )
            np.savez_compressed(
                tmp / "suspect_images.npz",
                indices=top,
                images=np.asarray(images[top], dtype=np.uint8),
                unexpected_indices=unexpected,
                unexpected_images=np.asarray(images[unexpected], dtype=np.uint8),
            )
            _write_json(tmp / "summary.json", summary)
            if finalize is not None:
                finalize(tmp)
    summary["seconds"] = time.perf_counter() - start
    if out is not None:
        # summary.json keeps the time to the end of writing; the return value to the end.
        _log(quiet, f"run folder: {out}")
    return summary


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
) -> dict[str, Any]:
    """Corrupt a dataset's labels, train, find the wrong labels and score them.

    Args:
        config: a :class:`RunConfig` or a dict for :meth:`RunConfig.from_dict`.
        out_dir: the run folder to write (see the module docstring); None writes nothing.
        quiet: no progress on stderr.
        overwrite: replace a run folder that holds a different (or the same) run.
        finalize: called with the complete temporary run folder before it is moved into
            place, to add files (the CLI passes ``robustloss.report.gallery.write_report``,
            which draws suspects.png and report.html). If it raises, no folder is left.
        checkpoint_dir: save every model's checkpoint after every epoch there
            (``model-{k}/epoch-{e:03d}.pt``); used by sweeps to record a shared warm-up.
        resume_dir: start every model from such a warm-up's checkpoint at ``config.delay``
            (see :func:`robustloss.experiments.protocols.predicted_probabilities`).

    Returns:
        The summary: ``precision``, ``recall``, ``f1``, ``flagged``, ``correct`` and
        ``corrupted`` (as :func:`robustloss.detect.score_detections`; 0/0 gives 0.0),
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
) -> dict[str, Any]:
    """Find probably-wrong labels in the user's own data (no corruption, no ground truth).

    ``path`` is an image folder (one sub-folder per class) or an ``.npz``; ``config`` gives
    the training and detection settings (its dataset/data/noise fields are replaced by
    ``data=path``, ``noise=0``). The run folder holds detections.csv ranked by suspicion (with
    file paths and class names for a folder), suspect_images.npz, and a summary with
    ``flagged``, ``estimated_errors_per_class`` (cleanlab's calibrated confident joint; an
    estimate of how many labels of each given class are wrong), ``top_suspects`` and the
    training history; ``finalize`` as in :func:`run_experiment`.
    """
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, RunConfig):
        base = config.to_dict()
    else:
        base = dict(config)
    base.update({"dataset": None, "data": str(path), "noise": 0.0, "noise_seed": None})
    cfg = RunConfig.from_dict(base)
    return _execute(
        cfg, out_dir, command="detect", quiet=quiet, overwrite=overwrite, finalize=finalize
    )
