"""Time to find the wrong labels: the workflow users write today against robustloss.

Run:  .venv/bin/python benchmarks/time_to_detect.py [--dataset mnist|fashion-mnist|both]
      [--subset N] [--seeds 0 1 2] [--threads T] [--paths i,ii,ii10,iii] [--epochs 10]
      [--json OUT]

``--json OUT`` is rewritten after every path, and a rerun with the same OUT skips the
(dataset, seed, path) it already holds: a stopped race resumes (on the same kind of
machine, threads and epochs only; it refuses to mix).

Per dataset and seed, the labels are corrupted ONCE (symmetric, rho 0.2, seed = the seed)
and every path gets the same uint8 images and noisy labels; each is timed end to end, from
those arrays to its list of flagged indices, side by side in one process:

  (i)    the documented workflow written plainly: a ``Dataset``/``DataLoader`` loop over
         standardized float tensors, the paper's CNN as the PyTorch MNIST example writes it
         (``nn.Dropout``), cross entropy, Adam 1e-3, ``--epochs`` epochs, stratified 5-fold
         out-of-fold ``pred_probs``, then ``cleanlab.filter.find_label_issues(labels,
         pred_probs, filter_by="both")``;
  (ii)   robustloss's fastest recommended path: in-sample, Blurry Loss (gamma 0.4),
         precision "auto", and label-free early stopping (10 % of the NOISY labels held
         out, patience 2, at most ``--epochs``; no clean label is used);
  (ii10) (ii) without early stopping (``--epochs`` epochs on all N): what stopping is worth;
  (iii)  robustloss with out-of-sample folds: stratified 5-fold CV, Blurry Loss, "auto".

Printed per path: seconds (mean and spread over seeds), the ratio to (i) (median of the
per-seed ratios), precision, recall and F1 against the known corruption (mean ± sd), the
precision used and the chosen epochs. ``--json`` writes every number, per seed, with the
held-out (noisy-label) accuracy per epoch that early stopping decided on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch.utils.data import DataLoader, Dataset

from example_cnn import ExampleCNN
from robustloss.train.precision import cpu_capability, cpu_has_native_bf16

RHO = 0.2
BATCH = 64


# ----- (i): the workflow as users write it ---------------------------------------------------


class ImageDataset(Dataset):
    """uint8 (N, 28, 28) images as standardized (1, 28, 28) float tensors, with labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: float, std: float):
        self.images, self.labels, self.mean, self.std = images, labels, mean, std

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = (torch.from_numpy(self.images[i]).float() - self.mean) / self.std
        return x.unsqueeze(0), int(self.labels[i])


def plain_workflow(images, noisy, *, seed: int, epochs: int) -> dict:
    """(i): 5-fold out-of-fold pred_probs with a plain loop, then cleanlab."""
    from cleanlab.filter import find_label_issues

    torch.manual_seed(seed)
    n = len(noisy)
    pred_probs = np.zeros((n, 10))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for train_idx, held_idx in folds.split(np.zeros(n), noisy):
        part = images[train_idx].astype(np.float32)
        mean, std = float(part.mean()), float(part.std())
        loader = DataLoader(
            ImageDataset(images[train_idx], noisy[train_idx], mean, std),
            batch_size=BATCH,
            shuffle=True,
        )
        model = ExampleCNN()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
        model.eval()
        held = DataLoader(
            ImageDataset(images[held_idx], noisy[held_idx], mean, std), batch_size=1024
        )
        with torch.no_grad():
            out = [torch.softmax(model(xb), 1) for xb, _ in held]
        pred_probs[held_idx] = torch.cat(out).numpy()
    flagged = find_label_issues(noisy, pred_probs, filter_by="both")
    return {"flagged": np.flatnonzero(flagged), "precision_used": "fp32", "epochs": [epochs] * 5}


# ----- (ii), (ii10), (iii): robustloss ---------------------------------------------------------


def robustloss_path(images, noisy, *, seed, epochs, threads, protocol, early_stop) -> dict:
    from robustloss.detect import find_label_errors
    from robustloss.probs.protocols import predicted_probabilities
    from robustloss.train import TrainConfig

    cfg = TrainConfig(
        epochs=epochs,
        loss="blurry",
        loss_params={"gamma": 0.4},
        seed=seed,
        threads=threads,
        precision="auto",
        early_stop=early_stop,
    )
    probs = predicted_probabilities(
        images, noisy, cfg, protocol=protocol, folds=5, seed=seed, num_classes=10, quiet=True
    )
    flagged = find_label_errors(noisy, probs.pred_probs, method="both")
    return {
        "flagged": np.asarray(flagged),
        "precision_used": probs.train_config["precision"],
        "epochs": list(probs.chosen_epochs),
        # early stopping's label-free signal, per model and epoch (None without it): what it
        # saw when it stopped, to read a stop without any ground truth
        "holdout_acc": [[h.get("holdout_acc") for h in hist] for hist in probs.histories],
    }


PATHS: dict[str, str] = {
    "i": "(i)    DataLoader loop, 5-fold CV, CE, cleanlab",
    "ii": "(ii)   robustloss in-sample, BL 0.4, auto, early stop",
    "ii10": "(ii10) robustloss in-sample, BL 0.4, auto, all epochs",
    "iii": "(iii)  robustloss 5-fold CV, BL 0.4, auto",
}


def runner(name: str, args) -> Callable[..., dict]:
    common = {"epochs": args.epochs}
    if name == "i":
        return lambda x, y, seed: plain_workflow(x, y, seed=seed, **common)
    opts = {
        "ii": {"protocol": "in-sample", "early_stop": True},
        "ii10": {"protocol": "in-sample", "early_stop": False},
        "iii": {"protocol": "cv", "early_stop": False},
    }[name]
    return lambda x, y, seed: robustloss_path(
        x, y, seed=seed, threads=args.threads, **common, **opts
    )


# ----- the race ------------------------------------------------------------------------------


def load(dataset: str, subset: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from robustloss.data import load_dataset

    images, labels = load_dataset(dataset, "train")
    labels = np.asarray(labels, dtype=np.int64)
    if subset is not None and subset < len(labels):
        idx, _ = train_test_split(
            np.arange(len(labels)), train_size=subset, stratify=labels, random_state=seed
        )
        idx = np.sort(idx)
        images, labels = images[idx], labels[idx]
    return np.ascontiguousarray(images), labels


def score(flagged: np.ndarray, corrupted: np.ndarray) -> dict:
    from robustloss.detect import score_detections

    s = score_detections(flagged, corrupted)
    return {k: float(s[k]) for k in ("precision", "recall", "f1")}


def _ms(values: list[float], fmt: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def _n(args) -> int:
    """The examples a race uses: ``--subset`` of the 60,000 (all of them by default)."""
    return min(args.subset or 60_000, 60_000)


def _machine() -> dict:
    return {"cpu_capability": cpu_capability(), "native_bf16": cpu_has_native_bf16()}


def _resume(path: Path | None, args) -> list[dict]:
    """The rows an earlier run of the same race wrote to ``path`` (a stopped race resumes).

    Only rows measured on this kind of machine, with the same threads and epochs, are
    kept: a ratio between times taken on two CPUs would mean nothing.
    """
    if path is None or not path.is_file():
        return []
    rows = json.loads(path.read_text())["rows"]
    same = _machine() | {"threads": args.threads, "max_epochs": args.epochs}
    other = [r for r in rows if any(r.get(k) != v for k, v in same.items())]
    if other:
        raise SystemExit(
            f"{path}: {len(other)} of its {len(rows)} rows were measured with other settings "
            f"or on another machine ({ {k: other[0].get(k) for k in same} } vs {same}); "
            "write this race to another --json file"
        )
    return rows


def _save(path: Path | None, rows: list[dict], args) -> None:
    """Every row so far, written atomically after each path (nothing half-written)."""
    if path is None:
        return
    meta = {"argv": sys.argv, "threads": args.threads, "torch": torch.__version__} | _machine()
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    tmp.replace(path)


def race(dataset: str, args, rows: list[dict]) -> list[dict]:
    """Run every (seed, path) of ``dataset`` not already in ``rows``; append to ``rows``."""
    from robustloss.noise import corrupt_labels

    for seed in args.seeds:
        done = {r["path"] for r in rows
                if (r["dataset"], r["seed"], r["n"]) == (dataset, seed, _n(args))}  # fmt: skip
        if done >= set(args.paths):
            continue
        images, clean = load(dataset, args.subset, seed)
        noisy, corrupted = corrupt_labels(
            clean, RHO, num_classes=10, kind="symmetric", rng=np.random.default_rng(seed)
        )
        noisy, corrupted = np.asarray(noisy, dtype=np.int64), np.asarray(corrupted, dtype=bool)
        order = args.paths if seed % 2 == 0 else args.paths[::-1]  # drifts hit all alike
        for name in order:
            if name in done:
                continue  # measured by an earlier run of this race (--json resumes)
            fn = runner(name, args)
            t0 = time.perf_counter()
            out = fn(images, noisy.copy(), seed)  # arrays in, flagged list out
            seconds = time.perf_counter() - t0
            row = {"dataset": dataset, "seed": seed, "path": name, "n": len(noisy),
                   "seconds": seconds, "precision_used": out["precision_used"],
                   "epochs": out["epochs"], "flagged": len(out["flagged"]),
                   "holdout_acc": out.get("holdout_acc"),
                   "threads": args.threads, "max_epochs": args.epochs, **_machine(),
                   **score(out["flagged"], corrupted)}
            rows.append(row)
            _save(args.json, rows, args)
            print(f"  {dataset} seed {seed} {name:<5s} {seconds:8.1f} s  F1 {row['f1']:.4f}  "
                  f"epochs {out['epochs']}", flush=True)
    return rows


def table(rows: list[dict], dataset: str, paths: list[str]) -> str:
    mine = [r for r in rows if r["dataset"] == dataset]
    n = mine[0]["n"] if mine else 0
    lines = [f"\n{dataset}, N = {n}, symmetric rho {RHO}, seeds "
             f"{sorted({r['seed'] for r in mine})}",
             f"{'path':<56s} {'seconds':>16s} {'ratio to (i)':>12s} {'precision':>16s} "
             f"{'recall':>16s} {'F1':>16s}  precision used, epochs"]
    base = {r["seed"]: r["seconds"] for r in mine if r["path"] == "i"}
    for p in paths:
        rs = [r for r in mine if r["path"] == p]
        if not rs:
            continue
        ratios = [base[r["seed"]] / r["seconds"] for r in rs if r["seed"] in base]
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "—"
        epochs = sorted({e for r in rs for e in r["epochs"]})
        lines.append(
            f"{PATHS[p]:<56s} {_ms([r['seconds'] for r in rs], '.1f'):>16s} {ratio:>12s} "
            f"{_ms([r['precision'] for r in rs], '.4f'):>16s} "
            f"{_ms([r['recall'] for r in rs], '.4f'):>16s} "
            f"{_ms([r['f1'] for r in rs], '.4f'):>16s}  {rs[0]['precision_used']}, {epochs}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="both", choices=("mnist", "fashion-mnist", "both"))
    parser.add_argument("--subset", type=int, help="a stratified N of the 60,000 (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--paths", default="i,ii,ii10,iii",
                        help=f"comma-separated, of {','.join(PATHS)}")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs of (i), (ii10), (iii); the most for (ii) (default 10)")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    bad = [p for p in args.paths if p not in PATHS]
    if bad:
        parser.error(f"--paths: unknown {bad}; expected some of {list(PATHS)}")
    torch.set_num_threads(args.threads)
    datasets = ["mnist", "fashion-mnist"] if args.dataset == "both" else [args.dataset]
    print(f"time to detect: {datasets}, subset {args.subset or 'all'}, seeds {args.seeds}, "
          f"threads {args.threads}, epochs {args.epochs}; torch {torch.__version__}, CPU "
          f"capability {cpu_capability()}, native bf16 {cpu_has_native_bf16()}", flush=True)
    rows = _resume(args.json, args)
    for d in datasets:
        race(d, args, rows)
    mine = [r for r in rows if r["n"] == _n(args) and r["seed"] in args.seeds]
    for d in datasets:
        print(table(mine, d, args.paths))
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
