"""``robustloss sweep``, ``results``, ``report`` and ``reproduce``: grids of runs.

- ``sweep SPEC``: run every trial of a spec (a bundled name such as ``paper-table1``, or a
  ``.toml`` file) that is not done yet; results go to ``runs/<spec name>/results.db`` unless
  ``--db`` says otherwise (a local disk, not NFS). Stop it any time (even ``kill -9``) and
  run it again: finished trials are kept and skipped. ``--dry-run`` lists the trials and
  the epochs they will cost, with what shared warm-ups save.
- ``results SPEC|DB``: a table of the results (mean ± std over seeds per setting, or every
  trial with ``--trials``); ``--csv`` exports every trial.
- ``report SPEC|DB ... --out DIR``: Table 1, Figures 5 and 6, the loss curves and
  ``index.html``.
- ``reproduce [--quick]``: ``sweep paper-table1`` (or ``quick``), then ``report``.

Executor flags override the spec's ``[sweep]`` settings: ``--executor local`` (default, a
local Dask cluster), ``dask --address tcp://HOST:PORT`` (an existing cluster), ``slurm``
(one sbatch job per worker: ``--slurm-account``, ``--walltime``, ``--memory``, ``--cores``,
``--max-jobs``, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from robustloss.cli.cluster_flags import (
    add_cluster_flags,
    add_slurm_flags,
    check_counts,
    slurm_flags_given,
)
from robustloss.report.sweep.grouping import Setting, group_settings, row_label
from robustloss.report.sweep.index import write_report
from robustloss.report.sweep.table import format_f1
from robustloss.sweeps.plan import SweepResult, text_table
from robustloss.sweeps.progress import sweep_progress
from robustloss.sweeps.results import default_db_path, precision_mix, resolve_source
from robustloss.sweeps.spec import (
    SweepSpec,
    list_specs,
    load_spec,
)
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.sweep import run_sweep

__all__ = ["register", "report_command", "reproduce_command", "results_command",
           "sweep_command"]


def _add_executor_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where trials run (default: the spec's [sweep] settings)")
    g.add_argument("--db", type=Path, metavar="PATH",
                   help="results database (default: runs/<spec name>/results.db; keep it on "
                   "a local disk, not NFS)")
    add_cluster_flags(g, executor_help="local: a Dask cluster on this machine (default); "
                       "dask: an existing cluster at --address; slurm: one sbatch job per worker")
    g.add_argument("--threads", type=int, metavar="N",
                   help="torch threads per trial, local and dask (default: 1)")
    g.add_argument("--warmup-dir", metavar="DIR",
                   help="shared warm-up checkpoints (default: beside the database); every "
                   "worker must see it")
    g.add_argument("--no-shared-warmup", dest="shared_warmup", action="store_false",
                   default=None, help="train every trial's cross-entropy warm-up itself")
    g.add_argument("--skip-failed", action="store_true",
                   help="do not retry trials that failed in an earlier run")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_slurm_flags(p)


def _with_flags(spec: SweepSpec, args: argparse.Namespace) -> SweepSpec:
    """The spec with its [sweep] settings overridden by the flags that were given."""
    def given(pairs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in pairs.items() if v is not None}

    slurm = dataclasses.replace(spec.settings.slurm, **slurm_flags_given(args))
    settings = dataclasses.replace(spec.settings, slurm=slurm, **given({
        "executor": args.executor,
        "address": args.address,
        "workers": args.workers,
        "threads": args.threads,
        "shared_warmup": args.shared_warmup,
        "warmup_dir": args.warmup_dir,
    }))
    check_counts(args, ("workers", "threads", "cores", "max_jobs"))
    if settings.executor == "dask" and not settings.address:
        raise ValueError("--executor dask needs --address tcp://HOST:PORT of a scheduler")
    return dataclasses.replace(spec, settings=settings)


def _sweep(spec: SweepSpec, args: argparse.Namespace, *, dry_run: bool = False) -> SweepResult:
    spec = _with_flags(spec, args)
    return run_sweep(
        spec,
        db_path=args.db,
        dry_run=dry_run,
        progress=not args.quiet,
        retry_failed=not args.skip_failed,
    )


def _print_outcome(result: SweepResult) -> None:
    print(
        f"{result.spec}: {result.total} trials, {result.skipped} already done, "
        f"{result.done} done now, {result.failed} failed, {result.remaining} not run "
        f"({result.seconds:.0f} s); results: {result.db_path}"
    )
    if result.warmups:
        print(f"shared warm-ups: {result.warmups}, epochs {result.epochs} instead of "
              f"{result.epochs_alone} ({result.epochs / result.epochs_alone:.2f}x)")
    for h, error in result.failures[:10]:
        print(f"  failed {h[:12]}: {error}", file=sys.stderr)
    if result.failed:
        print(f"  full tracebacks: robustloss results {result.db_path} --trials --status failed",
              file=sys.stderr)


def sweep_command(args: argparse.Namespace) -> int:
    result = _sweep(load_spec(args.spec), args, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    _print_outcome(result)
    return 0 if result.ok else 1


# ----- results ---------------------------------------------------------------------------


def _num(value: Any, fmt: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(int(value) if fmt == "d" else value, fmt)


def results_command(args: argparse.Namespace) -> int:
    db, sweep = resolve_source(args.source)
    with ResultStore(db, readonly=True) as store:
        trials = store.trials(sweep=sweep)
        counts = store.counts(sweep=sweep)
        if args.csv is not None:
            path = store.export_csv(args.csv, sweep=sweep)
            print(f"wrote {path} ({len(trials)} trials)", file=sys.stderr)
    mix = precision_mix(trials)
    if mix is not None:
        print(mix, file=sys.stderr)
    if args.trials:
        chosen = [t for t in trials if args.status is None or t.status == args.status]
        rows = []
        for t in chosen:
            c, s = t.config, t.summary  # s: None unless done
            setting = Setting(config=c, row=())
            rows.append([t.hash[:10], t.status, str(c.get("dataset") or c.get("data")),
                         f"{c['noise']:g}", setting.label, str(c["seed"]),
                         _num(getattr(s, "f1", None)), _num(getattr(s, "precision", None)),
                         _num(getattr(s, "recall", None)), _num(getattr(s, "flagged", None), "d"),
                         _num(getattr(s, "correct", None), "d"),
                         _num(getattr(s, "corrupted", None), "d"), _num(t.seconds, ".0f")])
        print(text_table(["hash", "status", "data", "noise", "setting", "seed", "F1", "P", "R",
                      "flagged", "correct", "corrupted", "s"], rows))
        for t in chosen:
            if t.status == "failed" and args.status == "failed":
                print(f"\n--- {t.hash} ({t.worker}):\n{(t.error or '').rstrip()}")
    else:
        settings = group_settings([t for t in trials if t.done])
        rows = [[row_label(s.row), s.label, str(len(s.summaries)),
                 format_f1(s.mean("f1"), s.std("f1")), _num(s.mean("precision")),
                 _num(s.mean("recall")), _num(s.mean("flagged"), ".1f"),
                 _num(s.mean("correct"), ".1f"), _num(s.mean("corrupted"), ".1f")]
                for s in settings]
        print(text_table(["row", "setting", "seeds", "F1 (mean ± std)", "P", "R", "flagged",
                      "correct", "corrupted"], rows))
    print(f"\n{db}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    print(sweep_progress(trials).line())
    return 0


# ----- report and reproduce ----------------------------------------------------------------


def report_command(args: argparse.Namespace) -> int:
    paths = write_report(args.sources, args.out, loss_curves=args.loss_curves)
    print(f"report: {paths['index']} ({paths['trials']} trials, {paths['settings']} settings)")
    return 0


def reproduce_command(args: argparse.Namespace) -> int:
    name = "quick" if args.quick else "paper-table1"
    spec = load_spec(name)
    db = args.db if args.db is not None else default_db_path(spec.name)
    args.db = db
    out = args.out if args.out is not None else db.parent / "report"
    print(f"robustloss reproduce: spec {name} ({len(spec.trials())} trials), results {db}, "
          f"report {out}", file=sys.stderr)
    result = _sweep(spec, args)
    _print_outcome(result)
    paths = write_report(db, out)
    print(f"report: {paths['index']}")
    return 0 if result.ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    specs = ", ".join(list_specs())
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of experiments from a spec, resumably",
        description=(
            "Run every trial of SPEC that is not done yet, on a local Dask cluster, an "
            "existing one, or SLURM jobs. Results go to a SQLite database (default "
            "runs/<spec name>/results.db); a stopped sweep resumes where it stopped. "
            f"Bundled specs: {specs}."
        ),
    )
    p.add_argument("spec", help=f"a bundled spec ({specs}) or a .toml file")
    p.add_argument("--dry-run", action="store_true",
                   help="list the trials and the epochs they cost; run nothing")
    _add_executor_flags(p)
    p.set_defaults(func=sweep_command)

    p = subparsers.add_parser(
        "results",
        help="print a sweep's results; export them as CSV",
        description="Per setting, the mean ± std over seeds of F1, precision and recall "
        "(--trials: every trial). SOURCE is a results database or a spec (its default "
        "database).",
    )
    p.add_argument("source", metavar="SPEC|DB")
    p.add_argument("--trials", action="store_true", help="one row per trial")
    p.add_argument("--status", choices=("pending", "running", "done", "failed"),
                   help="with --trials: only these (failed: with tracebacks)")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write every trial to this CSV")
    p.set_defaults(func=results_command)

    p = subparsers.add_parser(
        "report",
        help="Table 1, Figures 5 and 6 and index.html from sweep results",
        description="Write the report of one or more sweeps (databases or specs): Table 1 "
        "(Markdown and CSV, our mean ± std beside the paper's), Figure 5, Figure 6, the "
        "loss curves, and index.html showing them all.",
    )
    p.add_argument("sources", nargs="+", metavar="SPEC|DB")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="report folder")
    p.add_argument("--no-loss-curves", dest="loss_curves", action="store_false",
                   help="leave out the loss-curve figures")
    p.set_defaults(func=report_command)

    p = subparsers.add_parser(
        "reproduce",
        help="run the paper's Table 1 grid (or --quick) and write its report",
        description="robustloss sweep paper-table1 (48 trials, 11-14 hours on 2 CPU cores; "
        "resumable) or, with --quick, the few-minute quick spec; then robustloss report.",
    )
    p.add_argument("--quick", action="store_true",
                   help="the quick spec: 2,000 MNIST images, 3 epochs (minutes)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="report folder (default: beside the database, report/)")
    _add_executor_flags(p)
    p.set_defaults(func=reproduce_command)
