"""Where one fp32 training epoch of the paper CNN spends its time (torch.profiler).

Run:  .venv/bin/python benchmarks/profile_epoch.py [--samples 2000] [--threads 2] [--rows 18]

Trains one epoch of ``robustloss.train.train`` (fp32, batch 64) on the first ``--samples``
MNIST training images after a short warm-up, and prints the profiler's operator table
sorted by self CPU time, with the CPU capability it ran on. Read it as proportions: the
absolute times move with the machine's load.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from robustloss.data import load_dataset
from robustloss.train import TrainConfig, train
from robustloss.train.precision import cpu_capability, cpu_has_native_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=18)
    args = parser.parse_args()
    images, labels = load_dataset("mnist", "train")
    images, labels = images[: args.samples], labels[: args.samples]
    config = TrainConfig(epochs=1, threads=args.threads, precision="fp32")
    train(config, images[:256], labels[:256], quiet=True)  # warm-up: allocations, oneDNN
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = train(config, images, labels, quiet=True)
    print(f"CPU capability {cpu_capability()}, native bf16 {cpu_has_native_bf16()}, "
          f"torch {torch.__version__}, {args.samples} samples, {args.threads} threads: "
          f"{result.history[0]['samples_per_s']:.0f} samples/s")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                    max_name_column_width=40))


if __name__ == "__main__":
    main()
