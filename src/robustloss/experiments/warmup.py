"""Shared cross-entropy warm-ups: train the first ``d`` epochs once for many trials.

A trial with delay ``d`` trains with cross entropy for its first ``d`` epochs, whatever its
loss. Trials that differ only in what happens from their delay on (the loss, its
hyperparameters, the delay, the number of epochs, and the detection settings, which come
after training) therefore share those epochs: one *warm-up* run trains cross entropy for
``D = max(d)`` epochs, saving a checkpoint of every model after every epoch, and each
trial starts from the checkpoint at its own delay. Everything goes through the protocol
layer, so under ``cv`` each fold's model has its own warm-up checkpoints. Results are
bitwise equal to running each trial alone (``robustloss.train``'s ``resume_from``
contract; tested on CPU fp32).

Epoch accounting, per trial ``i`` with ``E_i`` epochs, delay ``d_i`` and ``m_i`` models
(``folds`` under ``cv``, 1 ``in-sample``): alone ``sum_i m_i E_i``; shared
``m D + sum_i m_i (E_i - d_i)`` for the members of a group. For the 9-point delay sweep
``d = 0..8`` at ``E = 10`` that is ``(8 + 54) / 90 = 0.69`` of the epochs alone; for the
paper's Figure 6 (Blurry and Piecewise-zero over the same delays) ``(8 + 108) / 180 = 0.64``.

Only ``in-sample`` and ``cv`` share warm-ups: under ``paper-cv`` one model is carried
across folds, so a fold's starting point depends on the loss of the folds before it.
Checkpoints go to ``<warmup_dir>/<spec name>-<group key>/model-<k>/epoch-<e>.pt``; a
``warmup.json`` marker written last says a warm-up is complete, so a restarted sweep reuses
it. The folder is deleted once every trial of the group is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustloss._io import atomic_write_text
from robustloss.experiments.config import LOSS_FIELDS

#: Settings that may differ between trials sharing a warm-up.
WARMUP_INDEPENDENT: tuple[str, ...] = (
    "loss",
    *LOSS_FIELDS,
    "delay",
    "epochs",
    "method",
    "rank_by",
)
#: Protocols whose models can start from a shared warm-up.
SHAREABLE_PROTOCOLS: tuple[str, ...] = ("in-sample", "cv")
MARKER = "warmup.json"


def models_per_trial(config: dict[str, Any]) -> int:
    """Models one trial trains: ``folds`` under a K-fold protocol, else 1."""
    return 1 if config.get("protocol", "in-sample") == "in-sample" else int(config["folds"])


def trial_epochs(config: dict[str, Any]) -> int:
    """Epochs one trial costs run alone, over all of its models (fold-epochs)."""
    return int(config["epochs"]) * models_per_trial(config)


def group_key(config: dict[str, Any]) -> str:
    """Hash of everything a warm-up depends on (the config minus WARMUP_INDEPENDENT)."""
    shared = {k: v for k, v in sorted(config.items()) if k not in WARMUP_INDEPENDENT}
    text = json.dumps(shared, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def warmup_config(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The cross-entropy run that serves as warm-up: ``epochs`` epochs, all of them CE.

    ``delay = epochs`` says so explicitly: every epoch is warm-up, which is what lets a
    trial with a larger delay resume from any of its checkpoints.
    """
    out = dict(config)
    out.update(dict.fromkeys(LOSS_FIELDS))
    out.update(loss="ce", delay=epochs, epochs=epochs)
    return out


@dataclass(frozen=True)
class WarmupGroup:
    """Trials (``members``, by hash) that share one ``epochs``-epoch CE warm-up."""

    key: str
    config: dict[str, Any]
    epochs: int
    members: tuple[str, ...]
    models: int
    member_delays: tuple[int, ...] = ()

    @property
    def epochs_saved(self) -> int:
        return self.models * (sum(self.member_delays) - self.epochs)


@dataclass
class WarmupPlan:
    """Which trials share which warm-up, and the epochs that costs."""

    groups: list[WarmupGroup] = field(default_factory=list)
    assignment: dict[str, WarmupGroup] = field(default_factory=dict)
    epochs_alone: int = 0
    epochs_shared: int = 0

    @property
    def epochs_saved(self) -> int:
        return self.epochs_alone - self.epochs_shared

    @property
    def ratio(self) -> float:
        """Epochs with shared warm-ups / epochs alone (1.0 when nothing is shared)."""
        return self.epochs_shared / self.epochs_alone if self.epochs_alone else 1.0


def plan_warmups(
    trials: Sequence[tuple[str, dict[str, Any]]], *, enabled: bool = True
) -> WarmupPlan:
    """Group ``(hash, config)`` trials into shared warm-ups.

    A group needs at least two trials with a delay > 0 on a shareable protocol; a lone
    delayed trial trains its own warm-up (sharing would save nothing).
    """
    plan = WarmupPlan()
    plan.epochs_alone = sum(trial_epochs(c) for _, c in trials)
    plan.epochs_shared = plan.epochs_alone
    if not enabled:
        return plan
    candidates: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for h, config in trials:
        if config.get("delay", 0) > 0 and config.get("protocol") in SHAREABLE_PROTOCOLS:
            candidates.setdefault(group_key(config), []).append((h, config))
    for key, members in candidates.items():
        if len(members) < 2:
            continue
        delays = tuple(int(c["delay"]) for _, c in members)
        epochs = max(delays)
        group = WarmupGroup(
            key=key,
            config=warmup_config(members[0][1], epochs),
            epochs=epochs,
            members=tuple(h for h, _ in members),
            models=models_per_trial(members[0][1]),
            member_delays=delays,
        )
        plan.groups.append(group)
        plan.assignment.update(dict.fromkeys(group.members, group))
        plan.epochs_shared -= group.epochs_saved
    return plan


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def warmup_complete(folder: str | os.PathLike[str], epochs: int) -> bool:
    """Whether ``folder`` holds a finished warm-up of at least ``epochs`` epochs."""
    marker = _read_marker(Path(folder))
    return marker is not None and int(marker.get("epochs", -1)) >= epochs


def run_warmup(
    config: dict[str, Any], checkpoint_dir: str | os.PathLike[str], *, quiet: bool = True
) -> dict[str, Any]:
    """Train the CE warm-up ``config`` through the pipeline, checkpointing every epoch.

    Reuses a complete warm-up already in ``checkpoint_dir``; otherwise starts it afresh.
    Returns ``{"epochs", "reused", "seconds"}``. Runs on a worker.
    """
    from robustloss.experiments.pipeline import RunConfig, run_experiment

    folder = Path(checkpoint_dir)
    epochs = int(config["epochs"])
    if warmup_complete(folder, epochs):
        return {"epochs": epochs, "reused": True, "seconds": 0.0}
    start = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    run_experiment(RunConfig.from_dict(config), quiet=quiet, checkpoint_dir=folder)
    marker = {"epochs": epochs, "config": config, "finished": time.time()}
    # Atomic: the marker exists only once everything else is written.
    atomic_write_text(folder / MARKER, json.dumps(marker, sort_keys=True, default=str))
    return {"epochs": epochs, "reused": False, "seconds": time.perf_counter() - start}


def execute_warmup(
    config: dict[str, Any],
    checkpoint_dir: str,
    *,
    threads: int | None = 1,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Worker entry point: :func:`run_warmup` as a plain record, never raising.

    ``{"status": "done"|"failed", "error": traceback text or None, ...}``; the trials that
    depend on it fail with this error when it failed.
    """
    from robustloss.experiments.sweep import prepare_worker, worker_name

    try:
        config = prepare_worker(config, threads=threads, data_root=data_root)
        info = run_warmup(config, checkpoint_dir)
    except Exception:
        return {"status": "failed", "error": traceback.format_exc(), "worker": worker_name()}
    return {"status": "done", "error": None, "worker": worker_name(), **info}


def remove_warmup(checkpoint_dir: str | os.PathLike[str]) -> None:
    """Delete a warm-up's checkpoints (once every trial that needed them is done)."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
