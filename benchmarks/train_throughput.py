"""Training throughput of the paper's CNN: a plain PyTorch loop against robustloss.train.

Run:  .venv/bin/python benchmarks/train_throughput.py [--samples N] [--rounds R] [--threads T]
      [--f1-seeds S --f1-epochs E --f1-loss ce|blurry]

Loops, all on PaperCNN (1,199,882 parameters), batch 64, Adam lr 1e-3, the same N images
(the first N of MNIST's training set when it loads offline, else Fashion-MNIST, else
synthetic digits; the script says which), each one epoch over the N images per round:

  (a)  plain loop as users write it: a ``TensorDataset`` of standardized float tensors,
       ``DataLoader(batch_size=64, shuffle=True, num_workers=0)``, ``torch.optim.Adam``
       with its defaults, fp32;
  (a0) the same loop on the textbook network (``nn.Dropout``, ReLU before max-pool), to
       show what robustloss's PaperCNN changes (which (a) already enjoys) are worth;
  (b)  ``robustloss.train.train`` in fp32, contiguous layout (an explicit ``precision="fp32"``);
  (c)  ``robustloss.train.train`` in the setting ``--fast-precision`` names (default
       ``auto``: bf16 where the CPU has native bf16, AVX512-BF16/AMX, else fp32, both
       channels-last; ``bf16`` forces the emulated path, ~11x slower than fp32 on an AVX2 CPU);
  (d)  the compute limit of (c)'s setting: forward + backward + Adam step on ONE fixed
       batch, no data handling at all.

Rounds alternate the order (forward, then reversed) so drifts of a shared machine hit all
loops alike; an untimed warm-up round comes first. Reported: median samples/s per loop and
the median over rounds of the per-round ratios b/a, c/a, c/a0, c/d. Timings cover the
training passes only (not model construction or data loading).

``--f1-seeds S`` adds the accuracy side of the comparison: for S seeds, corrupt the N
labels (symmetric, rho = 0.2), train (b) and (c) for ``--f1-epochs`` epochs with
``--f1-loss`` (cross entropy, or Blurry Loss gamma 0.4 as the main job), and score
Confident Learning's detections (cleanlab, "both"): F1 mean and spread per setting.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from example_cnn import ExampleCNN
from robustloss.models.images import ImageClassifier, InputScaling, PaperCNN, channel_stats
from robustloss.train import TrainConfig, predict_proba, train
from robustloss.train.build import make_optimizer as _make_optimizer

BATCH = 64


def load_images(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The first n training images of MNIST, else Fashion-MNIST (offline only), else synthetic."""
    from robustloss.data import load_dataset

    for name in ("mnist", "fashion-mnist"):
        try:
            images, labels = load_dataset(name, "train", download=False)
        except ValueError:
            continue
        return images[:n], labels[:n], f"{name} (first {min(n, len(labels))} training images)"
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    images = (rng.random((n, 28, 28)) * 80).astype(np.uint8)
    for k in range(10):  # a bright bar whose row encodes the class: learnable
        images[labels == k, 3 + 2 * k : 5 + 2 * k, 4:24] = 255
    return images, labels.astype(np.int64), f"synthetic ({n} images: noise + a class bar)"


def plain_loop(images, labels, *, textbook: bool) -> float:
    """(a)/(a0): samples/s of one epoch of the loop most tutorials show."""
    x = torch.from_numpy(images).float().unsqueeze(1)  # (N, 1, 28, 28)
    x = (x - x.mean()) / x.std()
    ds = TensorDataset(x, torch.from_numpy(labels))
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=0)
    model = ExampleCNN() if textbook else PaperCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    for xb, yb in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    return len(ds) / (time.perf_counter() - t0)


def engine(images, labels, *, threads: int, precision: str, channels_last: bool) -> float:
    """(b)/(c): samples/s of robustloss.train's training pass (one epoch)."""
    cfg = TrainConfig(epochs=1, precision=precision, channels_last=channels_last, threads=threads)
    return train(cfg, images, labels, quiet=True).history[0]["samples_per_s"]


def compute_limit(images, labels, *, threads: int, precision: str, channels_last: bool) -> float:
    """(d): (c)'s model, optimizer and precision stepping on one fixed batch."""
    cfg = TrainConfig(precision=precision, channels_last=channels_last, threads=threads)
    x = torch.from_numpy(images)
    mean, std = channel_stats(x)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ImageClassifier(
        InputScaling("standardize", mean, std, channels_last=channels_last), PaperCNN()
    ).to(memory_format=fmt)
    opt = _make_optimizer(cfg, model.parameters())
    xb, yb = x[:BATCH].clone(), torch.from_numpy(labels[:BATCH]).clone()
    steps = max(1, len(labels) // BATCH)
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - t0)


def _fast(args) -> dict:
    """(c)'s precision and memory format, as robustloss resolves them on this CPU."""
    from robustloss.train.precision import resolve_precision

    choice = resolve_precision(args.fast_precision, "cpu", channels_last=args.channels_last)
    return {"precision": choice.precision, "channels_last": choice.channels_last}


def throughput(args, images, labels) -> None:
    fast = _fast(args)
    loops: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "a": lambda x, y: plain_loop(x, y, textbook=False),
        "a0": lambda x, y: plain_loop(x, y, textbook=True),
        "b": lambda x, y: engine(x, y, threads=args.threads, precision="fp32", channels_last=False),
        "c": lambda x, y: engine(x, y, threads=args.threads, **fast),
        "d": lambda x, y: compute_limit(x, y, threads=args.threads, **fast),
    }
    labels_of = {
        "a": "(a)  plain DataLoader loop, PaperCNN, fp32",
        "a0": "(a0) plain DataLoader loop, textbook CNN, fp32",
        "b": "(b)  robustloss.train, fp32",
        "c": f"(c)  robustloss.train, {args.fast_precision} -> {fast['precision']}"
        + (" + channels-last" if fast["channels_last"] else ""),
        "d": "(d)  compute limit of (c): one fixed batch",
    }
    warm = min(len(labels), 8 * BATCH)
    for fn in loops.values():  # untimed: oneDNN primitive creation, allocator warm-up
        fn(images[:warm], labels[:warm])
    rates: dict[str, list[float]] = {k: [] for k in loops}
    names = list(loops)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            rates[k].append(loops[k](images, labels))
        print(f"round {r + 1}: " + ", ".join(f"{k} {rates[k][-1]:,.0f}" for k in names), flush=True)
    print(f"\nsamples/s (median of {args.rounds} rounds, one epoch of {len(labels)} images each)")
    for k in names:
        print(f"  {labels_of[k]:<52s} {statistics.median(rates[k]):>8,.0f}")
    print("ratios (median over rounds of per-round ratios)")
    for num, den in (("b", "a"), ("c", "a"), ("c", "b"), ("c", "a0"), ("c", "d")):
        ratio = statistics.median(x / y for x, y in zip(rates[num], rates[den], strict=True))
        print(f"  {num}/{den} = {ratio:.2f}")


def f1_comparison(args, images, labels, source: str) -> None:
    from robustloss.detect import find_label_errors, score_detections
    from robustloss.noise import corrupt_labels

    fast = _fast(args)
    settings = {
        "b fp32": {"precision": "fp32", "channels_last": False},
        "c " + fast["precision"] + ("+cl" if fast["channels_last"] else ""): fast,
    }
    loss = {"ce": {"loss": "ce"}, "blurry": {"loss": "blurry", "loss_params": {"gamma": 0.4}}}[
        args.f1_loss
    ]
    print(
        f"\nF1 of Confident Learning ('both'), {source}, symmetric rho=0.2, {args.f1_loss}"
        f"{' gamma 0.4' if args.f1_loss == 'blurry' else ''}, "
        f"{args.f1_epochs} epochs, in-sample probabilities, {args.f1_seeds} seeds"
    )
    for name, opts in settings.items():
        f1s = []
        for seed in range(args.f1_seeds):
            noisy, corrupted = corrupt_labels(labels, 0.2, num_classes=10, rng=seed)
            cfg = TrainConfig(
                epochs=args.f1_epochs, seed=seed, threads=args.threads, **loss, **opts
            )
            model = train(cfg, images, noisy, quiet=True).model
            flagged = find_label_errors(noisy, predict_proba(model, images))
            f1s.append(score_detections(flagged, corrupted)["f1"])
        spread = statistics.stdev(f1s) if len(f1s) > 1 else float("nan")
        print(
            f"  {name:<12s} F1 mean {statistics.mean(f1s):.4f}  sd {spread:.4f}  "
            f"min {min(f1s):.4f}  max {max(f1s):.4f}  ({', '.join(f'{v:.4f}' for v in f1s)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=4096, help="images per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (alternating)")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads for every loop (default: torch's default)",
    )
    parser.add_argument(
        "--fast-precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="(c)'s precision (default auto: what robustloss picks on this CPU)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format in (c) and (d) (default: as auto decides)",
    )
    parser.add_argument(
        "--f1-seeds",
        type=int,
        default=0,
        help="also compare detection F1 of (b) and (c) over this many seeds",
    )
    parser.add_argument("--f1-epochs", type=int, default=10)
    parser.add_argument(
        "--f1-loss",
        choices=("ce", "blurry"),
        default="ce",
        help="the loss of the F1 comparison (blurry: gamma 0.4, the main job's setting)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, labels, source = load_images(args.samples)
    print(
        f"data: {source}; threads: {args.threads}; torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16 "
        f"{torch.cpu._is_avx512_bf16_supported()}"
    )
    if args.rounds > 0:
        throughput(args, images, labels)
    if args.f1_seeds > 0:
        f1_comparison(args, images, labels, source)


if __name__ == "__main__":
    main()
