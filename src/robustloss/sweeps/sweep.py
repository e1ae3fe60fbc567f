"""Run a sweep: expand a spec, skip finished trials, run the rest on a Dask client.

The driver (this module, in the ``robustloss sweep`` process) is the only writer of the
results database (:mod:`robustloss.sweeps.store`). It submits one task per pending
trial (the trials that start from a shared warm-up depend on its task: a dedicated
warm-up's, or the task of the CE trial that is the warm-up), and writes each trial's
record in its own transaction the moment it arrives, so stopping the driver at any point,
even with SIGKILL, loses at most the trials still running; the next run of the same spec
resumes with them. A failed trial is recorded with its traceback (``status = 'failed'``)
and the sweep goes on; a later run retries it.

Workers run :func:`~robustloss.sweeps.worker.execute_trial`: configs cross the Dask
boundary as ``RunConfig.to_dict()`` and records come back as ``TrialRecord.to_dict()``;
workers never touch the database.

Default database: ``runs/<spec name>/results.db`` under the current directory
(:func:`default_db_path`); warm-up checkpoints beside it in ``warmups/`` unless the spec or
``--warmup-dir`` says otherwise. The database must be on a local disk (not NFS).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from robustloss.data import data_root, load_dataset
from robustloss.run.config import RunConfig
from robustloss.sweeps.plan import SweepResult, format_plan, plan_rows, text_table
from robustloss.sweeps.progress import sweep_progress
from robustloss.sweeps.results import TrialRecord, default_db_path, resolve_source
from robustloss.sweeps.settings import SweepSettings
from robustloss.sweeps.spec import SweepSpec, load_spec, trial_hash
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.warmup import (
    WarmupGroup,
    WarmupPlan,
    plan_warmups,
    remove_warmup,
    warmup_epochs_on_disk,
    warmup_folder,
)
from robustloss.sweeps.worker import TrialFn, execute_trial, execute_warmup

__all__ = [
    "SweepResult",
    "TrialFn",
    "default_db_path",  # re-exported from robustloss.sweeps.results, as the next
    "execute_trial",  # re-exported from robustloss.sweeps.worker
    "format_plan",
    "resolve_source",
    "run_sweep",
    "text_table",
]

Trial = tuple[str, RunConfig]  # (config hash, config)


@dataclass(frozen=True)
class _Options:
    """One run's settings: the arguments of :func:`run_sweep` over the spec's defaults."""

    spec_name: str
    db_path: Path
    threads: int | None
    share: bool
    warmup_dir: Path
    skip: frozenset[str]

    def folder(self, group: WarmupGroup) -> Path:
        return warmup_folder(self.warmup_dir, self.spec_name, group.key)


def _options(
    spec: SweepSpec,
    *,
    db_path: str | os.PathLike[str] | None,
    trial_fn: TrialFn | None,
    shared_warmup: bool | None,
    threads: int | None,
    warmup_dir: str | os.PathLike[str] | None,
    retry_failed: bool,
) -> _Options:
    settings = spec.settings
    db = Path(db_path) if db_path is not None else default_db_path(spec.name)
    share = settings.shared_warmup if shared_warmup is None else shared_warmup
    if warmup_dir is None:
        warmup_dir = settings.warmup_dir or db.parent / "warmups"
    return _Options(
        spec_name=spec.name,
        db_path=db,
        threads=settings.threads if threads is None else threads,
        share=share and trial_fn is None,  # a trial_fn never shares
        warmup_dir=Path(warmup_dir),
        skip=frozenset({"done"} if retry_failed else {"done", "failed"}),
    )


def run_sweep(
    spec: SweepSpec | str | os.PathLike[str],
    *,
    db_path: str | os.PathLike[str] | None = None,
    client: Any = None,
    trial_fn: TrialFn | None = None,
    dry_run: bool = False,
    progress: bool = True,
    shared_warmup: bool | None = None,
    threads: int | None = None,
    warmup_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = True,
    stream: TextIO | None = None,
) -> SweepResult:
    """Run every trial of ``spec`` that is not done yet; return what happened.

    Args:
        spec: a :class:`SweepSpec`, a bundled spec name or a spec file.
        db_path: the results database (default :func:`default_db_path`).
        client: a Dask ``Client`` (:func:`~robustloss.sweeps.executors.make_client`);
            None makes one from the spec's ``[sweep]`` settings and closes it at the end.
        trial_fn: ``trial_fn(config: RunConfig, **folders) -> summary`` run on the workers
            instead of the real experiment (tests, smoke runs); it must be importable by
            the workers.
        dry_run: only list the trials, their status and epoch cost (the database is read,
            never created or written).
        progress: a tqdm bar on ``stream`` (trials done / total, ETA).
        shared_warmup: share cross-entropy warm-ups (default: the spec's setting; only
            with the real experiment: a ``trial_fn`` never shares).
        threads: torch threads per trial (default: the spec's setting).
        warmup_dir: where warm-up checkpoints go (every worker must see it).
        retry_failed: run trials that failed before again (default) or leave them.
        stream: where progress and the dry-run listing go (default stderr / stdout).
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    options = _options(spec, db_path=db_path, trial_fn=trial_fn, shared_warmup=shared_warmup,
                       threads=threads, warmup_dir=warmup_dir, retry_failed=retry_failed)
    trials = [(trial_hash(c), c) for c in spec.trials()]
    result = SweepResult(spec=spec.name, db_path=options.db_path, total=len(trials),
                         dry_run=dry_run)
    if dry_run:
        _dry_run(trials, options, result, stream or sys.stdout)
        return result
    start = time.perf_counter()
    try:
        _run_recorded(spec, trials, options, result, client=client, trial_fn=trial_fn,
                      progress=progress, stream=stream)
    finally:
        result.seconds = time.perf_counter() - start
    return result


# ----- planning ---------------------------------------------------------------------------


def _plan(
    trials: list[Trial], status: dict[str, str], options: _Options, result: SweepResult
) -> tuple[list[Trial], WarmupPlan]:
    """The trials still to run (by ``status``) and their shared warm-ups, noted in ``result``."""
    todo = [(h, c) for h, c in trials if status.get(h) not in options.skip]
    on_disk = functools.partial(_warmup_on_disk, options)
    plan = plan_warmups(todo, enabled=options.share, on_disk=on_disk)
    result.planned(len(todo), plan)
    return todo, plan


def _warmup_on_disk(options: _Options, key: str) -> frozenset[int]:
    """The epochs of a complete warm-up that an earlier run left on disk (or none)."""
    return warmup_epochs_on_disk(warmup_folder(options.warmup_dir, options.spec_name, key))


def _dry_run(
    trials: list[Trial], options: _Options, result: SweepResult, stream: TextIO
) -> None:
    status: dict[str, str] = {}
    if options.db_path.is_file():
        with ResultStore(options.db_path, readonly=True) as store:
            status = {t.hash: t.status for t in store.trials()}
    todo, plan = _plan(trials, status, options, result)
    result.plan = plan_rows(trials, {h for h, _ in todo}, status, plan)
    print(format_plan(result), file=stream)


# ----- a recorded run ---------------------------------------------------------------------


def _open_store(path: Path) -> ResultStore:
    store = ResultStore(path)
    try:
        store.lock()  # before anything is written: another driver may own these rows
    except ValueError:
        store.close()
        raise
    return store


def _run_recorded(
    spec: SweepSpec,
    trials: list[Trial],
    options: _Options,
    result: SweepResult,
    *,
    client: Any,
    trial_fn: TrialFn | None,
    progress: bool,
    stream: TextIO | None,
) -> None:
    """Record the sweep, plan what is left, run it on ``client`` (or one made here)."""
    store = _open_store(options.db_path)
    own_client = client is None
    run_id = None
    try:
        run_id = store.open_for_sweep(
            name=spec.name,
            trials=trials,
            description=spec.description,
            source=spec.source,
            spec=spec.text,
            executor=spec.settings.executor if own_client else str(client),
        )
        status = {t.hash: t.status for t in store.trials(sweep=spec.name)}
        todo, plan = _plan(trials, status, options, result)
        if not todo:
            return
        if trial_fn is None:
            _prefetch([c for _, c in todo])
        threads = options.threads
        if own_client:
            client, threads = _make_client(spec.settings, threads)
        dispatch = _Dispatch(client, options, trial_fn=trial_fn, threads=threads)
        dispatch.run(store, run_id, todo, plan, result, progress=progress, stream=stream)
    finally:
        _close(store, run_id, client if own_client else None)


def _prefetch(configs: list[RunConfig]) -> None:
    """Load each built-in dataset once here, so workers never download it concurrently."""
    for name in sorted({c.dataset for c in configs if c.dataset}):
        for split in ("train", "test"):
            load_dataset(name, split)


def _make_client(settings: SweepSettings, threads: int | None) -> tuple[Any, int]:
    """A client from the spec's ``[sweep]`` settings, and the torch threads per trial."""
    # Imported here: Dask's import costs a second, which `robustloss --help` need not pay.
    from robustloss.sweeps.executors import make_client, trial_threads

    threads = trial_threads(settings.executor, threads=threads, cores=settings.slurm.cores)
    client = make_client(settings.executor, address=settings.address,
                         n_workers=settings.workers, threads=threads, slurm=settings.slurm)
    return client, threads


def _close(store: ResultStore, run_id: int | None, client: Any) -> None:
    """Trials still in flight go back to pending; the run is closed, then the client."""
    try:
        store.reset_running()
        if run_id is not None:
            store.finish_run(run_id)
    finally:
        store.close()
        if client is not None:
            from robustloss.sweeps.executors import close_client  # see _make_client

            close_client(client)


class _WarmupCleanup:
    """Deletes a group's warm-up checkpoints once all of its trials are done (a failed one
    keeps them, for the next run to resume from)."""

    def __init__(self, plan: WarmupPlan):
        self._assignment = plan.assignment
        self._left = {g.key: len(g.trials) for g in plan.groups}
        self._failed = dict.fromkeys(self._left, 0)

    def finished(self, trial_hash: str, ok: bool) -> WarmupGroup | None:
        """Count a trial; the group whose checkpoints may go now, or None."""
        group = self._assignment.get(trial_hash)
        if group is None:
            return None
        self._left[group.key] -= 1
        self._failed[group.key] += not ok
        done = self._left[group.key] == 0 and self._failed[group.key] == 0
        return group if done else None


@dataclass
class _Dispatch:
    """Submits a sweep's tasks to ``client`` and records each result as it arrives."""

    client: Any
    options: _Options
    trial_fn: TrialFn | None
    threads: int | None
    data_root: str | None = None
    futures: dict[Any, str] = field(default_factory=dict)  # future -> trial hash

    def __post_init__(self) -> None:
        real = self.trial_fn is None
        self.data_root = str(data_root()) if real else os.environ.get("ROBUSTLOSS_DATA")

    def run(self, store: ResultStore, run_id: int, todo: list[Trial], plan: WarmupPlan,
            result: SweepResult, *, progress: bool, stream: TextIO | None) -> None:
        if self.trial_fn is None:
            self._warn_shared_rng()
        store.mark_running([h for h, _ in todo], run_id=run_id)
        if progress:
            line = sweep_progress(store.trials(sweep=result.spec)).line()
            print(f"{result.spec}: {line}", file=stream or sys.stderr)
        self._submit(todo, plan)
        bar = tqdm(total=len(todo), desc=result.spec, unit="trial", disable=not progress,
                   file=stream or sys.stderr, dynamic_ncols=True)
        if result.skipped:
            bar.set_postfix_str(f"{result.skipped} already done")
        try:
            self._collect(store, run_id, _WarmupCleanup(plan), result, bar)
        finally:
            bar.close()
            if self.futures:
                self.client.cancel(list(self.futures))
            with contextlib.suppress(OSError):
                self.options.warmup_dir.rmdir()  # only if empty: every warm-up was removed

    def _warn_shared_rng(self) -> None:
        from robustloss.sweeps.executors import shared_rng_warning  # see _make_client

        problem = shared_rng_warning(self.client)
        if problem is not None:
            warnings.warn(problem, RuntimeWarning, stacklevel=5)

    def _trial(self, h: str, config: RunConfig, **kwargs: Any) -> Any:
        future = self.client.submit(
            execute_trial, config.to_dict(), trial_fn=self.trial_fn, threads=self.threads,
            data_root=self.data_root, trial_hash=h, pure=False, **kwargs,
        )
        self.futures[future] = h
        return future

    def _warmup(self, group: WarmupGroup) -> Any:
        """A dedicated CE run, or the group's CE trial run with checkpoints (then recorded
        like every other trial)."""
        folder = str(self.options.folder(group))
        if group.source is not None:
            return self._trial(group.source, group.config, checkpoint_dir=folder,
                               keep=group.kept_epochs, priority=10)
        return self.client.submit(
            execute_warmup, group.config.to_dict(), folder, keep=group.kept_epochs,
            threads=self.threads, data_root=self.data_root, pure=False, priority=10,
        )

    def _submit(self, todo: list[Trial], plan: WarmupPlan) -> None:
        """Warm-ups first; the trials that start from one wait for its task. Only the
        trials hold the warm-up futures afterwards, so finished ones can be released."""
        warm = {group.key: self._warmup(group) for group in plan.groups}
        for h, config in todo:
            group = plan.assignment.get(h)
            if group is None:
                self._trial(h, config)
            elif h != group.source:
                self._trial(h, config, resume_dir=str(self.options.folder(group)),
                            warmup=warm[group.key])

    def _collect(self, store: ResultStore, run_id: int, cleanup: _WarmupCleanup,
                 result: SweepResult, bar: Any) -> None:
        from distributed import as_completed  # see _make_client

        for future in as_completed(self.futures):
            h = self.futures.pop(future)
            record = _record_of(future)
            store.record(h, record, run_id=run_id)
            result.finished(h, record.ok, record.error)
            group = cleanup.finished(h, record.ok)
            if group is not None:
                remove_warmup(self.options.folder(group))
            bar.update(1)
            if result.failed:
                bar.set_postfix_str(f"{result.failed} failed")


def _record_of(future: Any) -> TrialRecord:
    """A finished task's record; a task that raised (a lost worker, cancelled, an
    unpicklable result) is a failed trial with that traceback."""
    try:
        return TrialRecord.from_dict(future.result())
    except Exception as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return TrialRecord(status="failed", error=text)
