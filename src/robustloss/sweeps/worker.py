"""What runs on a Dask worker: one trial, or one dedicated shared warm-up.

The driver (:mod:`robustloss.sweeps.sweep`) sends each task a trial's config as
``RunConfig.to_dict()`` and gets back a :class:`~robustloss.sweeps.results.TrialRecord`
as ``to_dict()``: plain data both ways, so any worker that can import robustloss can run
it. Workers set their torch threads, point the data root at the driver's, run the trial and
never touch the results database. The entry points (:func:`execute_trial`,
:func:`execute_warmup`) never raise: a failure comes back as a record with its traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from robustloss._io import atomic_write_text
from robustloss.run.config import RunConfig
from robustloss.run.pipeline import run_experiment
from robustloss.sweeps.results import TrialRecord
from robustloss.sweeps.warmup import MARKER, warmup_complete
from robustloss.train.checkpoint import checkpoint_path

__all__ = [
    "TrialFn",
    "execute_trial",
    "execute_warmup",
    "prepare_worker",
    "run_trial",
    "run_warmup",
    "worker_name",
]

#: ``trial_fn(config, **folders) -> summary``: a RunSummary or its dict shape (a test's
#: stand-in returns a complete one: the store reads it back as a RunSummary); see
#: :func:`run_trial`.
TrialFn = Callable[..., Any]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _as_config(config: RunConfig | dict[str, Any]) -> RunConfig:
    """A config as received over the Dask boundary (a dict) or handed in directly."""
    return config if isinstance(config, RunConfig) else RunConfig.from_dict(config)


def prepare_worker(
    config: RunConfig, *, threads: int | None, data_root: str | None
) -> RunConfig:
    """Per-task worker set-up; returns ``config`` with its torch threads filled in.

    Points ``$ROBUSTLOSS_DATA`` at the driver's data root and sets torch's threads; a
    config whose ``threads`` is None (all cores) gets ``threads``, so a trial uses exactly
    what its worker was sized for (the config hash, computed by the driver, is unchanged).
    """
    if data_root is not None:
        os.environ["ROBUSTLOSS_DATA"] = data_root
    if threads is None:
        return config
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return config if config.threads is not None else dataclasses.replace(config, threads=threads)


def run_warmup(
    config: RunConfig | dict[str, Any],
    checkpoint_dir: str | os.PathLike[str],
    *,
    keep: Iterable[int] | None = None,
    quiet: bool = True,
) -> Any:
    """Run ``config`` through the pipeline into a fresh ``checkpoint_dir``; return its summary.

    Every model is checkpointed after every epoch while it trains; then only the epochs in
    ``keep`` (the group's delays; None keeps all) stay on disk: a paper-cnn checkpoint with
    its Adam state is about 14 MB a model, so a 5-fold, 10-epoch warm-up would otherwise
    hold about 700 MB. The ``warmup.json`` marker (``epochs``, ``kept``, the config) is
    written last, atomically, so it exists only for a complete warm-up. ``config`` trains
    cross entropy throughout: a dedicated warm-up
    (:func:`~robustloss.sweeps.warmup.warmup_config`) or a plain CE trial of the sweep.
    """
    config = _as_config(config)
    folder = Path(checkpoint_dir)
    shutil.rmtree(folder, ignore_errors=True)  # an interrupted warm-up starts afresh
    folder.mkdir(parents=True, exist_ok=True)
    summary = run_experiment(config, quiet=quiet, checkpoint_dir=folder)
    epochs = config.epochs
    kept = sorted(set(range(1, epochs + 1) if keep is None else map(int, keep)))
    for model_dir in folder.glob("model-*"):
        for epoch in range(1, epochs + 1):
            if epoch not in kept:
                checkpoint_path(model_dir, epoch).unlink(missing_ok=True)
    marker = {"epochs": epochs, "kept": kept, "config": config.to_dict(),
              "finished": time.time()}
    atomic_write_text(folder / MARKER, json.dumps(marker, sort_keys=True, default=str))
    return summary


def run_trial(
    config: RunConfig,
    *,
    resume_dir: str | None = None,
    checkpoint_dir: str | None = None,
    keep: Sequence[int] | None = None,
) -> Any:
    """The default trial: :func:`~robustloss.run.pipeline.run_experiment`'s summary.

    With ``resume_dir`` every model starts from its shared warm-up checkpoint; with
    ``checkpoint_dir`` this (plain CE) trial is a shared warm-up itself, keeping the
    checkpoints of the epochs in ``keep`` (:func:`run_warmup`).
    """
    if checkpoint_dir is not None:
        return run_warmup(config, checkpoint_dir, keep=keep)
    kwargs: dict[str, Any] = {} if resume_dir is None else {"resume_dir": resume_dir}
    return run_experiment(config, quiet=True, **kwargs)


def _summary_dict(summary: Any) -> dict[str, Any]:
    """A trial's summary in ``RunSummary.to_dict()``'s shape (a dict passes as it is)."""
    return summary.to_dict() if hasattr(summary, "to_dict") else summary


def _check_warmup(warmup: dict[str, Any] | None) -> None:
    """Raise if the shared warm-up this trial starts from failed (its record's error)."""
    if warmup is not None and warmup.get("status") != "done":
        raise RuntimeError(f"the shared warm-up failed on {warmup.get('worker')}:\n"
                           f"{warmup.get('error')}")


def execute_trial(
    config: RunConfig | dict[str, Any],
    *,
    trial_fn: TrialFn | None = None,
    threads: int | None = 1,
    data_root: str | None = None,
    resume_dir: str | None = None,
    checkpoint_dir: str | None = None,
    keep: Sequence[int] | None = None,
    warmup: dict[str, Any] | None = None,
    trial_hash: str | None = None,
) -> dict[str, Any]:
    """Worker entry point: run one trial and return its record as a dict, never raising.

    ``trial_fn(config, **kw) -> summary`` (default :func:`run_trial`; ``resume_dir``,
    ``checkpoint_dir`` and ``keep`` are passed only when set). ``warmup`` is the record of the
    shared warm-up this trial depends on (Dask passes the result of its task: a dedicated
    warm-up's or the source trial's record). See :func:`prepare_worker` for ``threads`` and
    ``data_root``.

    Returns:
        :meth:`TrialRecord.to_dict`: ``status`` ("done"/"failed"), ``summary`` (dict or
        None), ``error`` (traceback text or None), ``worker`` ("host:pid"), ``seconds``.
    """
    start = time.perf_counter()
    summary, error = None, None
    try:
        _check_warmup(warmup)
        run_config = prepare_worker(_as_config(config), threads=threads, data_root=data_root)
        folders = {"resume_dir": resume_dir, "checkpoint_dir": checkpoint_dir, "keep": keep}
        fn = trial_fn or run_trial
        summary = _summary_dict(
            fn(run_config, **{k: v for k, v in folders.items() if v is not None})
        )
    except Exception:
        error = traceback.format_exc()
    return TrialRecord(
        status="done" if error is None else "failed",
        summary=summary,
        error=error,
        worker=worker_name(),
        seconds=time.perf_counter() - start,
        hash=trial_hash,
    ).to_dict()


def execute_warmup(
    config: RunConfig | dict[str, Any],
    checkpoint_dir: str,
    *,
    keep: Sequence[int] | None = None,
    threads: int | None = 1,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Worker entry point of a dedicated warm-up: its record as a dict, never raising.

    Reuses a complete warm-up of enough epochs in ``checkpoint_dir`` (a dedicated one, or a
    CE trial's); otherwise :func:`run_warmup`. The record (:meth:`TrialRecord.to_dict`) has
    ``status``, ``error``, ``worker``, ``seconds``, and when done ``epochs`` and ``reused``;
    the trials that depend on it fail with its error when it failed.
    """
    start = time.perf_counter()
    try:
        run_config = prepare_worker(_as_config(config), threads=threads, data_root=data_root)
        epochs = run_config.epochs
        reused = warmup_complete(checkpoint_dir, range(1, epochs + 1) if keep is None else keep)
        if not reused:
            run_warmup(run_config, checkpoint_dir, keep=keep)
    except Exception:
        return TrialRecord(status="failed", error=traceback.format_exc(),
                           worker=worker_name()).to_dict()
    return TrialRecord(status="done", worker=worker_name(), epochs=epochs, reused=reused,
                       seconds=time.perf_counter() - start).to_dict()
