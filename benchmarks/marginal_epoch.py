"""The marginal epoch of ``robustloss run --subset N`` against a plain DataLoader loop.

Run:  .venv/bin/python benchmarks/marginal_epoch.py [--subset 6400] [--epochs 1 3]
      [--rounds 2] [--threads T] [--dataset mnist] [--precision auto|fp32|bf16]
      [--channels-last | --no-channels-last] [--json OUT]

Side by side in one process, on the same N images:

  (a)  the plain loop as users write it (``benchmarks/train_throughput.py``'s (a): a
       ``TensorDataset`` of standardized floats, ``DataLoader(batch_size=64, shuffle=True)``,
       PaperCNN, Adam 1e-3, fp32), E_lo and E_hi epochs, nothing else per epoch;
  (r)  ``robustloss run --subset N --epochs E`` as the CLI runs it (``run_experiment`` with
       the run's defaults: corrupt 20 % symmetric, train in-sample with the default loss and
       precision "auto", score the clean test split, detect, score), E_lo and E_hi epochs.
       ``--precision fp32 --channels-last`` is what "auto" resolves to on a CPU without
       native bf16: the way to measure the fp32 engine on a machine whose auto is bf16.

The marginal epoch is ``(T(E_hi) - T(E_lo)) / (E_hi - E_lo)``: what one more epoch costs,
set-up, data loading, detection and the report's constant work cancelling. Rounds alternate
the order; the medians are reported, and ``r / a`` (target: <= 1.05: the per-epoch extras,
such as the test split and the accuracy against the true labels, cost at most 5 %).

Also measured in the same run, how close training is to the machine: this CPU's fp32 GEMM
rate (``torch.mm`` of two 2048 x 2048 matrices, best of 5) and the engine's achieved rate:
forward + backward FLOPs per sample of PaperCNN (counted by ``torch.utils.flop_counter``
on one batch) times the engine's training samples/s of the last (r) run, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from robustloss.models.images import PaperCNN
from robustloss.train.precision import cpu_capability, cpu_has_native_bf16

BATCH = 64


def plain_loop(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> float:
    """(a): seconds for ``epochs`` epochs of the tutorial loop, from the uint8 arrays."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    x = torch.from_numpy(images).float().unsqueeze(1)  # (N, 1, 28, 28)
    x = (x - x.mean()) / x.std()
    loader = DataLoader(
        TensorDataset(x, torch.from_numpy(labels)), batch_size=BATCH, shuffle=True
    )
    model = PaperCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return time.perf_counter() - t0


def robustloss_run(args, epochs: int, seed: int) -> tuple[float, dict]:
    """(r): seconds of ``robustloss run --subset N --epochs E`` (in-process), and its summary."""
    from robustloss.run.config import RunConfig
    from robustloss.run.pipeline import run_experiment

    cfg = RunConfig(
        dataset=args.dataset, subset=args.subset, epochs=epochs, seed=seed, threads=args.threads,
        precision=args.precision, channels_last=args.channels_last,
    )
    t0 = time.perf_counter()
    summary = run_experiment(cfg, None, quiet=True)
    return time.perf_counter() - t0, summary.to_dict()


def gemm_rate(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of ``torch.mm`` on two n x n matrices, best of ``repeats``."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_sample(batch: int = BATCH) -> float:
    """Forward + backward FLOPs per sample of PaperCNN (28 x 28, 10 classes), counted."""
    from torch.utils.flop_counter import FlopCounterMode

    model = PaperCNN()
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def load(args) -> tuple[np.ndarray, np.ndarray]:
    """The same stratified subset ``robustloss run --subset N --seed 0`` trains on."""
    from robustloss.run.config import RunConfig
    from robustloss.run.trainset import load_source, training_set

    cfg = RunConfig(dataset=args.dataset, subset=args.subset)
    ts = training_set(cfg, load_source(cfg))
    return ts.images, ts.labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--subset", type=int, default=6400)
    parser.add_argument("--epochs", type=int, nargs=2, default=(1, 3), metavar=("LO", "HI"))
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (alternating)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="(r)'s precision (default auto, as robustloss run)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="(r)'s memory format (default: as --precision auto decides)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers here")
    args = parser.parse_args()
    lo, hi = args.epochs
    if hi <= lo:
        parser.error(f"--epochs LO HI needs HI > LO, but got {lo} {hi}")
    torch.set_num_threads(args.threads)
    images, labels = load(args)
    print(
        f"{args.dataset}, --subset {args.subset} ({len(labels)} images), epochs {lo} vs {hi}, "
        f"threads {args.threads}; torch {torch.__version__}, CPU capability "
        f"{cpu_capability()}, native bf16 {cpu_has_native_bf16()}",
        flush=True,
    )
    plain_loop(images[:512], labels[:512], 1, 0)  # untimed warm-ups: oneDNN, allocator,
    robustloss_run(args, lo, 0)  # imports and the dataset's first read
    runs: dict[str, dict[int, list[float]]] = {"a": {lo: [], hi: []}, "r": {lo: [], hi: []}}
    summary: dict = {}
    for r in range(args.rounds):
        jobs = [("a", lo), ("a", hi), ("r", lo), ("r", hi)]
        for name, epochs in jobs if r % 2 == 0 else jobs[::-1]:
            if name == "a":
                seconds = plain_loop(images, labels, epochs, r)
            else:
                seconds, got = robustloss_run(args, epochs, r)
                summary = got if epochs == hi else summary or got
            runs[name][epochs].append(seconds)
            print(f"  round {r + 1}: ({name}) {epochs} epoch(s) {seconds:.2f} s", flush=True)
    med = {k: {e: statistics.median(v) for e, v in d.items()} for k, d in runs.items()}
    marginal = {k: (med[k][hi] - med[k][lo]) / (hi - lo) for k in med}
    ratio = marginal["r"] / marginal["a"]
    print(f"\nmarginal epoch (median of {args.rounds} rounds)")
    print(f"  (a) plain DataLoader loop, fp32        {marginal['a']:7.2f} s")
    print(f"  (r) robustloss run --subset {args.subset:<6d}     {marginal['r']:7.2f} s")
    print(f"  r / a = {ratio:.3f}  (target <= 1.05)")

    gemm = gemm_rate()
    fps = flops_per_sample()
    last = [h for h in summary.get("history", []) if h.get("samples_per_s")]
    sps = statistics.median(h["samples_per_s"] for h in last) if last else float("nan")
    achieved = fps * sps / 1e9
    used = summary.get("precision_used")
    layout = summary.get("memory_format")
    print(f"\nhow close to the machine ({used}, {layout}, {args.threads} threads)")
    print(f"  fp32 GEMM (torch.mm 2048^2, best of 5)   {gemm:8.1f} GFLOP/s")
    print(f"  PaperCNN forward+backward, counted        {fps / 1e6:8.2f} MFLOP/sample")
    print(f"  engine training pass                       {sps:8,.0f} samples/s")
    print(f"  achieved                                   {achieved:8.1f} GFLOP/s "
          f"= {achieved / gemm:.1%} of GEMM")
    out = {
        "dataset": args.dataset, "subset": args.subset, "epochs": [lo, hi],
        "threads": args.threads, "cpu_capability": cpu_capability(),
        "native_bf16": cpu_has_native_bf16(), "precision_used": used,
        "memory_format": layout, "seconds": runs,
        "marginal_s": marginal, "ratio": ratio, "gemm_gflops": gemm,
        "flops_per_sample": fps, "samples_per_s": sps, "achieved_gflops": achieved,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
