"""Replay a noise-aware decision rule for ``--loss auto`` on recorded trials, without training.

    python benchmarks/auto_replay.py benchmarks/results/auto.db [benchmarks/results/auto-cv.db]

The question (docs/benchmarks/auto.md, "A noise-aware choice: replayed first"): would auto choose
better if it knew how many labels are wrong? Confident Learning's flags are right when the
model neither memorises the wrong labels (too few flags: recall lost) nor underfits hard
right ones (too many: precision lost), so a candidate whose own estimate of the number of
wrong labels (cleanlab's ``num_label_issues``, recorded per trial as ``estimated_errors``)
matches the true count should detect best. **Calibration to a target rate** picks, per row
and seed, the robust candidate (CE excluded) whose in-sample estimated rate is closest to
the target. Targets:

- ``true rate``: the corruption's real rate. **Uses ground truth**: a bound on the idea,
  not a method.
- ``median``, ``max``, ``default``: label-free stand-ins, the median or the largest of the
  candidates' own estimates, or the default setting's (Blurry 0.4).

Every rule here reads the fixed-setting trials, i.e. the *final* run of every candidate at
full epochs: ten runs, not auto's 2.5x budget. It measures whether the signal is there,
not a method's cost. Printed: mean F1 over rows and seeds against the oracle of the grid
(ground truth), the default and auto as it ran, then per row.

Then, where the database holds auto runs with criterion canary-f1 (``auto-canary``) or
canary-f1-structured (the in-sample default, ``auto``): their F1 against holdout-gap's
(``auto-gap``) per noise kind, and, on their recorded searches, what choosing among their
finalists by another criterion would give (the fixed trials' F1 of the pick; "best
finalist" uses GROUND TRUTH).

With a cv database (second argument): cleanlab's estimate from out-of-sample (5-fold)
probabilities against the true rate, the label-free estimate a held-out split would give.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from auto_table import CRITERION_SHORT, DEFAULT, method_of
from robustloss.search.candidates import candidate_grid
from robustloss.sweeps.results import StoredTrial
from robustloss.sweeps.sources import load_trials


def records(trials: list[StoredTrial]) -> dict:
    """``{(dataset, kind, rate, seed): {method: (f1, estimated rate, true rate)}}`` from
    trial records (``load_trials``)."""
    out: dict = defaultdict(dict)
    for trial in trials:
        c, s = trial.config, trial.summary
        if s is None or s.f1 is None:
            continue
        auto = s.auto
        method = method_of(c, auto.get("criterion") if auto else None)
        key = (c["dataset"], c["noise_kind"], float(c["noise"]), int(c["seed"]))
        n = int(s.n)
        out[key][method] = (float(s.f1), s.estimated_errors / n, s.corrupted / n)
    return out


def _calibrated(robust: dict[str, tuple], target: float) -> str:
    """The candidate whose estimated rate is closest to ``target`` (ties: grid order)."""
    return min(robust, key=lambda m: abs(robust[m][1] - target))


TARGETS = {
    "true rate (GROUND TRUTH)": lambda r, true: true,
    "median of the candidates' estimates": lambda r, true: statistics.median(
        v[1] for v in r.values()
    ),
    "largest candidate estimate": lambda r, true: max(v[1] for v in r.values()),
    "the default's estimate": lambda r, true: r[DEFAULT][1],
}


def replay(trials: list[StoredTrial], name: str = "trials") -> list[str]:
    """The replay's tables (markdown lines) over these trial records."""
    grid = [c.name for c in candidate_grid(10)]
    scores: dict[str, list[float]] = defaultdict(list)
    per_row: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, methods in sorted(records(trials).items()):
        if any(g not in methods for g in grid) or "auto" not in methods:
            continue  # the replay needs every candidate's fixed run and auto's
        robust = {m: methods[m] for m in grid if m != "ce"}
        true = methods["ce"][2]
        row = key[:3]
        values = {
            "oracle of the grid (GROUND TRUTH)": max(methods[m][0] for m in grid),
            "default (Blurry 0.4)": methods[DEFAULT][0],
            "auto as run": methods["auto"][0],
        }
        for label, target in TARGETS.items():
            pick = _calibrated(robust, target(robust, true))
            values[f"calibrated to: {label}"] = robust[pick][0]
        for label, v in values.items():
            scores[label].append(v)
            per_row[row][label].append(v)
    if not scores:
        return [f"{name}: no (row, seed) with every candidate's fixed run and an auto run"]
    n = len(scores["oracle of the grid (GROUND TRUTH)"])
    lines = [
        f"{name}: {n} (row, seed) pairs, {len(per_row)} rows",
        "",
        "| rule | mean F1 | − oracle | − default | − auto as run |",
        "|---|---|---|---|---|",
    ]
    mean = {label: statistics.mean(v) for label, v in scores.items()}
    for label, m in mean.items():
        lines.append(
            f"| {label} | {m:.4f} | {m - mean['oracle of the grid (GROUND TRUTH)']:+.4f} "
            f"| {m - mean['default (Blurry 0.4)']:+.4f} | {m - mean['auto as run']:+.4f} |"
        )
    labels = list(scores)
    lines += ["", "Per row (mean over seeds): " + "; ".join(
        f"[{i}] {label}" for i, label in enumerate(labels))]  # fmt: skip
    lines += ["", "| row | " + " | ".join(f"[{i}]" for i in range(len(labels))) + " |",
              "|---|" + "---|" * len(labels)]  # fmt: skip
    for row, v in sorted(per_row.items()):
        cells = " | ".join(f"{statistics.mean(v[label]):.3f}" for label in labels)
        lines.append(f"| {row[0]} {row[1]} {row[2]:g} | {cells} |")
    return lines


def canary(trials: list[StoredTrial], criterion: str = "canary-f1") -> list[str]:
    """auto runs by a canary criterion (the criterion they recorded choosing by) against
    holdout-gap's on the same row and seed, per noise kind, and their finalists replayed."""
    gap = CRITERION_SHORT["holdout-gap"]
    f1 = {key: {m: v[0] for m, v in methods.items()} for key, methods in records(trials).items()}
    by_kind: dict[str, list[float]] = defaultdict(list)
    picks: dict[str, list[float]] = defaultdict(list)
    for trial in trials:
        c, s = trial.config, trial.summary
        if s is None:
            continue
        used = (s.auto or {}).get("criterion") or c.get("auto_criterion")
        if c.get("loss") != "auto" or used != criterion or s.f1 is None:
            continue
        key = (c["dataset"], c["noise_kind"], float(c["noise"]), int(c["seed"]))
        if gap in f1[key]:
            by_kind[c["noise_kind"]].append(float(s.f1) - f1[key][gap])
        finalists = [r for r in s.auto["candidates"] if r["status"] in ("chosen", "kept")]
        if any(r["candidate"] not in f1[key] for r in finalists):
            continue

        def fixed(row: dict, key=key) -> float:
            return f1[key][row["candidate"]]

        picks[f"{criterion} (its choice)"].append(
            fixed(next(r for r in finalists if r["status"] == "chosen"))
        )
        picks["holdout-gap"].append(fixed(max(finalists, key=lambda r: r["holdout_gap"])))
        picks["holdout-acc"].append(fixed(max(finalists, key=lambda r: r["holdout_acc"])))
        picks["best finalist (GROUND TRUTH)"].append(max(fixed(r) for r in finalists))
    if not by_kind:
        return []
    lines = ["", f"{criterion} − holdout-gap, paired, by noise kind:", "",
             "| noise kind | pairs | mean difference | canary higher | lower |",
             "|---|---|---|---|---|"]  # fmt: skip
    every = [d for v in by_kind.values() for d in v]
    for kind, d in [*sorted(by_kind.items()), ("all", every)]:
        lines.append(f"| {kind} | {len(d)} | {statistics.mean(d):+.4f} "
                     f"| {sum(x > 0 for x in d)} | {sum(x < 0 for x in d)} |")  # fmt: skip
    if picks:
        lines += ["", f"{criterion}'s finalists ({len(picks['holdout-gap'])} searches), "
                  "chosen by (fixed trials' F1 of the pick):", ""]  # fmt: skip
        lines += [f"- {label}: {statistics.mean(v):.4f}" for label, v in picks.items()]
    return lines


def out_of_sample(trials: list[StoredTrial], name: str = "trials") -> list[str]:
    """cleanlab's estimated rate from out-of-sample probabilities against the true rate."""
    lines = [
        "",
        f"{name}: cleanlab's estimated rate from out-of-sample probabilities vs the true rate",
        "",
        "| row | method | seeds | estimated rate (mean) | true rate |",
        "|---|---|---|---|---|",
    ]
    rows: dict = defaultdict(lambda: defaultdict(list))
    for key, methods in records(trials).items():
        for m, (_, est, true) in methods.items():
            rows[key[:3]][m].append((est, true))
    for row, methods in sorted(rows.items()):
        for m, v in sorted(methods.items()):
            lines.append(
                f"| {row[0]} {row[1]} {row[2]:g} | {m} | {len(v)} "
                f"| {statistics.mean(e for e, _ in v):.3f} "
                f"| {statistics.mean(t for _, t in v):.3f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db", help="an auto sweep database with every candidate's fixed run")
    parser.add_argument("cv_db", nargs="?", help="a cv sweep database (out-of-sample)")
    args = parser.parse_args()
    trials = load_trials(args.db)[0]
    lines = replay(trials, args.db) + canary(trials) + canary(trials, "canary-f1-structured")
    if args.cv_db:
        lines += out_of_sample(load_trials(args.cv_db)[0], args.cv_db)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
