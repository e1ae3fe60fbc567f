"""Scale of ``robustloss detect --features``: N x D float16 embeddings, K classes, rho flipped.

Generates a Gaussian mixture with known flipped labels into a memory-mapped ``.npy``
(written in chunks: never whole in memory), then runs ``robustloss detect --features F
--labels L --protocol cv --folds 5 --head linear`` in a child process and reports its wall
time, its peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the
child's, generation excluded) and precision / recall / F1 of the flagged labels against
the known flips.

The data: K class means drawn from N(0, s^2 I_D) with s chosen so that a linear classifier
is about 95% accurate on clean labels (s = 0.35 at D = 256, K = 10; ``--spread``), every
example its class mean plus N(0, I_D) noise; then a fraction rho of the labels (exactly
round(rho N), uniformly chosen) is moved to a uniformly chosen *other* class.

Usage (the numbers of docs/benchmarks/scale.md; the first generates 512 MB of embeddings
under --dir)::

    python benchmarks/scale_features.py --n 1000000 --dim 256 --classes 10
    python benchmarks/scale_features.py --n 1000000 --dim 256 --classes 100
    python benchmarks/scale_features.py --n 100000 --dim 256 --classes 10   # a check, ~1 min

Prints one line per stage and a JSON record (also written with ``--json PATH``). The child
runs the CLI as a user would at this scale: ``--quiet --no-report`` (detections.csv,
summary.json and pred_probs.npy are written; report.html, which reads every row of
detections.csv, is not: ``--with-report`` adds it). Epochs, batch size and learning rate
are detect's ``--features`` defaults unless given after ``--``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 65536


def generate(
    folder: Path, *, n: int, dim: int, classes: int, rho: float, spread: float, seed: int
) -> tuple[Path, Path, np.ndarray]:
    """features.npy (N, D) float16 written in chunks, labels.npy (N,) int64 noisy labels;
    returns their paths and the (N,) bool mask of flipped labels."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, spread, size=(classes, dim)).astype(np.float32)
    true = rng.integers(0, classes, size=n)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=round(rho * n), replace=False)] = True
    noisy = true.copy()
    noisy[flipped] = (true[flipped] + rng.integers(1, classes, size=int(flipped.sum()))) % classes
    features = folder / "features.npy"
    out = np.lib.format.open_memmap(features, mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        noise = rng.standard_normal(size=(stop - start, dim), dtype=np.float32)
        out[start:stop] = (means[true[start:stop]] + noise).astype(np.float16)
    out.flush()
    del out
    labels = folder / "labels.npy"
    np.save(labels, noisy.astype(np.int64))
    return features, labels, flipped


def score(run_dir: Path, flipped: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 of detections.csv's flagged rows against the known flips."""
    import csv

    flagged = []
    with (run_dir / "detections.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["flagged"] != "1":
                break  # flagged rows come first
            flagged.append(int(row["index"]))
    idx = np.asarray(flagged, dtype=np.int64)
    correct = int(flipped[idx].sum()) if idx.size else 0
    precision = correct / idx.size if idx.size else 0.0
    recall = correct / int(flipped.sum()) if flipped.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"flagged": int(idx.size), "correct": correct, "corrupted": int(flipped.sum()),
            "precision": precision, "recall": recall, "f1": f1}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--rho", type=float, default=0.1)
    p.add_argument("--spread", type=float, default=0.35, help="class-mean std")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--head", default="linear")
    p.add_argument("--dir", type=Path, help="where the data and run go (default: a temp dir)")
    p.add_argument("--with-report", action="store_true", help="also write report.html")
    p.add_argument("--json", type=Path, help="also write the record here")
    p.add_argument("extra", nargs="*", help="more detect flags, after --")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        features, labels, flipped = generate(
            folder, n=args.n, dim=args.dim, classes=args.classes, rho=args.rho,
            spread=args.spread, seed=args.seed,
        )  # fmt: skip
        gen_s = time.perf_counter() - t0
        size_mb = features.stat().st_size / 2**20
        print(f"generated {args.n} x {args.dim} float16 ({size_mb:.0f} MB) in {gen_s:.1f} s",
              flush=True)  # fmt: skip
        run_dir = folder / "run"
        entry = "import sys; from robustloss.cli import main; sys.exit(main())"
        cmd = [sys.executable, "-c", entry, "detect", "--features", str(features),
               "--labels", str(labels), "--protocol", "cv", "--folds", str(args.folds),
               "--head", args.head, "--out", str(run_dir), "--quiet", *args.extra]  # fmt: skip
        if not args.with_report:
            cmd.append("--no-report")
        t1 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t1
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        record = {
            "n": args.n, "dim": args.dim, "classes": args.classes, "rho": args.rho,
            "folds": args.folds, "head": args.head, "extra": args.extra,
            "generate_s": gen_s, "detect_s": wall, "peak_rss_mb": peak_mb,
            "features_mb": size_mb, **score(run_dir, flipped),
            "cpus": os.cpu_count(),
        }  # fmt: skip
    print(f"detect --features: {wall:.1f} s, peak RSS {peak_mb:.0f} MB, "
          f"P {record['precision']:.4f} R {record['recall']:.4f} F1 {record['f1']:.4f}")
    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
