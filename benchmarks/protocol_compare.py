"""In-sample against cv: detection F1 and wall time, on MNIST / Fashion-MNIST.

Every trial is ``robustloss run`` in process (``run_experiment``): symmetric noise at
``--noise`` (0.2), Blurry Loss (gamma 0.4) by default, the paper's CNN, the given
``--subset`` (None: all 60,000), one trial per (dataset, protocol, seed). Prints one line
per trial and a table of F1 mean +- std (sample std) and seconds per (dataset, protocol);
appends every trial to ``--csv`` as it finishes, and skips the trials the CSV already holds
(a stopped run resumes), and writes the table to ``--json``.

It measured a third protocol too, embed-cv (one CNN in-sample, then K heads out-of-fold on
its embeddings), which scored below in-sample at the same cost and was retired from the
library; its rows stay in benchmarks/results/protocols-*.csv / .json (and this script in
git history). A CSV that holds them resumes: they are kept, and left out of the table.

The comparison in docs/benchmarks/detection.md (run by the coordinator; times on this
project's 2-core CPU; the times included embed-cv's arm, about one training more per
dataset and seed)::

    # 3 seeds at a 10,000-example subset: per dataset and seed about 5 trainings' worth of
    # 10k x 10 epochs (in-sample 1, cv 5 x 0.8) at ~2,500 samples/s fp32
    python benchmarks/protocol_compare.py --datasets mnist fashion-mnist --subset 10000 \\
        --seeds 0 1 2 --csv runs/protocols-10k.csv --json runs/protocols-10k.json
    # one full-size seed: the same 5 trainings' worth of 60k x 10 epochs per dataset
    # (~290 s each end to end, docs/benchmarks/speed.md)
    python benchmarks/protocol_compare.py --datasets mnist fashion-mnist --seeds 0 \\
        --csv runs/protocols-full.csv --json runs/protocols-full.json

A smoke test: ``--subset 600 --epochs 1 --model tiny --seeds 0`` (seconds).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from robustloss.run.config import RunConfig
from robustloss.run.pipeline import run_experiment

PROTOCOLS = ("in-sample", "cv")


def trial(dataset: str, protocol: str, seed: int, args: argparse.Namespace) -> dict:
    cfg = RunConfig(
        dataset=dataset, noise=args.noise, loss=args.loss,
        gamma=args.gamma if args.loss in ("blurry", "focal") else None,
        protocol=protocol, folds=args.folds, seed=seed, subset=args.subset,
        epochs=args.epochs, model=args.model, threads=args.threads,
    )  # fmt: skip
    start = time.perf_counter()
    s = run_experiment(cfg, quiet=True)
    return {"dataset": dataset, "protocol": protocol, "seed": seed, "subset": args.subset,
            "f1": s.f1, "precision": s.precision, "recall": s.recall, "flagged": s.flagged,
            "seconds": time.perf_counter() - start, "test_acc": s.test_acc,
            "precision_used": s.precision_used, "cpu_capability": s.cpu_capability}  # fmt: skip


COLUMNS = ("dataset", "protocol", "seed", "subset", "f1", "precision", "recall", "flagged",
           "seconds", "test_acc", "precision_used", "cpu_capability")  # fmt: skip


def _done_rows(path: Path | None, subset: int | None) -> list[dict]:
    """Trials an earlier run wrote to ``path`` at this ``subset`` (the CSV resumes)."""
    if path is None or not path.is_file():
        return []
    with path.open(newline="") as f:
        wanted = "" if subset is None else str(subset)
        return [r for r in csv.DictReader(f) if r["subset"] == wanted]


def _append(path: Path | None, row: dict) -> None:
    """One trial's row, appended as soon as it is measured (a stopped run keeps it)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    if not new:
        with path.open(newline="") as f:
            header = next(csv.reader(f), [])
        if header != list(COLUMNS):  # an older CSV: rewrite it with today's columns, once
            with path.open(newline="") as f:
                old = list(csv.DictReader(f))
            tmp = path.with_suffix(path.suffix + ".tmp")
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in COLUMNS} for r in old)
            tmp.replace(path)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        if new:
            writer.writeheader()
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--subset", type=int, default=None)
    p.add_argument("--noise", type=float, default=0.2)
    p.add_argument("--loss", default="blurry")
    p.add_argument("--gamma", type=float, default=0.4)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--model", default="paper-cnn")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--csv", type=Path)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = _done_rows(args.csv, args.subset)
    for dataset in args.datasets:
        for seed in args.seeds:
            for protocol in args.protocols:
                if any((r["dataset"], r["protocol"], int(r["seed"])) == (dataset, protocol, seed)
                       for r in rows):  # fmt: skip
                    continue  # measured in an earlier run: the CSV resumes
                row = trial(dataset, protocol, seed, args)
                rows.append(row)
                _append(args.csv, row)
                print(f"{dataset} {protocol} seed {seed}: F1 {row['f1']:.4f} "
                      f"{row['seconds']:.0f} s ({row['precision_used']}, "
                      f"{row['cpu_capability']})", flush=True)  # fmt: skip
    rows = [r for r in rows if r["dataset"] in args.datasets and int(r["seed"]) in args.seeds]
    table = []
    for dataset in args.datasets:
        for protocol in args.protocols:
            sel = [r for r in rows if r["dataset"] == dataset and r["protocol"] == protocol]
            if not sel:
                continue
            f1 = np.array([float(r["f1"]) for r in sel])
            secs = np.array([float(r["seconds"]) for r in sel])
            std = float(f1.std(ddof=1)) if f1.size > 1 else 0.0
            table.append({"dataset": dataset, "protocol": protocol, "trials": len(sel),
                          "f1_mean": float(f1.mean()), "f1_std": std,
                          "seconds_mean": float(secs.mean())})  # fmt: skip
    print(f"\n{'dataset':<14} {'protocol':<10} {'F1':>16} {'seconds':>8}")
    for t in table:
        print(f"{t['dataset']:<14} {t['protocol']:<10} {t['f1_mean']:.4f} +- {t['f1_std']:.4f} "
              f"{t['seconds_mean']:>8.0f}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": vars(args) | {"csv": str(args.csv),
                             "json": str(args.json)}, "table": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
