"""How a sweep runs (never what it computes): the ``[sweep]`` and ``[sweep.slurm]`` settings.

:class:`SlurmSettings` is the one description of the SLURM options: the spec keys
(:data:`SLURM_KEYS`), the ``robustloss sweep`` flags (each field's metadata) and the
executor's arguments (:func:`robustloss.sweeps.executors.make_client`) derive from its
fields and defaults. None of these settings enter a trial's config hash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXECUTORS", "SLURM_KEYS", "SlurmSettings", "SweepSettings"]

EXECUTORS: tuple[str, ...] = ("local", "dask", "slurm")


def _option(default: Any, help: str | None = None, *, flag: str | None = None,
            metavar: str | None = None) -> Any:
    """A :class:`SlurmSettings` field; ``flag``, ``metavar`` and ``help`` describe its
    ``robustloss sweep`` option (fields without a ``flag`` are spec keys only)."""
    metadata = {"flag": flag, "metavar": metavar, "help": help} if flag else {}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SlurmSettings:
    """dask-jobqueue ``SLURMCluster`` settings: each Dask worker is one sbatch job.

    A job books ``cores`` CPUs and ``memory``, runs one trial at a time with ``cores`` torch
    threads, and lives at most ``walltime``; ``max_jobs`` jobs at most (``adapt=True``
    scales between 0 and ``max_jobs`` with the queue of trials instead of holding
    ``max_jobs`` jobs for the whole sweep). ``job_extra`` are extra ``#SBATCH`` options
    (e.g. ``"--gres=gpu:1"``), ``prologue`` shell lines run before the worker starts
    (e.g. ``"source .venv/bin/activate"``).

    The one description of the SLURM options: the ``[sweep.slurm]`` keys of a spec
    (:data:`SLURM_KEYS`), the flags of ``robustloss sweep`` (each field's metadata) and
    the executor's arguments (:func:`robustloss.sweeps.executors.make_client`) all
    come from these fields and their defaults.
    """

    account: str | None = _option(None, "sbatch --account", flag="--slurm-account",
                                  metavar="NAME")
    queue: str | None = _option(None, "sbatch --partition", flag="--slurm-queue",
                                metavar="NAME")
    walltime: str = _option("04:00:00", "per job (default: {default})", flag="--walltime",
                            metavar="HH:MM:SS")
    memory: str = _option("8GB", "per job, e.g. 8GB (default: {default})", flag="--memory",
                          metavar="SIZE")
    cores: int = _option(1, "CPUs per job = torch threads per trial (default: {default})",
                         flag="--cores", metavar="N")
    max_jobs: int = _option(4, "jobs at most (default: {default})", flag="--max-jobs",
                            metavar="N")
    adapt: bool = _option(False, "scale between 0 and --max-jobs with the queue",
                          flag="--adapt")
    job_extra: tuple[str, ...] = _option(
        (), "extra #SBATCH option, e.g. --job-extra=--gres=gpu:1 (repeatable)",
        flag="--job-extra", metavar="OPTION")
    interface: str | None = _option(
        None, "network interface the workers reach the driver on, e.g. ib0",
        flag="--interface", metavar="NAME")
    prologue: tuple[str, ...] = _option(
        (), "shell line run before each worker, e.g. 'source .venv/bin/activate' "
        "(repeatable)", flag="--prologue", metavar="LINE")
    python: str | None = _option(None)
    local_directory: str | None = _option(None)
    log_directory: str | None = _option(None)


#: Settings that must be >= 1, in ``[sweep]`` and ``[sweep.slurm]``.
POSITIVE_SETTINGS: tuple[str, ...] = ("workers", "threads", "cores", "max_jobs")


def toml_types(annotation: str) -> tuple[type, ...]:
    """The TOML value types of a settings field, from its annotation (``str | None``:
    a string; ``tuple[str, ...]``: a list)."""
    if annotation.startswith("tuple["):
        return (list,)
    names = {"int": int, "str": str, "bool": bool}
    return tuple(names[p.strip()] for p in annotation.split("|") if p.strip() in names)


#: The keys of ``[sweep.slurm]`` and the TOML types each takes.
SLURM_KEYS: dict[str, tuple[type, ...]] = {
    f.name: toml_types(str(f.type)) for f in dataclasses.fields(SlurmSettings)
}
SLURM_LIST_KEYS: tuple[str, ...] = tuple(k for k, t in SLURM_KEYS.items() if t == (list,))


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep runs (never what it computes: these do not enter a trial's config hash).

    ``threads``: torch threads per trial on the ``local`` and ``dask`` executors (the local
    cluster runs ``workers`` worker processes, by default one per ``threads`` cores; a SLURM
    trial uses its job's ``cores``). ``shared_warmup``: train the cross-entropy warm-up once
    for trials that differ only from their delay on. ``warmup_dir``: where warm-up
    checkpoints go (every worker must see it; defaults to a folder beside the results
    database).
    """

    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    threads: int = 1
    shared_warmup: bool = True
    warmup_dir: str | None = None
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
