"""Forward + backward time of every robustloss loss relative to F.cross_entropy.

Run:  .venv/bin/python benchmarks/bench_losses.py [--quick] [--threads N]

For each shape ((4096, 10) and (65536, 100) float32 logits), every loss (default
hyperparameters; Blurry gamma=0.4 with and without a detached weight, PZ cutoff 0.05) and
``torch.nn.functional.cross_entropy`` are timed in one run, interleaved: each repetition
times every candidate once, in an order that alternates between forward and reversed, so
slow drifts of a shared machine (other processes, frequency scaling) hit all candidates
alike. A candidate's time is the median over repetitions; each repetition runs it
``inner`` times back to back to stay far above the timer's resolution. The table shows
milliseconds per forward+backward and the ratio to F.cross_entropy (target: <= 2).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from robustloss import losses

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CANDIDATES: dict[str, Loss] = {
    "F.cross_entropy": F.cross_entropy,
    "ce": losses.CrossEntropyLoss(),
    "focal": losses.FocalLoss(),
    "blurry (g=0.4, detached)": losses.BlurryLoss(gamma=0.4),
    "blurry (g=0.4, literal)": losses.BlurryLoss(gamma=0.4, detach_weight=False),
    "pz (c=0.05)": losses.PiecewiseZeroLoss(cutoff=0.05),
    "gce": losses.GCELoss(),
    "mae": losses.MAELoss(),
    "sce": losses.SCELoss(),
    "nce+rce": losses.NCERCELoss(),
}

SHAPES: tuple[tuple[int, int], ...] = ((4096, 10), (65536, 100))


def _time_once(fn: Loss, x: torch.Tensor, t: torch.Tensor, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        x.grad = None
        fn(x, t).backward()
    return (time.perf_counter() - start) / inner


def bench_shape(shape: tuple[int, int], *, reps: int, seed: int = 0) -> dict[str, float]:
    """Median seconds per forward+backward for every candidate on ``shape`` logits."""
    gen = torch.Generator().manual_seed(seed)
    n, c = shape
    x = torch.randn(n, c, generator=gen).mul_(3.0).requires_grad_(True)  # (N, C) float32
    t = torch.randint(0, c, (n,), generator=gen)  # (N,)
    names = list(CANDIDATES)
    # about 5 ms per timed call at least
    probe = _time_once(F.cross_entropy, x, t, 3)
    inner = max(1, int(5e-3 / max(probe, 1e-7)))
    for name in names:  # warm-up: allocator, lazy init
        _time_once(CANDIDATES[name], x, t, inner)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(_time_once(CANDIDATES[name], x, t, inner))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions (default 101, quick 11)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the machine is shared; ratios, not absolute "
        "times, are the result)",
    )
    args = parser.parse_args(argv)
    reps = args.reps if args.reps is not None else (11 if args.quick else 101)
    if reps < 1 or args.threads < 1:
        raise SystemExit("--reps and --threads must be >= 1")
    torch.set_num_threads(args.threads)

    results = {shape: bench_shape(shape, reps=reps) for shape in SHAPES}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {reps} interleaved "
        "repetitions, median time of forward+backward, float32 logits"
    )
    header = f"{'loss':<26}" + "".join(f"{f'{n}x{c} ms':>14}{'ratio':>8}" for n, c in SHAPES)
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name in CANDIDATES:
        row = f"{name:<26}"
        for shape in SHAPES:
            ms = results[shape][name] * 1e3
            ratio = results[shape][name] / results[shape]["F.cross_entropy"]
            if name != "F.cross_entropy":
                worst = max(worst, ratio)
            row += f"{ms:>14.3f}{ratio:>8.2f}"
        print(row)
    print(f"worst ratio to F.cross_entropy: {worst:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
