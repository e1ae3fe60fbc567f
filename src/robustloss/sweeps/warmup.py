"""Shared cross-entropy warm-ups: train the first ``d`` epochs once for many trials.

A trial with delay ``d`` trains with cross entropy for its first ``d`` epochs, whatever its
loss. Trials that differ only in what happens from their delay on (the loss, its
hyperparameters, the delay, the number of epochs, and the detection settings, which come
after training) therefore share those epochs: one *warm-up* trains cross entropy for at
least ``D = max(d)`` epochs, saving a checkpoint of every model after every epoch, and each
delayed trial (a *member*) starts from the checkpoint at its own delay. Everything goes
through the protocol layer, so under ``cv`` each fold's model has its own warm-up
checkpoints. Results are bitwise equal to running each trial alone (``robustloss.train``'s
``resume_from`` contract; tested on CPU fp32).

The warm-up of a group comes from, in this order of preference:

1. a complete warm-up of ``>= D`` epochs already on disk (left by a stopped sweep): free;
2. a plain cross-entropy trial of the group (``loss = "ce"``, ``>= D`` epochs): its first
   ``D`` epochs are the warm-up's computation exactly (cross entropy, same seeds, same
   folds), so it runs as a normal trial with checkpoints and *is* the warm-up: free too;
3. a dedicated CE run of ``D`` epochs (:func:`warmup_config`), which costs ``D`` epochs per
   model and so pays off only for two or more members.

Epoch accounting, per trial ``i`` with ``E_i`` epochs, delay ``d_i`` and ``m`` models
(``folds`` under ``cv``, 1 ``in-sample``): alone ``sum_i m E_i``; shared, a member costs
``m (E_i - d_i)`` and a dedicated warm-up ``m D`` (a CE trial's epochs count once, as a
trial). The 9-point delay sweep ``d = 0..8`` at ``E = 10`` costs ``(8 + 54) / 90 = 0.69``
of its epochs alone with a dedicated warm-up, ``64 / 100 = 0.64`` with a CE trial beside it;
the paper's Figure 6 (Blurry and Piecewise-zero over those delays, CE and Focal baselines)
``128 / 200 = 0.64``.

Only ``in-sample`` and ``cv`` share warm-ups: under ``paper-cv`` one model is carried
across folds, so a fold's starting point depends on the loss of the folds before it.
Checkpoints go to ``<warmup_dir>/<spec name>-<group key>/model-<k>/epoch-<e>.pt``
(:func:`warmup_folder`); a ``warmup.json`` marker written last says a warm-up is complete,
so a restarted sweep reuses it. The folder is deleted once every trial of the group is done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from robustloss.detect import needs
from robustloss.run.config import LOSS_FIELDS, RunConfig
from robustloss.search.criteria import MAX_RATIO

#: Settings that may differ between trials sharing a warm-up.
WARMUP_INDEPENDENT: tuple[str, ...] = (
    "loss",
    *LOSS_FIELDS,
    "delay",
    "epochs",
    "method",
    "rank_by",
    "test_every",  # evaluation does not change the weights
)
#: Protocols whose models can start from a shared warm-up.
SHAREABLE_PROTOCOLS: tuple[str, ...] = ("in-sample", "cv")
MARKER = "warmup.json"


def models_per_trial(config: RunConfig) -> int:
    """Models one trial trains: ``folds`` under a K-fold protocol, else 1."""
    return 1 if config.protocol == "in-sample" else config.folds


def trial_epochs(config: RunConfig) -> int:
    """Epochs one trial costs run alone, over all of its models (fold-epochs); for a trial
    whose settings a search chooses (``loss="auto"``), at most the search's budget of
    :data:`~robustloss.search.criteria.MAX_RATIO` fixed runs."""
    epochs = config.epochs * models_per_trial(config)
    return math.ceil(epochs * MAX_RATIO) if config.chooses_settings else epochs


def group_key(config: RunConfig) -> str:
    """Hash of everything a warm-up depends on (the config minus WARMUP_INDEPENDENT)."""
    shared = {k: v for k, v in sorted(config.to_dict().items()) if k not in WARMUP_INDEPENDENT}
    text = json.dumps(shared, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def warmup_config(config: RunConfig, epochs: int) -> RunConfig:
    """The cross-entropy run that serves as warm-up: ``epochs`` epochs, all of them CE.

    ``delay = epochs`` says so explicitly: every epoch is warm-up, which is what lets a
    trial with a larger delay resume from any of its checkpoints.
    """
    return dataclasses.replace(
        config, **dict.fromkeys(LOSS_FIELDS), loss="ce", delay=epochs, epochs=epochs
    )


@dataclass(frozen=True)
class WarmupGroup:
    """Trials (``members``, by hash) that start from one warm-up of ``epochs`` epochs.

    ``source``: the hash of the plain CE trial of the sweep that is the warm-up, or None
    for a dedicated CE run; ``config``: what the warm-up runs (that trial's config, or
    :func:`warmup_config`); ``reused``: a complete dedicated warm-up is already on disk.
    """

    key: str
    config: RunConfig
    epochs: int
    members: tuple[str, ...]
    models: int
    member_delays: tuple[int, ...] = ()
    source: str | None = None
    reused: bool = False

    @property
    def kind(self) -> str:
        """``"trial"`` (a CE trial of the sweep), ``"on disk"`` or ``"run"`` (dedicated)."""
        if self.source is not None:
            return "trial"
        return "on disk" if self.reused else "run"

    @property
    def kept_epochs(self) -> tuple[int, ...]:
        """The checkpoints the members start from (after this many epochs): all that the
        warm-up keeps on disk."""
        return tuple(sorted(set(self.member_delays)))

    @property
    def trials(self) -> tuple[str, ...]:
        """Every trial of the sweep in the group: the source trial (if any), then members."""
        return self.members if self.source is None else (self.source, *self.members)

    @property
    def cost(self) -> int:
        """Fold-epochs the warm-up adds to the sweep (only a dedicated run still to train)."""
        return self.models * self.epochs if self.kind == "run" else 0

    @property
    def epochs_saved(self) -> int:
        return self.models * sum(self.member_delays) - self.cost


@dataclass
class WarmupPlan:
    """Which trials share which warm-up, and the epochs that costs.

    ``assignment`` maps every trial of a group (its source trial too) to the group.
    """

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
    trials: Sequence[tuple[str, RunConfig]],
    *,
    enabled: bool = True,
    on_disk: Callable[[str], frozenset[int]] | None = None,
) -> WarmupPlan:
    """Group the ``(hash, config)`` trials still to run into shared warm-ups.

    Trials of a shareable protocol with equal :func:`group_key` form a group: the members
    are those with a loss other than CE and a delay > 0, ``D`` their largest delay. The
    warm-up is, by preference (see the module docstring): a complete one on disk
    (``on_disk(key)`` gives the epochs whose checkpoints it kept; every member's delay must be
    among them), the first plain CE trial of the group with ``epochs >= D``, or a dedicated
    CE run, which is planned only for two or more members (for one it would save nothing).
    """
    plan = WarmupPlan()
    plan.epochs_alone = sum(trial_epochs(c) for _, c in trials)
    plan.epochs_shared = plan.epochs_alone
    if not enabled:
        return plan
    by_key: dict[str, list[tuple[str, RunConfig]]] = {}
    for h, config in trials:
        # Early stopping keeps its best epoch's weights, which no checkpoint holds: alone.
        # So does AUM: its margins sum over every epoch, the warm-up's too.
        margins = "aum" in needs(config.detectors_run())
        if config.protocol in SHAREABLE_PROTOCOLS and not config.early_stop and not margins:
            by_key.setdefault(group_key(config), []).append((h, config))
    for key, group_trials in by_key.items():
        group = _group(key, group_trials, on_disk)
        if group is not None:
            plan.groups.append(group)
            plan.assignment.update(dict.fromkeys(group.trials, group))
            plan.epochs_shared -= group.epochs_saved
    return plan


def _group(
    key: str,
    trials: list[tuple[str, RunConfig]],
    on_disk: Callable[[str], frozenset[int]] | None,
) -> WarmupGroup | None:
    """The warm-up group of trials with one :func:`group_key`, or None if none pays off."""
    members = [(h, c) for h, c in trials if c.loss != "ce" and c.delay > 0]
    if not members:
        return None
    delays = tuple(c.delay for _, c in members)
    epochs = max(delays)
    reused = on_disk is not None and set(delays) <= on_disk(key)
    ce_trials = [(h, c) for h, c in trials if c.loss == "ce" and c.epochs >= epochs]
    if reused or not ce_trials:  # a dedicated warm-up, on disk already or to train
        if not reused and len(members) < 2:
            return None  # training it for one member would save nothing
        source, config = None, warmup_config(members[0][1], epochs)
    else:  # the group's CE trial is the warm-up
        source, config = ce_trials[0]
    return WarmupGroup(
        key=key,
        config=config,
        epochs=epochs,
        members=tuple(h for h, _ in members),
        models=models_per_trial(config),
        member_delays=delays,
        source=source,
        reused=reused,
    )


def warmup_folder(warmup_dir: str | os.PathLike[str], spec_name: str, key: str) -> Path:
    """Where a group's checkpoints go: per spec, so two drivers never share one."""
    return Path(warmup_dir) / f"{spec_name}-{key}"


def warmup_epochs_on_disk(folder: str | os.PathLike[str]) -> frozenset[int]:
    """The epochs whose checkpoints the complete warm-up in ``folder`` kept (its marker's);
    empty if there is no complete warm-up."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
        kept = marker.get("kept")
        epochs = int(marker["epochs"])
        return frozenset(range(1, epochs + 1) if kept is None else map(int, kept))
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()


def warmup_complete(folder: str | os.PathLike[str], delays: Iterable[int]) -> bool:
    """Whether ``folder`` holds a finished warm-up with a checkpoint at every one of
    ``delays``."""
    return set(delays) <= warmup_epochs_on_disk(folder)


def remove_warmup(checkpoint_dir: str | os.PathLike[str]) -> None:
    """Delete a warm-up's checkpoints (once every trial that needed them is done)."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
