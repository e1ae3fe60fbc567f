"""The "Settings without ground truth" tables (docs/benchmarks/auto.md), from the bundled
``auto`` sweeps.

    robustloss sweep auto --db benchmarks/results/auto.db     # src/robustloss/specs/auto.toml
    python benchmarks/auto_table.py benchmarks/results/auto.db

Per row (dataset, noise kind, rate) the F1 of Confident Learning's flags, mean +- sample std
over the seeds, for:

- **CE**: cross entropy, the row's baseline;
- **default**: Blurry Loss gamma 0.4 (``detect``'s default before ``--loss auto``);
- **oracle**: per seed, the best F1 among auto's own candidate grid (every candidate run as
  a fixed setting for E epochs), i.e. chosen WITH the known corruptions, as the paper's
  Table 1 chose; an upper bound, not a method;
- **auto**: ``--loss auto`` with the protocol's default criterion (canary-f1-structured
  in-sample, holdout-acc for cv), chosen from the noisy labels alone; and, beside it, the
  other criteria run explicitly (**auto-acc**: holdout-acc, **auto-cl**: cl-cleaned,
  **auto-gap**: holdout-gap, **auto-canary**: canary-f1, **auto-canary-s**:
  canary-f1-structured where it is not the default).

Every comparison is paired (same seeds, same corruption): per row, the number of seeds on
which auto is higher and a paired t-test's two-sided p-value (``scipy.stats.ttest_rel``;
"n/a" under 2 pairs or for identical pairs), and the same over all rows and seeds pooled.
Then the issue's goals: auto >= default on every row within the seed spread, >= CE + 0.01
on average, within 0.01 of the oracle on average, never below CE by more than the seed
spread. Also what auto chose per trial, its measured cost (search + final run, in fixed
runs of sample-epochs; and its seconds against the same row's CE trial), and the precision
and CPU every trial ran with.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from robustloss.search.candidates import candidate_grid
from robustloss.search.criteria import default_criterion
from robustloss.sweeps.results import StoredTrial
from robustloss.sweeps.sources import load_trials

DEFAULT = "blurry gamma=0.4"
CRITERION_SHORT = {
    "holdout-acc": "auto-acc",
    "cl-cleaned": "auto-cl",
    "holdout-gap": "auto-gap",
    "canary-f1": "auto-canary",
    "canary-f1-structured": "auto-canary-s",
}
#: The auto columns, the default criterion's first.
AUTO_METHODS = ("auto", "auto-acc", "auto-cl", "auto-gap", "auto-canary", "auto-canary-s")


def method_of(config: dict[str, Any], used: str | None = None) -> str:
    """``auto`` (the protocol's default criterion, named or not), ``auto-acc`` / ``auto-cl``
    / ``auto-gap`` (another criterion), or the candidate's name for a fixed setting.

    ``used``: the criterion the trial recorded it chose by (its summary's ``auto``), which
    decides over the config's (whose None means the default of the code that ran it)."""
    loss = config["loss"]
    if loss == "auto":
        criterion = used or config.get("auto_criterion")
        if criterion is None or criterion == default_criterion(config.get("protocol", "cv")):
            return "auto"
        return CRITERION_SHORT[criterion]
    parts = [loss]
    for key in ("gamma", "cutoff", "q"):
        if config.get(key) is not None:
            parts.append(f"{key}={config[key]:g}")
    if config.get("delay"):
        parts.append(f"d={config['delay']}")
    return " ".join(parts)


@dataclass
class Results:
    """``f1[row][method][seed]`` and what else each trial recorded."""

    f1: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    chosen: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    seconds: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    ratio: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    # precision and recall per trial; an auto trial's recorded search (criterion, candidates)
    scores: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    searches: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    epochs: dict = field(default_factory=dict)  # row -> the trials' most epochs (E)
    engines: Counter = field(default_factory=Counter)  # (precision, cpu capability) -> trials
    subset: set = field(default_factory=set)
    protocols: set = field(default_factory=set)


def collect(trials: list[StoredTrial]) -> Results:
    out = Results()
    for trial in trials:
        config, summary = trial.config, trial.summary
        if summary is None or summary.f1 is None:
            continue
        row = (config["dataset"], config["noise_kind"], float(config["noise"]))
        auto = summary.auto
        method = method_of(config, auto.get("criterion") if auto else None)
        seed = int(config["seed"])
        out.epochs[row] = max(out.epochs.get(row, 0), int(config["epochs"]))
        out.f1[row][method][seed] = float(summary.f1)
        out.seconds[row][method][seed] = float(summary.seconds or math.nan)
        out.scores[row][method][seed] = (summary.precision, summary.recall)
        out.engines[(summary.precision_used or summary.precision,
                     summary.cpu_capability)] += 1  # fmt: skip
        out.subset.add(config.get("subset"))
        out.protocols.add(config.get("protocol"))
        if auto:
            s = auto["settings"]
            out.chosen[row][method][seed] = method_of(s) + f", {s['epochs']} ep"
            out.ratio[row][method][seed] = float(auto["ratio_measured"])
            if auto.get("candidates"):
                out.searches[row][method][seed] = (auto["criterion"], auto["candidates"])
    return out


def _ms(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values: dict[int, float] | list[float]) -> str:
    """Mean +- sample std; the value alone for one seed (no spread is measured)."""
    values = list(values.values()) if isinstance(values, dict) else values
    m, s = _ms(values)
    if math.isnan(m):
        return "-"
    return f"{m:.4f}" if len(values) == 1 else f"{m:.4f} ± {s:.4f}"


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[int, int, float | None]:
    """(wins of a, pairs, two-sided paired t-test p) over the seeds both have."""
    keys = sorted(set(a) & set(b))
    return _paired([a[k] for k in keys], [b[k] for k in keys])


def _paired(x: list[float], y: list[float]) -> tuple[int, int, float | None]:
    wins = sum(u > v for u, v in zip(x, y, strict=True))
    p = None
    if len(x) >= 2 and statistics.pstdev([u - v for u, v in zip(x, y, strict=True)]) > 0:
        p = float(stats.ttest_rel(x, y).pvalue)
    return wins, len(x), p


def _p(p: float | None) -> str:
    return "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _oracle(methods: dict[str, dict[int, float]], epochs: int) -> dict[int, float]:
    """Per seed, the best F1 of auto's candidate grid for ``epochs`` run as fixed settings:
    only seeds where every candidate of the grid ran (the best of CE and Blurry 0.4 alone is
    no oracle of the grid, e.g. in the full-size spec, which runs no grid)."""
    names = [c.name for c in candidate_grid(epochs)]
    if any(name not in methods for name in names):
        return {}
    seeds = set.intersection(*(set(methods[name]) for name in names))
    return {s: max(methods[name][s] for name in names) for s in sorted(seeds)}


def main_table(res: Results) -> list[str]:
    lines = [
        "| dataset | noise | CE | default (Blurry 0.4) | oracle of the grid (ground truth) "
        "| **auto** | auto vs CE: wins, p | auto vs default: wins, p | auto − oracle | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(res.f1):
        m = res.f1[row]
        ce, default, auto = m.get("ce", {}), m.get(DEFAULT, {}), m.get("auto", {})
        oracle = _oracle(m, res.epochs[row])
        w_ce, n_ce, p_ce = paired(auto, ce)
        w_d, n_d, p_d = paired(auto, default)
        gap = [auto[s] - oracle[s] for s in sorted(set(auto) & set(oracle))]
        lines.append(
            f"| {row[0]} | {row[1]} {row[2]:g} | {_fmt(ce)} | {_fmt(default)} | {_fmt(oracle)} "
            f"| **{_fmt(auto)}** | {w_ce}/{n_ce}, p={_p(p_ce)} | {w_d}/{n_d}, p={_p(p_d)} "
            f"| {f'{statistics.mean(gap):+.4f}' if gap else '-'} | {len(auto)} |"
        )
    return lines


def _reference(res: Results, row: tuple, ref: str) -> dict[int, float]:
    """F1 per seed of ``ce``, ``default`` (Blurry 0.4), ``oracle`` or a method on ``row``."""
    if ref == "oracle":
        return _oracle(res.f1[row], res.epochs[row])
    return res.f1[row].get(DEFAULT if ref == "default" else ref, {})


def _mean_diff(x: list[float], y: list[float]) -> float:
    """Mean paired difference x - y; NaN when there are no pairs."""
    return statistics.mean(u - v for u, v in zip(x, y, strict=True)) if x else math.nan


def _pooled(res: Results, method: str, ref: str) -> tuple[list[float], list[float], int]:
    """auto-method and reference F1 over every (row, seed) both have; rows counted."""
    x, y, rows = [], [], 0
    for row in sorted(res.f1):
        a, r = res.f1[row].get(method, {}), _reference(res, row, ref)
        keys = sorted(set(a) & set(r))
        rows += bool(keys)
        x += [a[k] for k in keys]
        y += [r[k] for k in keys]
    return x, y, rows


def criteria_table(res: Results) -> list[str]:
    """Each auto criterion against CE, the default, the oracle and ``auto`` (the protocol's
    default criterion), pooled over rows and seeds: the mean paired difference, wins and the
    paired t-test."""
    lines = [
        "| method | vs CE: mean diff, wins, p | vs default: mean diff, wins, p "
        "| vs oracle: mean diff | vs auto: mean diff, wins, p | rows, pairs |",
        "|---|---|---|---|---|---|",
    ]
    for method in AUTO_METHODS:
        cells, size = [], ""
        for ref in ("ce", "default", "oracle", "auto"):
            x, y, rows = _pooled(res, method, ref) if ref != method else ([], [], 0)
            if not x:
                cells.append("-")
                continue
            diff = _mean_diff(x, y)
            wins, n, p = _paired(x, y)
            cells.append(f"{diff:+.4f}" if ref == "oracle" else
                         f"{diff:+.4f}, {wins}/{n}, p={_p(p)}")  # fmt: skip
            size = size or f"{rows}, {n}"
        if size:
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {size} |")
    return lines


def criteria_rows(res: Results) -> list[str]:
    """Per row, each auto criterion's F1 (mean +- std over its seeds)."""
    methods = [m for m in AUTO_METHODS if any(m in res.f1[row] for row in res.f1)]
    lines = ["| dataset | noise | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]  # fmt: skip
    for row in sorted(res.f1):
        cells = [_fmt(res.f1[row].get(m, {})) for m in methods]
        lines.append(f"| {row[0]} | {row[1]} {row[2]:g} | " + " | ".join(cells) + " |")
    return lines


#: Where a recorded candidate row keeps each criterion's value (both canary criteria
#: score canary-f1: robustloss.search.results.CandidateResult.value).
_CRITERION_FIELD = {"holdout-acc": "holdout_acc", "cl-cleaned": "cl_cleaned",
                    "holdout-gap": "holdout_gap", "canary-f1": "canary_f1",
                    "canary-f1-structured": "canary_f1"}  # fmt: skip


def oracle_pruned(res: Results) -> list[str]:
    """Per auto criterion, in how many searches the oracle's candidate (the grid's best by
    F1, GROUND TRUTH, in hindsight) was pruned at the halving."""
    lines = []
    for method in AUTO_METHODS:
        pruned = searched = 0
        for row in sorted(res.searches):
            grid = [c.name for c in candidate_grid(res.epochs[row])]
            for seed, (_, candidates) in res.searches[row].get(method, {}).items():
                if any(seed not in res.f1[row].get(name, {}) for name in grid):
                    continue
                best = max(grid, key=lambda name, s=seed: res.f1[row][name][s])
                status = {c["candidate"]: c["status"] for c in candidates}.get(best)
                searched += 1
                pruned += status == "pruned"
        if searched:
            lines.append(f"- {method}: the oracle's candidate pruned at the halving in "
                         f"{pruned} of {searched} searches")  # fmt: skip
    return lines


def _search_note(res: Results, row: tuple, method: str, seed: int) -> str:
    """Precision and recall of the trial; for a search, the chosen candidate's criterion
    value and the default setting's (Blurry 0.4: its status in the search, its value)."""
    p, r = res.scores[row][method].get(seed, (None, None))
    note = f"P {p:.4f}, R {r:.4f}" if p is not None and r is not None else ""
    criterion, candidates = res.searches[row][method].get(seed, (None, ()))
    by_name = {c["candidate"]: c for c in candidates}
    chosen = next((c for c in candidates if c["status"] == "chosen"), None)
    key = _CRITERION_FIELD.get(criterion)
    if chosen is not None and key and chosen.get(key) is not None and DEFAULT in by_name:
        default = by_name[DEFAULT]
        value = default.get(key)
        note += (f"; {criterion} {chosen[key]:.4f}, Blurry 0.4 {default['status']}"
                 + (f" at {value:.4f}" if value is not None else ""))  # fmt: skip
    return f" ({note})" if note else ""


def _row_goal(res: Results, ref: str) -> tuple[int, list[str]]:
    """Rows where auto and ``ref`` (``ce`` or ``default``) both ran: how many, and those
    where auto's mean is below ``ref``'s by more than the larger seed spread (0 with one
    seed: no spread measured)."""
    compared, below = 0, []
    for row in sorted(res.f1):
        auto, other = res.f1[row].get("auto", {}), _reference(res, row, ref)
        if not auto or not other:
            continue
        compared += 1
        (a, sa), (o, so) = _ms(list(auto.values())), _ms(list(other.values()))
        if a < o - max(sa, so):
            below.append(f"{row[0]} {row[1]} {row[2]:g} ({a:.4f} vs {o:.4f}, "
                         f"spread {max(sa, so):.4f})")  # fmt: skip
    return compared, below


def _verdict(compared: int, missed: bool) -> str:
    return "not measured" if not compared else ("MISSED" if missed else "met")


def goals(res: Results) -> list[str]:
    """The issue's four goals for the default criterion's auto, measured; a goal whose
    reference did not run (e.g. no oracle grid at full size) is "not measured"."""
    n_d, below_default = _row_goal(res, "default")
    n_c, below_ce = _row_goal(res, "ce")
    x, y, rows = _pooled(res, "auto", "ce")
    ce_diff = _mean_diff(x, y)
    xo, yo, rows_o = _pooled(res, "auto", "oracle")
    o_diff = _mean_diff(xo, yo)
    return [
        f"- auto >= default on every row, within the seed spread ({n_d} rows): "
        + _verdict(n_d, bool(below_default))
        + (" on " + "; ".join(below_default) if below_default else ""),
        f"- auto >= CE + 0.01 on average: {ce_diff:+.4f} over {rows} rows "
        f"({_verdict(rows, ce_diff < 0.01)})",
        f"- auto within 0.01 of the oracle on average: {o_diff:+.4f} over {rows_o} rows "
        f"({_verdict(rows_o, o_diff < -0.01)})",
        f"- never below CE by more than the seed spread ({n_c} rows): "
        + _verdict(n_c, bool(below_ce))
        + (" on " + "; ".join(below_ce) if below_ce else ""),
    ]


def choices(res: Results) -> list[str]:
    lines = []
    for row in sorted(res.chosen):
        for method in AUTO_METHODS:
            picks = res.chosen[row].get(method, {})
            if not picks:
                continue
            ce_s = res.seconds[row].get("ce", {})
            time_ratio = [
                res.seconds[row][method][s] / ce_s[s] for s in picks if s in ce_s and ce_s[s] > 0
            ]
            cost = list(res.ratio[row][method].values())
            lines.append(
                f"- {row[0]} {row[1]} {row[2]:g} {method}: "
                + "; ".join(f"seed {s}: {picks[s]}{_search_note(res, row, method, s)}"
                            for s in sorted(picks))
                + f" | search + final {statistics.mean(cost):.2f}x one fixed run (sample-epochs)"
                + (f", {statistics.mean(time_ratio):.2f}x CE's seconds" if time_ratio else "")
            )
    return lines


def report(res: Results) -> str:
    engines = ", ".join(f"{p} on {c}: {n}" for (p, c), n in sorted(res.engines.items(), key=str))
    parts = [
        f"Trials: {sum(res.engines.values())} ({engines}); subset {sorted(res.subset, key=str)}, "
        f"protocol {sorted(res.protocols, key=str)}.",
        "",
        *main_table(res),
        "",
        "Criteria, pooled over rows and seeds (paired):",
        "",
        *criteria_table(res),
        "",
        "Each criterion per row:",
        "",
        *criteria_rows(res),
        "",
        "In hindsight (GROUND TRUTH, not used by any method):",
        *(oracle_pruned(res) or ["- not measured: no oracle grid ran"]),
        "",
        "Goals (auto = the protocol's default criterion):",
        *goals(res),
        "",
        "What auto chose (per seed), and its cost:",
        *choices(res),
    ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", help="results.db files or spec names")
    args = parser.parse_args()
    trials, _ = load_trials(args.sources)
    print(report(collect(trials)))


if __name__ == "__main__":
    main()
