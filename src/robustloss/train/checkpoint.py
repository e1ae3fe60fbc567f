"""Training checkpoints: everything needed to continue a run bitwise, written atomically.

A checkpoint after epoch k (``epoch-{k:03d}.pt``, k epochs done) holds the model and
optimizer states, k, every random state the run draws from (torch's global CPU generator,
which drives dropout on a CPU; the GPU's generator when training on one; the generator of the
per-epoch permutations; numpy's global state is not used by training and not stored),
the gradient scaler's state under float16 AMP, the history so far, the resolved config,
and a fingerprint of the training data. Files are read with ``torch.load(weights_only=True)``:
loading one runs no pickled code.

In memory a checkpoint is a :class:`Checkpoint` record, whose fields are the one place its
keys live; on disk it is the plain dict of :meth:`Checkpoint.to_dict` (``format``,
``version`` and the fields), so files written before the record existed read the same.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from robustloss._io import atomic_open
from robustloss.train.config import TrainConfig

FORMAT = "robustloss-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """The state of a run after ``epoch`` epochs: all it takes to continue it bitwise.

    Attributes:
        epoch: epochs done (k in ``epoch-{k:03d}.pt``).
        config: the resolved ``TrainConfig`` as a dict.
        model_state: the model's ``state_dict``, on the CPU.
        optimizer_state, scaler_state: their ``state_dict``; no scaler: None.
        torch_rng_state: torch's global CPU generator (dropout on a CPU).
        device_rng_state: the GPU's global generator, or None on a CPU.
        permutation_rng_state: the generator of the per-epoch batch order.
        history: the per-epoch records so far (``HISTORY_KEYS``).
        data: the training data's fingerprint, or None.
    """

    epoch: int
    config: dict[str, Any]
    model_state: dict[str, Tensor]
    optimizer_state: dict[str, Any]
    scaler_state: dict[str, Any] | None
    torch_rng_state: Tensor
    device_rng_state: Tensor | None
    permutation_rng_state: Tensor
    history: list[dict[str, Any]]
    data: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The dict written to disk: ``format``, ``version``, then every field (not copied)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"format": FORMAT, "version": VERSION, **fields}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Checkpoint:
        """The record of a dict read by :func:`load_checkpoint` (extra keys are ignored)."""
        return cls(**{f.name: state[f.name] for f in dataclasses.fields(cls)})


#: The keys of a checkpoint file: derived from :class:`Checkpoint`.
REQUIRED_KEYS: tuple[str, ...] = (
    "format",
    "version",
    *(f.name for f in dataclasses.fields(Checkpoint)),
)
# Settings that may differ between a checkpoint's run and the run resuming from it.
# threads: thread count can change the last bits of CPU reductions; it is allowed so that a
# run can be resumed on another machine, and bitwise equality is promised for equal threads.
RESUMABLE_DIFFERENCES: tuple[str, ...] = (
    "loss",
    "loss_params",
    "delay",
    "epochs",
    "threads",
    "test_every",  # evaluation draws no random numbers: the weights do not depend on it
    "record_margins",  # reads the logits under no_grad: the weights do not depend on it
)


def checkpoint_path(directory: str | os.PathLike[str], epoch: int) -> Path:
    """``directory/epoch-{epoch:03d}.pt``: the checkpoint written after ``epoch`` epochs."""
    return Path(directory) / f"epoch-{epoch:03d}.pt"


def save_checkpoint(path: str | os.PathLike[str], state: Checkpoint | dict[str, Any]) -> Path:
    """Write ``state`` (a :class:`Checkpoint`, or a dict with :data:`REQUIRED_KEYS`) atomically.

    The file is written next to its destination and renamed over it, so a crash leaves
    either the old file or the new one, never half of one.
    """
    if isinstance(state, Checkpoint):
        state = state.to_dict()
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state is missing key(s) {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", fsync=True) as f:
        torch.save(state, f)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, checking its format."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"checkpoint {str(path)!r} could not be read: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a robustloss checkpoint")
    if state.get("version") != VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version {state.get('version')!r}, "
            f"this robustloss reads version {VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} is missing key(s) {missing}")
    return state


def _as_dict(config: TrainConfig | dict[str, Any]) -> dict[str, Any]:
    return config.to_dict() if isinstance(config, TrainConfig) else dict(config)


def _loss_at(config: dict[str, Any], epoch: int) -> tuple[str, dict[str, Any]]:
    """The loss (name, params) a config trains with in 0-based ``epoch``."""
    if config["loss"] == "ce" or epoch < config["delay"]:
        return ("ce", {})
    return (config["loss"], dict(config["loss_params"]))


def warmup_compatible(
    ckpt_config: TrainConfig | dict[str, Any], config: TrainConfig | dict[str, Any], epoch: int
) -> None:
    """Check that a run with ``config`` may continue from a checkpoint after ``epoch`` epochs.

    Allowed when the two (resolved) configs agree on everything except
    :data:`RESUMABLE_DIFFERENCES`, ``epoch <= config.epochs``, and both used the same loss
    in each of the first ``epoch`` epochs: cross entropy for a loss of ``"ce"`` or an epoch
    below the delay, else the loss with its parameters. That is what lets a sweep train the
    cross-entropy warm-up once: a CE run's checkpoint after k epochs serves every config
    with ``delay >= k``.

    Raises:
        ValueError: explaining the first mismatch found.
    """
    a, b = _as_dict(ckpt_config), _as_dict(config)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"Expected `epoch` to be an int >= 0, but got {epoch!r}")
    fields = sorted((set(a) | set(b)) - set(RESUMABLE_DIFFERENCES))
    diffs = [
        f"{k}: checkpoint {a.get(k)!r}, config {b.get(k)!r}" for k in fields if a.get(k) != b.get(k)
    ]
    if diffs:
        raise ValueError(
            "cannot resume: the checkpoint's run differs in setting(s) that decide the first "
            f"epochs' numbers ({'; '.join(diffs)}); only {list(RESUMABLE_DIFFERENCES)} may differ"
        )
    if epoch > b["epochs"]:
        raise ValueError(
            f"cannot resume: the checkpoint has {epoch} epochs done, more than the config's "
            f"epochs={b['epochs']}"
        )
    for e in range(epoch):
        used, wanted = _loss_at(a, e), _loss_at(b, e)
        if used != wanted:
            raise ValueError(
                f"cannot resume from a checkpoint after {epoch} epochs: in epoch {e} (0-based) "
                f"the checkpoint's run trained with {used[0]!r} {used[1]} (loss={a['loss']!r}, "
                f"delay={a['delay']}) but this config trains with {wanted[0]!r} {wanted[1]} "
                f"(loss={b['loss']!r}, delay={b['delay']}); a warm-up checkpoint after k "
                "epochs serves configs whose delay is >= k"
            )
