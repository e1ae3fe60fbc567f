"""The "Detectors beside Confident Learning" tables (docs/benchmarks/detectors.md) from a
finished detectors sweep.

    robustloss sweep detectors            # the bundled spec (src/robustloss/specs/detectors.toml)
    python benchmarks/detector_table.py detectors

Reads the trials (a spec name, a spec file or a results.db), each of which scored every
detector on one trained model (its summary's ``detectors``), and prints per dataset and noise
kind a loss x detector table of F1 mean +- std over seeds; per detector whether a robust loss
beat CE (mean F1 over the conditions); the best (loss, detector) pair overall; and each
detector's cost on top of training (median seconds per trial, next to the training's own).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from typing import Any

from robustloss.detect import DETECTORS
from robustloss.sweeps.results import StoredTrial
from robustloss.sweeps.sources import load_trials

LOSS_TEXT = {
    "ce": lambda c: "CE",
    "blurry": lambda c: f"Blurry {c.get('gamma')}",
    "pz": lambda c: f"PZ {c.get('cutoff')} d {c.get('delay')}",
    "gce": lambda c: f"GCE {c.get('q')}",
}


def _loss(config: dict[str, Any]) -> str:
    return LOSS_TEXT.get(config["loss"], lambda c: c["loss"])(config)


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def collect(trials: list[StoredTrial]):
    """``f1[(dataset, kind)][loss][detector] -> [per seed]``, costs, trial seconds."""
    f1: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    cost: dict[str, list[float]] = defaultdict(list)
    train_s: list[float] = []
    for trial in trials:
        summary, config = trial.summary, trial.config
        scored = summary.detectors if summary is not None else None
        if not scored:
            continue
        cond = (config.get("dataset") or config.get("data"), config["noise_kind"])
        for name, row in scored.items():
            f1[cond][_loss(config)][name].append(float(row["f1"]))
            cost[name].append(float(row["seconds"]))
        if trial.seconds is not None:  # the whole trial (training, every detector)
            train_s.append(float(trial.seconds))
    return f1, cost, train_s


def _order(names) -> list[str]:
    return [d for d in DETECTORS if d in names] + sorted(set(names) - set(DETECTORS))


def tables(trials: list[StoredTrial]) -> str:
    f1, cost, train_s = collect(trials)
    if not f1:
        return "no finished trial with a `detectors` summary (compare_detectors) found"
    out: list[str] = []
    detectors = _order({d for c in f1.values() for row in c.values() for d in row})
    for cond in sorted(f1):
        out.append(f"\n**{cond[0]}, {cond[1]} 0.2** (F1, mean ± std over seeds)\n")
        out.append("| loss | " + " | ".join(detectors) + " |")
        out.append("|---" * (len(detectors) + 1) + "|")
        for loss, row in f1[cond].items():
            cells = [_mean_std(row.get(d, [])) for d in detectors]
            out.append(f"| {loss} | " + " | ".join(cells) + " |")
    # Does a robust loss help each detector? Mean F1 over conditions and seeds.
    means: dict[tuple[str, str], float] = {}
    for loss in {loss for c in f1.values() for loss in c}:
        for d in detectors:
            vals = [v for c in f1.values() for v in c.get(loss, {}).get(d, [])]
            if vals:
                means[(loss, d)] = statistics.mean(vals)
    out.append("\n**Does a robust loss help every detector?** (mean F1 over the conditions)\n")
    out.append("| detector | CE | best robust loss | Δ F1 |")
    out.append("|---|---|---|---|")
    for d in detectors:
        ce = means.get(("CE", d))
        robust = [(v, loss) for (loss, dd), v in means.items() if dd == d and loss != "CE"]
        if ce is None or not robust:
            continue
        best, name = max(robust)
        out.append(f"| {d} | {ce:.3f} | {name}: {best:.3f} | {best - ce:+.3f} |")
    (best, (loss, d)) = max((v, k) for k, v in means.items())
    out.append(f"\nBest pair without tuning (mean F1 over the conditions): **{loss} + {d}**, "
               f"{best:.3f}")
    whole = f"{statistics.median(train_s):.1f} s" if train_s else "unknown"
    out.append("\n**Cost on top of training** (median seconds per trial; a whole trial, "
               f"training and every detector: {whole})\n")
    out.append("| detector | seconds |")
    out.append("|---|---|")
    for d in detectors:
        out.append(f"| {d} | {statistics.median(cost[d]):.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="spec names, spec files or results.db files")
    args = parser.parse_args(argv)
    trials, _info = load_trials(args.sources)
    print(tables(trials))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
