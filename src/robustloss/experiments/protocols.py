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

Seeds: the folds come from ``seed``; fold k's model (initial weights, batch order, dropout)
from :func:`derive_seed` ``(train_config.seed, FOLD_STREAM, k)``; ``in-sample`` uses
``train_config.seed`` itself, so it equals a plain :func:`robustloss.train.train` call.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from robustloss.train import TrainConfig, predict_proba, train
from robustloss.train.checkpoint import checkpoint_path

__all__ = ["FOLD_STREAM", "SPLIT_STREAM", "derive_seed", "predicted_probabilities"]

#: Stream ids that keep derived seeds for different purposes apart.
SPLIT_STREAM = 1
FOLD_STREAM = 2

PROTOCOL_NOTES: dict[str, str] = {
    "in-sample": "one model trained on all examples and asked about those same examples",
    "cv": "stratified K-fold, a fresh model per fold, out-of-fold probabilities "
    "(what cleanlab recommends)",
    "paper-cv": "reproduces the authors' protocol: KFold(shuffle=True) with ONE model carried "
    "across folds (fresh Adam per fold), so folds 2..K are partly in-sample; not recommended",
}


def derive_seed(base: int, *keys: int) -> int:
    """A 31-bit seed for purpose ``keys`` derived from ``base`` (numpy ``SeedSequence``).

    Distinct ``keys`` give statistically independent streams; the same inputs always give
    the same seed, on every machine.
    """
    state = np.random.SeedSequence([int(base), *map(int, keys)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def _accuracy(model, images, labels) -> float:
    probs = predict_proba(model, images)
    return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


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
) -> tuple[np.ndarray, dict[str, Any]]:
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
            on it is recorded (and ``in-sample`` records it per epoch too).
        quiet: no progress bars.
        checkpoint_dir: save model k's checkpoint after every epoch in
            ``checkpoint_dir/model-{k}/epoch-{e:03d}.pt`` (k = fold, 0 for in-sample).
        resume_dir: a folder written with ``checkpoint_dir`` by a cross-entropy warm-up of
            this same data, protocol and seed: model k starts from its checkpoint after
            ``train_config.delay`` epochs (shared warm-ups; bitwise equal to training alone,
            per ``robustloss.train``'s ``resume_from``). Not for ``paper-cv``, whose folds
            depend on each other. Ignored when ``delay == 0``.

    Returns:
        ``(pred_probs, info)``: pred_probs (N, K) float64; info holds ``protocol``, ``note``,
        ``folds`` (None for in-sample), ``fold_of`` ((N,) int64 fold that held each example
        out, -1 for in-sample), ``histories`` (one per-epoch list per model), ``models``,
        ``seeds`` (model seeds), ``split_seed``, ``test_acc_per_model`` (or None),
        ``train_config`` (the first model's resolved training config) and ``environment``.
    """
    if protocol not in PROTOCOL_NOTES:
        raise ValueError(
            f"Expected `protocol` to be one of {list(PROTOCOL_NOTES)}, but got {protocol!r}"
        )
    labels = np.asarray(labels)
    n = labels.shape[0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    if resume_dir is not None and protocol == "paper-cv":
        raise ValueError(
            "resume_dir (a shared warm-up) does not apply to protocol 'paper-cv': its folds "
            "carry one model, so a fold's start depends on the loss of the folds before it"
        )
    if protocol != "in-sample":
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ValueError(f"Expected `folds` to be an integer >= 2, but got {folds!r}")
        if folds > n:
            raise ValueError(f"Expected `folds` <= the number of examples ({n}), but got {folds}")

    def fit(config: TrainConfig, idx: np.ndarray | None, k: int, model=None):
        sel = slice(None) if idx is None else idx
        extra: dict[str, Any] = {}
        if checkpoint_dir is not None:
            extra["checkpoint_dir"] = Path(checkpoint_dir) / f"model-{k}"
        if resume_dir is not None and config.delay > 0:
            start = checkpoint_path(Path(resume_dir) / f"model-{k}", config.delay)
            if not start.is_file():
                raise ValueError(f"resume_dir: no warm-up checkpoint {start}")
            extra["resume_from"] = start
        return train(
            config,
            images[sel],
            labels[sel],
            true_labels=None if true_labels is None else np.asarray(true_labels)[sel],
            test_images=test[0] if (test is not None and protocol == "in-sample") else None,
            test_labels=test[1] if (test is not None and protocol == "in-sample") else None,
            num_classes=num_classes,
            model=model,
            quiet=quiet,
            **extra,
        )

    info: dict[str, Any] = {
        "protocol": protocol,
        "note": PROTOCOL_NOTES[protocol],
        "folds": None if protocol == "in-sample" else folds,
        "split_seed": None,
        "histories": [],
        "models": [],
        "seeds": [],
        "test_acc_per_model": None if test is None else [],
    }

    if protocol == "in-sample":
        result = fit(train_config, None, 0)
        pred_probs = predict_proba(result.model, images)
        fold_of = np.full(n, -1, dtype=np.int64)
        results = [result]
        info["seeds"].append(train_config.seed)
        if test is not None:  # evaluated by train() after the last epoch already
            last = result.history[-1].get("test_acc") if result.history else None
            acc = _accuracy(result.model, *test) if last is None else float(last)
            info["test_acc_per_model"].append(acc)
    else:
        split_seed = derive_seed(seed, SPLIT_STREAM)
        info["split_seed"] = split_seed
        if protocol == "cv":
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=split_seed)
        else:
            splitter = KFold(n_splits=folds, shuffle=True, random_state=split_seed)
        pred_probs = np.full((n, num_classes), np.nan, dtype=np.float64)
        fold_of = np.full(n, -1, dtype=np.int64)
        results = []
        model = None
        for k, (train_idx, held_idx) in enumerate(splitter.split(np.zeros(n), labels)):
            fold_seed = derive_seed(train_config.seed, FOLD_STREAM, k)
            config = dataclasses.replace(train_config, seed=fold_seed)
            # cv: a fresh model per fold; paper-cv: the previous fold's model, trained on.
            result = fit(config, train_idx, k, model=model if protocol == "paper-cv" else None)
            pred_probs[held_idx] = predict_proba(result.model, images[held_idx])
            fold_of[held_idx] = k
            if test is not None:  # now: under paper-cv the next fold trains this model on
                info["test_acc_per_model"].append(_accuracy(result.model, *test))
            results.append(result)
            info["seeds"].append(fold_seed)
            model = result.model
        if np.isnan(pred_probs).any():  # pragma: no cover - KFold covers every example
            raise RuntimeError("some examples were never held out")

    for result in results:
        history = [dict(row) for row in result.history]
        info["histories"].append(history)
        info["models"].append(result.model)
    info["fold_of"] = fold_of
    info["train_config"] = dict(results[0].config)
    info["environment"] = dict(results[0].environment)
    return pred_probs, info
