"""The README's "Settings without ground truth" table, from the bundled ``auto`` sweep.

    robustloss sweep auto --db benchmarks/results/auto.db     # src/robustloss/specs/auto.toml
    python benchmarks/auto_table.py benchmarks/results/auto.db

Per row (dataset, noise kind, rate) the F1 of Confident Learning's flags, mean +- std over the
seeds, for:

- **CE**: cross entropy, the row's baseline;
- **default**: Blurry Loss gamma 0.4 (``detect``'s default before ``--loss auto``);
- **oracle**: per seed, the best F1 among auto's own candidate grid (every candidate run as
  a fixed setting), i.e. chosen WITH the known corruptions, as the paper's Table 1 chose;
  an upper bound, not a method;
- **auto** (``--loss auto``, criterion holdout-acc), **auto-cl** (criterion cl-cleaned) and
  **auto-gap** (criterion holdout-gap): chosen from the noisy labels alone.

Every comparison is paired (same seeds, same corruption): for auto against CE
and against the default, the number of seeds on which auto is higher and a paired t-test's
two-sided p-value (``scipy.stats.ttest_rel``; "n/a" under 2 pairs). Then the issue's goals:
auto >= default on every row within the seed spread, >= CE + 0.01 on average, within 0.01
of the oracle on average, never below CE by more than the seed spread. Also what auto chose
per trial, and its measured cost (search + final run, in fixed runs; and in seconds against
the same row's CE trial).
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from typing import Any

from scipy import stats

from robustloss.report.table import load_trials

DEFAULT = ("blurry", 0.4)


def _method(config: dict[str, Any]) -> str | None:
    """ "auto", "auto-cl", or the candidate's name for a fixed setting."""
    loss = config["loss"]
    if loss == "auto":
        criterion = config.get("auto_criterion") or "holdout-acc"
        return {"holdout-acc": "auto", "cl-cleaned": "auto-cl", "holdout-gap": "auto-gap"}[
            criterion
        ]
    parts = [loss]
    for key in ("gamma", "cutoff", "q"):
        if config.get(key) is not None:
            parts.append(f"{key}={config[key]}")
    if config.get("delay"):
        parts.append(f"d={config['delay']}")
    return " ".join(parts)


def collect(trials: list[dict[str, Any]]):
    """``f1[row][method][seed]``, ``chosen[row][method][seed]``, seconds, cost ratios."""
    f1: dict = defaultdict(lambda: defaultdict(dict))
    chosen: dict = defaultdict(lambda: defaultdict(dict))
    seconds: dict = defaultdict(lambda: defaultdict(dict))
    ratio: dict = defaultdict(lambda: defaultdict(dict))
    for trial in trials:
        config, summary = trial["config"], trial.get("summary") or {}
        if summary.get("f1") is None:
            continue
        row = (config["dataset"], config["noise_kind"], float(config["noise"]))
        method, seed = _method(config), int(config["seed"])
        f1[row][method][seed] = float(summary["f1"])
        seconds[row][method][seed] = float(summary.get("seconds") or math.nan)
        auto = summary.get("auto")
        if auto:
            s = auto["settings"]
            chosen[row][method][seed] = _method(s) + f", {s['epochs']} ep"
            ratio[row][method][seed] = float(auto["ratio_measured"])
    return f1, chosen, seconds, ratio


def _ms(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values: list[float]) -> str:
    m, s = _ms(values)
    return "-" if math.isnan(m) else f"{m:.4f} ± {s:.4f}"


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[str, float | None]:
    seeds = sorted(set(a) & set(b))
    wins = sum(a[s] > b[s] for s in seeds)
    p = None
    if len(seeds) >= 2:
        diffs = [a[s] - b[s] for s in seeds]
        if statistics.pstdev(diffs) > 0:
            p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return f"{wins}/{len(seeds)}", p


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2f}"


def table(f1, chosen, seconds, ratio) -> list[str]:
    lines = [
        "| dataset | noise | CE | default (BL 0.4) | oracle of the grid (ground truth) | "
        "auto | auto vs CE: wins, p | auto vs default: wins, p | auto-cl | auto-gap | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    default_name = f"blurry gamma={DEFAULT[1]}"
    gaps = defaultdict(list)
    goal_rows = []
    for row in sorted(f1):
        methods = f1[row]
        ce, default = methods.get("ce", {}), methods.get(default_name, {})
        grid = {m: v for m, v in methods.items() if not m.startswith("auto")}
        seeds = sorted(set.intersection(*(set(v) for v in grid.values()))) if grid else []
        oracle = {s: max(v[s] for v in grid.values()) for s in seeds}
        auto, auto_cl = methods.get("auto", {}), methods.get("auto-cl", {})
        auto_gap = methods.get("auto-gap", {})
        w_ce, p_ce = _paired(auto, ce)
        w_def, p_def = _paired(auto, default)
        dataset, kind, rate = row
        lines.append(
            f"| {dataset} | {kind} {rate:g} | {_fmt(list(ce.values()))} | "
            f"{_fmt(list(default.values()))} | {_fmt(list(oracle.values()))} | "
            f"**{_fmt(list(auto.values()))}** | {w_ce}, p={_p(p_ce)} | {w_def}, p={_p(p_def)} "
            f"| {_fmt(list(auto_cl.values()))} | {_fmt(list(auto_gap.values()))} | {len(auto)} |"
        )
        for name, ref in (("ce", ce), ("default", default), ("oracle", oracle)):
            common = sorted(set(auto) & set(ref))
            if common:
                gaps[name].append(statistics.mean(auto[s] - ref[s] for s in common))
        for tag, other in (("cl-", auto_cl), ("gap-", auto_gap)):
            for name, ref in (("ce", ce), ("default", default), ("oracle", oracle)):
                common = sorted(set(other) & set(ref))
                if common:
                    gaps[tag + name].append(statistics.mean(other[s] - ref[s] for s in common))
        spread = max(_ms(list(auto.values()))[1], _ms(list(default.values()))[1], 0.0)
        goal_rows.append((row, auto, default, ce, spread))
    lines += ["", "Mean paired difference over the rows (auto - reference):"]
    for name, values in gaps.items():
        lines.append(f"- {name}: {statistics.mean(values):+.4f} over {len(values)} rows")
    lines += ["", "Goals (per row, within the larger seed std of the two):"]
    for row, auto, default, ce, spread in goal_rows:
        a = _ms(list(auto.values()))[0]
        d = _ms(list(default.values()))[0]
        c = _ms(list(ce.values()))[0]
        lines.append(
            f"- {row[0]} {row[1]} {row[2]:g}: auto {a:.4f} vs default {d:.4f} "
            f"({'ok' if a >= d - spread else 'MISSED'}), vs CE {c:.4f} "
            f"({'ok' if a >= c - spread else 'MISSED'}); spread {spread:.4f}"
        )
    lines += ["", "What auto chose (per seed), and its cost:"]
    for row in sorted(chosen):
        for method in ("auto", "auto-cl", "auto-gap"):
            picks = chosen[row].get(method, {})
            if not picks:
                continue
            ce_s = seconds[row].get("ce", {})
            time_ratio = [
                seconds[row][method][s] / ce_s[s] for s in picks if s in ce_s and ce_s[s] > 0
            ]
            cost = list(ratio[row][method].values())
            lines.append(
                f"- {row[0]} {row[1]} {row[2]:g} {method}: "
                + "; ".join(f"seed {s}: {picks[s]}" for s in sorted(picks))
                + f" | planned+final {statistics.mean(cost):.2f}x fixed (sample-epochs)"
                + (f", {statistics.mean(time_ratio):.2f}x CE's seconds" if time_ratio else "")
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", help="results.db files or spec names")
    args = parser.parse_args()
    trials, _ = load_trials(args.sources)
    print("\n".join(table(*collect(trials))))


if __name__ == "__main__":
    main()
