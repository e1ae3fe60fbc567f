"""Where one fp32 training epoch of the paper CNN spends its time (torch.profiler).

Run:  .venv/bin/python benchmarks/profile_epoch.py [--samples 2000] [--threads 2] [--rows 18]
      [--layouts contiguous channels_last]

Trains one epoch of ``robustloss.train.train`` (fp32, batch 64) on the first ``--samples``
MNIST training images after a short warm-up, once per memory format in ``--layouts``
(``contiguous``: an explicit ``precision="fp32"``; ``channels_last``: what precision "auto"
resolves to on a CPU without native bf16), and prints, per layout, the profiler's operator
table sorted by self CPU time, then one side-by-side table of the main operators' self CPU
milliseconds, with the CPU capability it ran on. Read it as proportions: the absolute times
move with the machine's load.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from robustloss.data import load_dataset
from robustloss.train import TrainConfig, train
from robustloss.train.precision import cpu_capability, cpu_has_native_bf16

#: operators of the side-by-side table (the rest is summed as "other").
OPS = (
    "aten::convolution_backward",
    "aten::mkldnn_convolution",
    "aten::max_pool2d_with_indices",
    "aten::max_pool2d_with_indices_backward",
    "aten::mm",
    "aten::addmm",
    "aten::_fused_adam_",
    "aten::random_",
)


def profile_layout(images, labels, *, threads: int, channels_last: bool):
    """(samples/s, {operator: self CPU ms}, profiler) of one fp32 epoch in one layout."""
    config = TrainConfig(epochs=1, threads=threads, precision="fp32", channels_last=channels_last)
    train(config, images[:256], labels[:256], quiet=True)  # warm-up: allocations, oneDNN
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = train(config, images, labels, quiet=True)
    self_ms = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    return result.history[0]["samples_per_s"], self_ms, prof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=18)
    parser.add_argument("--layouts", nargs="+", choices=("contiguous", "channels_last"),
                        default=["contiguous", "channels_last"])
    args = parser.parse_args()
    images, labels = load_dataset("mnist", "train")
    images, labels = images[: args.samples], labels[: args.samples]
    print(f"CPU capability {cpu_capability()}, native bf16 {cpu_has_native_bf16()}, "
          f"torch {torch.__version__}, {args.samples} samples, {args.threads} threads, fp32")
    rates, tables = {}, {}
    for layout in args.layouts:
        rates[layout], tables[layout], prof = profile_layout(
            images, labels, threads=args.threads, channels_last=layout == "channels_last"
        )
        print(f"\n{layout}: {rates[layout]:.0f} samples/s")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                        max_name_column_width=40))
    print("\nself CPU ms per operator, side by side (one epoch each)")
    print(f"  {'operator':<42s}" + "".join(f"{name:>16s}" for name in args.layouts))
    for op in (*OPS, "other", "total"):
        cells = []
        for layout in args.layouts:
            t = tables[layout]
            if op == "total":
                cells.append(sum(t.values()))
            elif op == "other":
                cells.append(sum(v for k, v in t.items() if k not in OPS))
            else:
                cells.append(t.get(op, 0.0))
        print(f"  {op:<42s}" + "".join(f"{c:16.1f}" for c in cells))
    print(f"  {'samples/s':<42s}" + "".join(f"{rates[name]:16.0f}" for name in args.layouts))


if __name__ == "__main__":
    main()
