"""What the detectors cost on top of training, side by side.

    python benchmarks/detector_cost.py --n 4000 --epochs 3 --repeats 2     # ~3 min, 2 cores

1. AUM's margin recording: the same training (MNIST subset, paper CNN, fp32 so that the
   two are bitwise comparable) with ``record_margins`` off and on, interleaved ``repeats``
   times; per-epoch seconds of the training pass and their ratio (on / off). The weights
   must come out identical (recording reads the logits under ``no_grad``): checked.
2. Each detector on the trained model's in-sample outputs: its own seconds, plus what it
   needs (penultimate features: one eval pass; AUM's threshold run: one more training,
   timed here at the same size).

``--dataset synthetic`` uses generated images (no data needed; for a smoke test).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch

from robustloss.detect import DETECTORS, DetectorInputs, run_detector
from robustloss.noise import corrupt_labels
from robustloss.probs.features import embeddings
from robustloss.run.detectors import aum_threshold_run
from robustloss.train import TrainConfig, predict_proba, train


def _data(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "synthetic":
        rng = np.random.default_rng(seed)
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 6, 4:20] = 230
        return images, labels.astype(np.int64)
    from robustloss.data import load_dataset

    images, labels = load_dataset(name, "train")
    idx = np.random.default_rng(seed).choice(len(labels), size=n, replace=False)
    return np.asarray(images)[idx], np.asarray(labels, dtype=np.int64)[idx]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--model", default="paper-cnn")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    images, clean = _data(args.dataset, args.n, 0)
    labels, _ = corrupt_labels(clean, 0.2, num_classes=10, kind="symmetric", rng=0)
    base = TrainConfig(epochs=args.epochs, precision="fp32", model=args.model,
                       threads=args.threads, device="cpu")  # fmt: skip
    per_epoch: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    for _ in range(args.repeats):
        for record in (False, True):
            cfg = dataclasses.replace(base, record_margins=record)
            res = train(cfg, images, labels, num_classes=10, quiet=True)
            per_epoch[record] += [args.n / r["samples_per_s"] for r in res.history]
            results[record] = res
    off, on = (statistics.median(per_epoch[k]) for k in (False, True))
    same = all(
        torch.equal(a, b)
        for a, b in zip(
            results[False].model.state_dict().values(),
            results[True].model.state_dict().values(),
            strict=True,
        )
    )
    print(f"AUM margin recording, {args.n} images x {args.epochs} epochs, {args.repeats} repeats:")
    print(f"  training pass per epoch: off {off:.3f} s, on {on:.3f} s, ratio {on / off:.4f}")
    print(f"  weights bitwise identical with and without recording: {same}")

    res = results[True]
    probs = predict_proba(res.model, images)
    t0 = time.perf_counter()
    feats = embeddings(res.model, images).astype(np.float64)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    thr = aum_threshold_run(images, labels, base, num_classes=10, seed=0)
    t_thr = time.perf_counter() - t0
    train_s = sum(r["seconds"] for r in res.history)
    inputs = DetectorInputs(labels=labels, pred_probs=probs, aum=res.margins.mean,
                            aum_threshold=thr.threshold, features=feats)  # fmt: skip
    print(f"detectors on the trained model (training: {train_s:.1f} s; features {t_feat:.2f} s; "
          f"AUM threshold run {t_thr:.1f} s):")
    extra = {"aum": t_thr, "knn": t_feat, "vote": t_feat}
    for name in DETECTORS:
        t0 = time.perf_counter()
        out = run_detector(name, inputs)
        own = time.perf_counter() - t0
        total = own + extra.get(name, 0.0)
        print(f"  {name:16s} own {own:7.3f} s  with prerequisites {total:7.2f} s "
              f"({total / train_s:6.1%} of training)  flagged {out.flagged.size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
