"""Where trials run: one Dask ``Client`` whatever the machine, so a sweep has one code path.

- ``local`` (default): a ``LocalCluster`` on this machine, one worker process per
  ``threads`` cores, each running one trial at a time, no dashboard.
- ``dask``: an existing Dask cluster reached by address (``tcp://HOST:PORT``), e.g. one
  started with ``dask scheduler`` and ``dask worker`` on machines of your choice.
- ``slurm``: dask-jobqueue's ``SLURMCluster``: each Dask worker is one sbatch job that
  books ``cores`` CPUs and ``memory`` for ``walltime``, runs one trial at a time with
  ``cores`` torch threads; at most ``max_jobs`` jobs (held, or with ``adapt=True`` scaled
  between 0 and ``max_jobs`` with the work queued). The driver (the sweep command, and the
  Dask scheduler inside it) runs on the login node; workers must be able to reach it, and
  must see the data root and the warm-up folder (a shared filesystem).

Workers get a trial's config dict, load the data themselves from the data root, run it and
return a plain record; only the driver writes the results database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dask_jobqueue import SLURMCluster
from distributed import Client, LocalCluster

from robustloss.provenance import available_cpus
from robustloss.sweeps.settings import EXECUTORS, SlurmSettings

#: The sbatch job name of every worker job.
JOB_NAME = "robustloss"


def trial_threads(executor: str, *, threads: int = 1, cores: int = 1) -> int:
    """Torch threads per trial: the job's ``cores`` on SLURM, else ``threads``."""
    return cores if executor == "slurm" else threads


def _slurm_settings(slurm: SlurmSettings | None, options: dict[str, Any]) -> SlurmSettings:
    """``slurm`` (default: :class:`SlurmSettings`'s defaults) with ``options`` replaced;
    an option that is not a field is a TypeError naming it."""
    return dataclasses.replace(slurm or SlurmSettings(), **options)


def _slurm_kwargs(settings: SlurmSettings, *, job_name: str = JOB_NAME) -> dict[str, Any]:
    """``SLURMCluster`` arguments for ``settings`` (``max_jobs`` and ``adapt`` size the
    cluster afterwards: :func:`make_client`)."""
    if settings.cores < 1:
        raise ValueError(
            f"Expected argument `cores` to be an int >= 1, but got {settings.cores!r}"
        )
    kwargs: dict[str, Any] = {
        # One Dask thread (one trial at a time) in one process per job; the job books
        # `cores` CPUs, which the trial uses as torch threads.
        "cores": 1,
        "processes": 1,
        "job_cpu": settings.cores,
        "memory": settings.memory,
        "walltime": settings.walltime,
        "job_name": job_name,
        "job_extra_directives": list(settings.job_extra),
        "job_script_prologue": list(settings.prologue),
        "scheduler_options": {"dashboard_address": None},
    }
    optional = ("account", "queue", "python", "local_directory", "log_directory", "interface")
    kwargs.update({k: getattr(settings, k) for k in optional if getattr(settings, k) is not None})
    return kwargs


def slurm_cluster(
    slurm: SlurmSettings | None = None, *, job_name: str = JOB_NAME, **options: Any
) -> SLURMCluster:
    """A ``dask_jobqueue.SLURMCluster`` with no jobs yet (it starts a scheduler here).

    ``options``: :class:`~robustloss.sweeps.spec.SlurmSettings` fields that replace
    those of ``slurm``; ``job_name``: sbatch ``-J``.
    """
    return SLURMCluster(**_slurm_kwargs(_slurm_settings(slurm, options), job_name=job_name))


def slurm_job_script(
    slurm: SlurmSettings | None = None, *, job_name: str = JOB_NAME, **options: Any
) -> str:
    """The sbatch script one worker job would be submitted with (nothing is submitted).

    Takes :func:`slurm_cluster`'s arguments; starts and closes a scheduler to render it.
    """
    cluster = slurm_cluster(slurm, job_name=job_name, **options)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def make_client(
    executor: str = "local",
    *,
    address: str | None = None,
    n_workers: int | None = None,
    threads: int = 1,
    timeout: float = 60.0,
    processes: bool = True,
    slurm: SlurmSettings | None = None,
    **slurm_options: Any,
) -> Client:
    """A Dask ``Client`` for ``executor``; close it with :func:`close_client`.

    Args:
        executor: ``"local"``, ``"dask"`` or ``"slurm"``.
        address: the scheduler of an existing cluster (``"dask"`` only, required there).
        n_workers: local worker processes (default: available cores // ``threads``).
        threads: torch threads each local trial will use (sizes the default ``n_workers``).
        timeout: seconds to wait for the scheduler (``"dask"``).
        processes: ``False`` runs local workers as threads of this process (tests).
        slurm: the SLURM job settings (:class:`~robustloss.sweeps.spec.SlurmSettings`,
            whose defaults apply where not given); ``slurm_options`` (``account=...``,
            ``cores=...``, ``max_jobs=...``, any of its fields) replace single ones.

    Raises:
        ValueError: an unknown executor, ``"dask"`` without an address, bad sizes.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"Expected `executor` to be one of {EXECUTORS}, but got {executor!r}")
    settings = _slurm_settings(slurm, slurm_options)
    if executor == "dask":
        if not address:
            raise ValueError("--executor dask needs --address tcp://HOST:PORT of a scheduler")
        return Client(address, timeout=timeout)
    if executor == "local":
        return _local_client(n_workers, threads=threads, processes=processes)
    return _slurm_client(settings)


def _local_client(n_workers: int | None, *, threads: int, processes: bool) -> Client:
    if threads < 1:
        raise ValueError(f"Expected `threads` to be an int >= 1, but got {threads!r}")
    workers = n_workers if n_workers is not None else max(1, available_cpus() // threads)
    if workers < 1:
        raise ValueError(f"Expected `n_workers` to be an int >= 1, but got {workers!r}")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        worker_dashboard_address=None,
        # No dashboard, but the scheduler still serves /health: on any free port, not
        # 8787 (which another cluster on this machine may hold).
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    return Client(cluster)


def _slurm_client(settings: SlurmSettings) -> Client:
    """``max_jobs`` SLURM jobs held, or with ``adapt`` scaled between 0 and ``max_jobs``."""
    if settings.max_jobs < 1:
        raise ValueError(
            f"Expected `max_jobs` to be an int >= 1, but got {settings.max_jobs!r}"
        )
    cluster = SLURMCluster(**_slurm_kwargs(settings))
    if settings.adapt:
        cluster.adapt(minimum_jobs=0, maximum_jobs=settings.max_jobs)
    else:
        cluster.scale(jobs=settings.max_jobs)
    return Client(cluster)


def close_client(client: Client) -> None:
    """Close ``client`` and the cluster it was made with (local or SLURM jobs), if any."""
    cluster = getattr(client, "cluster", None)
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


def shared_rng_warning(client: Client) -> str | None:
    """Why trials on ``client`` would not be reproducible, or None.

    Training draws dropout from torch's process-wide random generator, so two trials must
    never run at once in one process: every worker needs ``nthreads == 1``, and workers
    inside the driver's process (``inproc://``, ``processes=False``) only one of them.
    """
    workers = client.scheduler_info().get("workers", {})
    threaded = [a for a, w in workers.items() if int(w.get("nthreads", 1)) > 1]
    if threaded:
        return (
            f"{len(threaded)} Dask worker(s) run several tasks at once (nthreads > 1): trials "
            "sharing a process share torch's random generator, so results are not "
            "reproducible; start workers with --nthreads 1"
        )
    if sum(a.startswith("inproc://") for a in workers) > 1:
        return (
            "several Dask workers share this process (processes=False): trials running at "
            "once share torch's random generator, so results are not reproducible"
        )
    return None


def worker_count(client: Client) -> int:
    """Trials the cluster can run at once right now (its workers' threads)."""
    workers = client.scheduler_info().get("workers", {})
    return sum(int(w.get("nthreads", 1)) for w in workers.values())
