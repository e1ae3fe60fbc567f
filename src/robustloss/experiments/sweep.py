"""Run a sweep: expand a spec, skip finished trials, run the rest on a Dask client.

The driver (this module, in the ``robustloss sweep`` process) is the only writer of the
results database (:mod:`robustloss.experiments.store`). It submits one task per pending
trial (the trials that start from a shared warm-up depend on its task: a dedicated
warm-up's, or the task of the CE trial that is the warm-up), and writes each trial's
record in its own transaction the moment it arrives, so stopping the driver at any point,
even with SIGKILL, loses at most the trials still running; the next run of the same spec
resumes with them. A failed trial is recorded with its traceback (``status = 'failed'``)
and the sweep goes on; a later run retries it.

Workers run :func:`execute_trial`: they set their torch threads, point the data root at the
driver's, run the trial and return a plain dict; they never touch the database.

Default database: ``runs/<spec name>/results.db`` under the current directory
(:func:`default_db_path`); warm-up checkpoints beside it in ``warmups/`` unless the spec or
``--warmup-dir`` says otherwise. The database must be on a local disk (not NFS).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from robustloss.experiments.spec import SweepSpec, load_spec, trial_hash
from robustloss.experiments.store import ResultStore
from robustloss.experiments.warmup import (
    WarmupGroup,
    WarmupPlan,
    execute_warmup,
    plan_warmups,
    remove_warmup,
    run_warmup,
    trial_epochs,
    warmup_epochs_on_disk,
    warmup_folder,
)

TrialFn = Callable[..., dict[str, Any]]


def default_db_path(spec_name: str) -> Path:
    """``runs/<spec name>/results.db``, relative to the current directory."""
    return Path("runs") / spec_name / "results.db"


def resolve_source(source: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``(database, sweep name or None)`` for a results database file or a spec.

    A spec (bundled name or file) means its default database, read for its own sweep only.

    Raises:
        ValueError: neither an existing database file nor a spec whose database exists.
    """
    path = Path(source)
    if path.is_file() and path.suffix != ".toml":
        return path, None
    spec = load_spec(source)
    db = default_db_path(spec.name)
    if not db.is_file():
        raise ValueError(
            f"no results for spec {spec.name!r}: {str(db)!r} does not exist "
            f"(run `robustloss sweep {source}` first, or give the database path)"
        )
    return db, spec.name


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def prepare_worker(
    config: dict[str, Any], *, threads: int | None, data_root: str | None
) -> dict[str, Any]:
    """Per-task worker set-up; returns ``config`` with its torch threads filled in.

    Points ``$ROBUSTLOSS_DATA`` at the driver's data root and sets torch's threads; a
    config whose ``threads`` is None (all cores) gets ``threads``, so a trial uses exactly
    what its worker was sized for (the config hash, computed by the driver, is unchanged).
    """
    if data_root is not None:
        os.environ["ROBUSTLOSS_DATA"] = data_root
    if threads is None:
        return config
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return config if config.get("threads") is not None else {**config, "threads": threads}


def run_trial(
    config: dict[str, Any],
    *,
    resume_dir: str | None = None,
    checkpoint_dir: str | None = None,
    keep: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The default trial: :func:`~robustloss.experiments.pipeline.run_experiment`'s summary.

    With ``resume_dir`` every model starts from its shared warm-up checkpoint; with
    ``checkpoint_dir`` this (plain CE) trial is a shared warm-up itself, keeping the
    checkpoints of the epochs in ``keep`` (:func:`~robustloss.experiments.warmup.run_warmup`).
    """
    from robustloss.experiments.pipeline import RunConfig, run_experiment

    if checkpoint_dir is not None:
        return run_warmup(config, checkpoint_dir, keep=keep)
    kwargs: dict[str, Any] = {} if resume_dir is None else {"resume_dir": resume_dir}
    return run_experiment(RunConfig.from_dict(config), quiet=True, **kwargs)


def execute_trial(
    config: dict[str, Any],
    *,
    trial_fn: TrialFn | None = None,
    threads: int | None = 1,
    data_root: str | None = None,
    resume_dir: str | None = None,
    checkpoint_dir: str | None = None,
    keep: Sequence[int] | None = None,
    warmup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Worker entry point: run one trial and return a plain record, never raising.

    ``trial_fn(config, **kw) -> summary dict`` (default :func:`run_trial`; ``resume_dir``,
    ``checkpoint_dir`` and ``keep`` are passed only when set). ``warmup`` is the record of the
    shared warm-up this trial depends on (Dask passes the result of its task: a dedicated
    warm-up's or the source trial's record). See :func:`prepare_worker` for ``threads`` and
    ``data_root``.

    Returns:
        ``{"status": "done"|"failed", "summary": dict|None, "error": str|None,
        "worker": "host:pid", "seconds": float}``.
    """
    start = time.perf_counter()
    record: dict[str, Any] = {"summary": None, "error": None, "worker": worker_name()}
    try:
        if warmup is not None and warmup.get("status") != "done":
            raise RuntimeError(f"the shared warm-up failed on {warmup.get('worker')}:\n"
                               f"{warmup.get('error')}")
        config = prepare_worker(config, threads=threads, data_root=data_root)
        fn = trial_fn or run_trial
        folders = {"resume_dir": resume_dir, "checkpoint_dir": checkpoint_dir, "keep": keep}
        record["summary"] = fn(config, **{k: v for k, v in folders.items() if v is not None})
        record["status"] = "done"
    except Exception:
        record["status"] = "failed"
        record["error"] = traceback.format_exc()
    record["seconds"] = time.perf_counter() - start
    return record


@dataclass
class SweepResult:
    """What a sweep run did. ``skipped``: trials already done before it started."""

    spec: str
    db_path: Path
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    remaining: int = 0
    seconds: float = 0.0
    epochs_alone: int = 0
    epochs: int = 0
    warmups: int = 0
    warmup_kinds: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.remaining == 0


def _failure(exc: BaseException) -> dict[str, Any]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"status": "failed", "summary": None, "error": text, "worker": None, "seconds": None}


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def _describe(config: dict[str, Any]) -> str:
    params = [f"{k}={config[k]}" for k in ("gamma", "cutoff", "q", "alpha", "beta")
              if config.get(k) is not None]
    return " ".join([config["loss"], *params])


def _plan_rows(
    trials: list[tuple[str, dict[str, Any]]],
    todo: set[str],
    status: dict[str, str],
    plan: WarmupPlan,
) -> list[dict[str, Any]]:
    groups = {g.key: i + 1 for i, g in enumerate(plan.groups)}
    rows = []
    for h, config in trials:
        group = plan.assignment.get(h)
        cost = trial_epochs(config)
        warmup = ""
        if group is not None and h == group.source:
            warmup = f"W{groups[group.key]}*"
        elif group is not None:
            cost -= group.models * int(config["delay"])
            warmup = f"W{groups[group.key]}"
        rows.append({
            "hash": h[:10],
            "status": status.get(h, "new"),
            "data": config.get("dataset") or config.get("data"),
            "noise": config["noise"],
            "loss": _describe(config),
            "delay": config["delay"],
            "seed": config["seed"],
            "epochs": cost if h in todo else 0,
            "warmup": warmup,
        })
    return rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces (cells shown with ``str``)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = [list(header), *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def format_plan(result: SweepResult) -> str:
    """The dry-run listing: one line per trial, then the epoch accounting."""
    columns = ("hash", "status", "data", "noise", "loss", "delay", "seed", "epochs", "warmup")
    lines = [text_table(columns, [[row[c] for c in columns] for row in result.plan])]
    todo = result.total - result.skipped
    lines.append("")
    lines.append(
        f"{result.total} trials: {result.skipped} done, {todo} to run "
        f"(epochs are fold-epochs: epochs x models per trial)"
    )
    if result.warmups:
        kinds = result.warmup_kinds
        parts = [
            f"{kinds[kind]} {text}"
            for kind, text in (
                ("trial", "CE trial(s) of the sweep run with checkpoints (epochs counted once)"),
                ("on disk", "complete on disk (reused: no epochs)"),
                ("run", "dedicated CE run(s) (their epochs included)"),
            )
            if kinds.get(kind)
        ]
        lines.append(f"shared warm-ups: {result.warmups}: {'; '.join(parts)}")
        lines.append("warmup: Wn = starts from warm-up n at its delay; Wn* = is warm-up n")
    if result.epochs_alone:
        lines.append(
            f"epochs: {result.epochs} with shared warm-ups, {result.epochs_alone} with each "
            f"trial run alone: {result.epochs_alone - result.epochs} saved, "
            f"{result.epochs / result.epochs_alone:.2f}x"
        )
    return "\n".join(lines)


def _prefetch(configs: list[dict[str, Any]]) -> None:
    """Load each built-in dataset once here, so workers never download it concurrently."""
    names = sorted({c["dataset"] for c in configs if c.get("dataset")})
    if not names:
        return
    from robustloss.data import load_dataset

    for name in names:
        for split in ("train", "test"):
            load_dataset(name, split)


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
        client: a Dask ``Client`` (:func:`~robustloss.experiments.executors.make_client`);
            None makes one from the spec's ``[sweep]`` settings and closes it at the end.
        trial_fn: ``trial_fn(config) -> summary`` run on the workers instead of the real
            experiment (tests, smoke runs); it must be importable by the workers.
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
    settings = spec.settings
    db_path = Path(db_path) if db_path is not None else default_db_path(spec.name)
    threads = settings.threads if threads is None else threads
    if shared_warmup is None:
        shared_warmup = settings.shared_warmup
    share = shared_warmup and trial_fn is None
    if warmup_dir is None:
        warmup_dir = settings.warmup_dir or db_path.parent / "warmups"

    trials = [(trial_hash(c), c) for c in spec.trials()]
    result = SweepResult(spec=spec.name, db_path=db_path, total=len(trials), dry_run=dry_run)

    skip = {"done"} if retry_failed else {"done", "failed"}

    def on_disk(key: str) -> frozenset[int]:  # a complete warm-up left by an earlier run
        return warmup_epochs_on_disk(warmup_folder(warmup_dir, spec.name, key))

    def plan_for(status: dict[str, str]) -> tuple[list[tuple[str, dict[str, Any]]], WarmupPlan]:
        todo = [(h, c) for h, c in trials if status.get(h) not in skip]
        plan = plan_warmups(todo, enabled=share, on_disk=on_disk)
        result.skipped = len(trials) - len(todo)
        result.remaining = len(todo)
        result.epochs_alone, result.epochs = plan.epochs_alone, plan.epochs_shared
        result.warmups = len(plan.groups)
        result.warmup_kinds = dict(Counter(g.kind for g in plan.groups))
        return todo, plan

    if dry_run:
        status: dict[str, str] = {}
        if db_path.is_file():
            with ResultStore(db_path, readonly=True) as store:
                status = {t["hash"]: t["status"] for t in store.trials()}
        todo, plan = plan_for(status)
        result.plan = _plan_rows(trials, {h for h, _ in todo}, status, plan)
        print(format_plan(result), file=stream or sys.stdout)
        return result

    start = time.perf_counter()
    store = ResultStore(db_path)
    try:
        store.lock()  # before anything is written: another driver may own these rows
    except ValueError:
        store.close()
        raise
    own_client = client is None
    run_id = None
    try:
        run_id = store.open_for_sweep(
            name=spec.name,
            trials=trials,
            description=spec.description,
            source=spec.source,
            spec=spec.text,
            executor=settings.executor if own_client else str(client),
        )
        todo, plan = plan_for({t["hash"]: t["status"] for t in store.trials(sweep=spec.name)})
        if not todo:
            return result
        if trial_fn is None:
            _prefetch([c for _, c in todo])
        if own_client:
            from robustloss.experiments.executors import make_client, trial_threads

            slurm = settings.slurm
            threads = trial_threads(settings.executor, threads=threads, cores=slurm.cores)
            client = make_client(
                settings.executor,
                address=settings.address,
                n_workers=settings.workers,
                threads=threads,
                **{k: getattr(slurm, k) for k in slurm.__dataclass_fields__},
            )
        _run(client, store, run_id, todo, plan, result, trial_fn=trial_fn, threads=threads,
             warmup_dir=Path(warmup_dir), progress=progress, stream=stream)
    finally:
        try:
            store.reset_running()  # trials still in flight when stopped: pending again
            if run_id is not None:
                store.finish_run(run_id)
        finally:
            store.close()
            if own_client and client is not None:
                from robustloss.experiments.executors import close_client

                close_client(client)
        result.seconds = time.perf_counter() - start
    return result


def _run(
    client: Any,
    store: ResultStore,
    run_id: int,
    todo: list[tuple[str, dict[str, Any]]],
    plan: WarmupPlan,
    result: SweepResult,
    *,
    trial_fn: TrialFn | None,
    threads: int | None,
    warmup_dir: Path,
    progress: bool,
    stream: TextIO | None,
) -> None:
    from distributed import as_completed
    from tqdm.auto import tqdm

    from robustloss.data import data_root
    from robustloss.experiments.executors import shared_rng_warning

    if trial_fn is None:
        problem = shared_rng_warning(client)
        if problem is not None:
            warnings.warn(problem, RuntimeWarning, stacklevel=3)

    root = str(data_root()) if trial_fn is None else os.environ.get("ROBUSTLOSS_DATA")
    store.mark_running([h for h, _ in todo], run_id=run_id)

    def folder(group: WarmupGroup) -> Path:
        return warmup_folder(warmup_dir, result.spec, group.key)

    futures = {}

    def submit(h: str, config: dict[str, Any], **kwargs: Any) -> Any:
        future = client.submit(execute_trial, config, trial_fn=trial_fn, threads=threads,
                               data_root=root, pure=False, **kwargs)
        futures[future] = h
        return future

    # Warm-ups first (their trials wait for them): a dedicated CE run, or the group's CE
    # trial run with checkpoints, which is then recorded like every other trial.
    warm_futures = {}
    for group in plan.groups:
        if group.source is None:
            warm_futures[group.key] = client.submit(
                execute_warmup,
                group.config,
                str(folder(group)),
                keep=group.kept_epochs,
                threads=threads,
                data_root=root,
                pure=False,
                priority=10,
            )
        else:
            warm_futures[group.key] = submit(
                group.source,
                group.config,
                checkpoint_dir=str(folder(group)),
                keep=group.kept_epochs,
                priority=10,
            )
    for h, config in todo:
        group = plan.assignment.get(h)
        if group is None:
            submit(h, config)
        elif h != group.source:
            submit(h, config, resume_dir=str(folder(group)), warmup=warm_futures[group.key])
    left_in_group = {g.key: len(g.trials) for g in plan.groups}
    failed_in_group = dict.fromkeys(left_in_group, 0)
    warm_futures.clear()  # the trials hold them now; done ones can be released

    bar = tqdm(
        total=len(todo),
        desc=result.spec,
        unit="trial",
        disable=not progress,
        file=stream or sys.stderr,
        dynamic_ncols=True,
    )
    if result.skipped:
        bar.set_postfix_str(f"{result.skipped} already done")
    try:
        for future in as_completed(futures):
            h = futures.pop(future)
            try:
                record = future.result()
            except Exception as exc:  # lost worker, cancelled, unpicklable result, ...
                record = _failure(exc)
            store.record(h, record, run_id=run_id)
            if record["status"] == "done":
                result.done += 1
            else:
                result.failed += 1
                result.failures.append((h, _last_line(record.get("error"))))
            result.remaining -= 1
            group = plan.assignment.get(h)
            if group is not None:
                left_in_group[group.key] -= 1
                failed_in_group[group.key] += record["status"] != "done"
                if left_in_group[group.key] == 0 and failed_in_group[group.key] == 0:
                    remove_warmup(folder(group))
            bar.update(1)
            if result.failed:
                bar.set_postfix_str(f"{result.failed} failed")
    finally:
        bar.close()
        if futures:
            client.cancel(list(futures))
        with contextlib.suppress(OSError):
            warmup_dir.rmdir()  # only if empty: every warm-up was removed
