"""Sweep results as settings (one per config, seeds pooled) and the paper's Table 1.

A *setting* is a trial config without its seed: the trials of one setting differ only in
``seed`` (and ``noise_seed``, which follows it), so their spread is the seed noise. A
*row* is a dataset and corruption rate, plus any other experimental condition that varies
among the trials (protocol, epochs, subset, ...). Table 1 shows, per row and loss, the
setting with the best mean F1 over seeds as ``mean ± std`` (sample std, n-1), the best
loss of the row in bold, and the paper's value beside ours. Picking the best setting on
the same runs that report it is what the paper does; it flatters every robust loss
(and more, the more settings it was picked from), never the baselines: it is an oracle over
the grid, choosing with the known corruptions. A ``loss="auto"`` cell is not: each of its
trials chose its own settings from the noisy labels alone
(:mod:`robustloss.search.autoselect`), so its one "setting" is ``auto``.

**Paired against cross entropy.** The trials of one row share their seeds, and with them the
corruption (``noise_seed``, which follows the seed) and the initialisation. Each cell is
compared with its row's cross-entropy cell over the n seeds both ran: with
``d_i = F1_i(loss) - F1_i(CE)``,

- ``wins = #{i : d_i > 0}`` (shown ``wins/n``; a tie is no win);
- ``p_value``: the two-sided paired t-test (:func:`scipy.stats.ttest_rel`),
  ``t = mean(d) / (std(d, ddof=1) / sqrt(n))`` with n - 1 degrees of freedom; None with
  fewer than 2 pairs or when every ``d_i`` is the same (zero variance: no t).

The p-values are per cell, not corrected for the number of cells or settings, and the
robust cells' settings were picked on the same runs (above): read them as a guide to which
differences are seed noise, not as a test of a hypothesis fixed in advance.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from robustloss._io import atomic_write_text, write_csv
from robustloss.run.config import LOSS_FIELDS
from robustloss.search.autoselect import AUTO, default_criterion
from robustloss.sweeps.results import resolve_source
from robustloss.sweeps.store import ResultStore

__all__ = [
    "AUTO_NOTE",
    "LOSS_LABELS",
    "PAIRED_NOTE",
    "PAPER_TABLE1",
    "Paired",
    "Setting",
    "group_settings",
    "load_trials",
    "paired_vs",
    "table1_rows",
    "write_table1",
]

#: Short names of the losses, as the paper writes them.
LOSS_LABELS: dict[str, str] = {
    "ce": "CE",
    "focal": "FL",
    "blurry": "BL",
    "pz": "PZ",
    "gce": "GCE",
    "mae": "MAE",
    "sce": "SCE",
    "nce+rce": "NCE+RCE",
    AUTO: "auto",  # settings chosen without ground truth; sorts after every other loss
}
_PARAM_SYMBOLS = {"gamma": "γ", "cutoff": "c", "q": "q", "alpha": "α", "beta": "β"}
_DATASET_LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

#: The paper's Table 1 (F1): (dataset, rho) -> loss -> (F1, its best setting).
PAPER_TABLE1: dict[tuple[str, float], dict[str, tuple[float, str]]] = {
    ("mnist", 0.1): {
        "ce": (0.9668, ""),
        "focal": (0.9585, ""),
        "blurry": (0.9793, "γ=0.3, d=0"),
        "pz": (0.9729, "c=0.05, d=6"),
    },
    ("mnist", 0.2): {
        "ce": (0.9708, ""),
        "focal": (0.9631, ""),
        "blurry": (0.9845, "γ=0.4, d=0"),
        "pz": (0.9827, "c=0.05, d=4"),
    },
    ("fashion-mnist", 0.1): {
        "ce": (0.8222, ""),
        "focal": (0.8332, ""),
        "blurry": (0.8237, "γ=0.2, d=0"),
        "pz": (0.7954, "c=0.05, d=6"),
    },
    ("fashion-mnist", 0.2): {
        "ce": (0.8839, ""),
        "focal": (0.8814, ""),
        "blurry": (0.8892, "γ=0.3, d=0"),
        "pz": (0.8745, "c=0.05, d=6"),
    },
}

# Settings that never distinguish settings or rows: the seed (pooled over), how a trial
# ran (threads, device), and the loss settings (which distinguish settings within a row).
_SEED_KEYS = ("seed", "noise_seed")
_RUN_KEYS = ("threads", "device")
# auto_criterion is part of an auto setting (how it chose), not a condition of the row.
_SETTING_KEYS = ("loss", *LOSS_FIELDS, "delay", "auto_criterion")
METRICS: tuple[str, ...] = ("f1", "precision", "recall", "flagged", "correct", "corrupted",
                            "test_acc")


def load_trials(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]):
    """Done trials (``config``, ``summary``, ``hash``) from results databases or specs.

    Each source is a database file, or a spec (bundled name or file) whose default
    database (``runs/<name>/results.db``) holds its trials; a spec reads only its own
    trials. Trials found twice are kept once. Returns ``(trials, info)`` where ``info``
    lists per source the database, the sweep and the status counts, and the failures.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    trials: dict[str, dict[str, Any]] = {}
    info: list[dict[str, Any]] = []
    for source in sources:
        path, sweep = resolve_source(source)
        with ResultStore(path, readonly=True) as store:
            rows = store.trials(sweep=sweep)
            info.append({
                "db": str(path),
                "sweep": sweep,
                "sweeps": [s["name"] for s in store.sweeps()],
                "counts": store.counts(sweep=sweep),
                "failures": [
                    (t["hash"], (t["error"] or "").strip().splitlines()[-1:])
                    for t in rows if t["status"] == "failed"
                ],
            })
        for row in rows:
            if row["status"] == "done":
                trials.setdefault(row["hash"], row)
    return list(trials.values()), info


def _finite(values: Iterable[Any]) -> np.ndarray:
    return np.array([float(v) for v in values if v is not None and math.isfinite(float(v))])


@dataclass
class Setting:
    """One config pooled over seeds: ``summaries[i]`` is seed ``seeds[i]``'s summary, its
    labels corrupted with ``noise_seeds[i]`` (the seed itself unless set apart)."""

    config: dict[str, Any]
    row: tuple[tuple[str, Any], ...]
    seeds: list[int] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    noise_seeds: list[int] = field(default_factory=list)

    @property
    def loss(self) -> str:
        return self.config["loss"]

    def values(self, metric: str) -> np.ndarray:
        return _finite(s.get(metric) for s in self.summaries)

    def mean(self, metric: str) -> float:
        v = self.values(metric)
        return float(v.mean()) if v.size else float("nan")

    def std(self, metric: str) -> float:
        """Sample standard deviation over seeds (n-1); NaN for a single seed."""
        v = self.values(metric)
        return float(v.std(ddof=1)) if v.size > 1 else float("nan")

    def per_seed(self, metric: str) -> dict[tuple[int, int], float]:
        """``{(seed, noise_seed): value}`` of the finite values (a seed run twice: the mean)."""
        pooled: dict[tuple[int, int], list[float]] = {}
        noise_seeds = self.noise_seeds or self.seeds
        for seed, noise_seed, summary in zip(self.seeds, noise_seeds, self.summaries, strict=True):
            v = summary.get(metric)
            if v is not None and math.isfinite(float(v)):
                pooled.setdefault((seed, noise_seed), []).append(float(v))
        return {k: float(np.mean(v)) for k, v in pooled.items()}

    def params_text(self, *, delay: bool = True) -> str:
        """``γ=0.4, d=0``: the loss's hyperparameters and delay (none for plain CE, nothing
        for ``auto``, whose trials chose their own; ``γ=auto`` for a parameter chosen so)."""
        if self.loss == AUTO:
            criterion = self.config.get("auto_criterion")
            default = default_criterion(self.config.get("protocol", "in-sample"))
            return "" if criterion in (None, default) else f"criterion {criterion}"
        parts = [
            f"{_PARAM_SYMBOLS[k]}={_param(self.config[k])}"
            for k in _PARAM_SYMBOLS
            if self.config.get(k) is not None
        ]
        if self.config.get("detach_weight") is False:
            parts.append("not detached")
        if delay and (self.loss != "ce" or self.config.get("delay")):
            parts.append(f"d={self.config.get('delay', 0)}")
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """``BL γ=0.4, d=0``."""
        text = self.params_text()
        return f"{LOSS_LABELS.get(self.loss, self.loss)} {text}".strip()


def _param(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def _loss_order(loss: str) -> int:
    """Position of a loss: the order of :data:`LOSS_LABELS`, other names after, auto last."""
    names = [n for n in LOSS_LABELS if n != AUTO]
    if loss == AUTO:
        return len(names) + 1
    return names.index(loss) if loss in names else len(names)


def _param_key(value: Any) -> tuple[int, float]:
    """Numbers in order, then "auto" (a parameter chosen without ground truth)."""
    return (1, 0.0) if isinstance(value, str) else (0, float(value or 0.0))


def setting_sort_key(setting: Setting) -> tuple:
    c = setting.config
    params = tuple(_param_key(c.get(k)) for k in _PARAM_SYMBOLS)
    return (_loss_order(setting.loss), setting.loss, params, c.get("delay", 0))


def row_label(row: tuple[tuple[str, Any], ...]) -> str:
    """``MNIST, ρ=0.2`` (plus any other condition: ``protocol=cv``)."""
    d = dict(row)
    parts = [f"{_DATASET_LABELS.get(d.get('data'), d.get('data'))}, ρ={d.get('noise'):g}"]
    parts += [f"{k}={v}" for k, v in row if k not in ("data", "noise")]
    return ", ".join(parts)


def row_slug(row: tuple[tuple[str, Any], ...]) -> str:
    """A file-name-safe row id: ``mnist_rho0.2`` (plus conditions)."""
    d = dict(row)
    parts = [str(d.get("data")), f"rho{d.get('noise'):g}"]
    parts += [f"{k}-{v}" for k, v in row if k not in ("data", "noise")]
    text = "_".join(parts)
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)


def group_settings(trials: Sequence[dict[str, Any]]) -> list[Setting]:
    """Pool trials over seeds into settings, sorted by row, loss, hyperparameters, delay.

    Row conditions: the dataset (``data`` names a built-in dataset or a path), the rate,
    and every other setting that takes more than one value among ``trials``.
    """
    configs = [t["config"] for t in trials]
    skip = set(_SEED_KEYS + _RUN_KEYS + _SETTING_KEYS + ("dataset", "data", "noise"))
    varying = sorted(
        k for k in {k for c in configs for k in c}
        if k not in skip and len({repr(c.get(k)) for c in configs}) > 1
    )
    settings: dict[str, Setting] = {}
    for trial in trials:
        config = _chosen_by(trial)
        row = (("data", config.get("dataset") or config.get("data")),
               ("noise", config.get("noise")),
               *((k, config.get(k)) for k in varying))
        key = repr((row, [(k, config.get(k)) for k in _SETTING_KEYS]))
        setting = settings.get(key)
        if setting is None:
            base = {k: v for k, v in config.items() if k not in _SEED_KEYS + _RUN_KEYS}
            setting = settings[key] = Setting(config=base, row=row)
        seed = int(config.get("seed", 0))
        noise_seed = config.get("noise_seed")
        setting.seeds.append(seed)
        setting.noise_seeds.append(seed if noise_seed is None else int(noise_seed))
        setting.summaries.append(trial["summary"] or {})
    return sorted(settings.values(), key=lambda s: (_row_key(s.row), setting_sort_key(s)))


def _chosen_by(trial: dict[str, Any]) -> dict[str, Any]:
    """The trial's config, an auto trial's ``auto_criterion`` None replaced by the criterion
    it recorded choosing by (its summary's ``auto``): None means the default of the code
    that ran it, and a default can change between versions, so that trials run under two
    defaults are not pooled as one setting, nor shown as today's default."""
    config = trial["config"]
    if config.get("loss") != AUTO or config.get("auto_criterion") is not None:
        return config
    recorded = ((trial.get("summary") or {}).get("auto") or {}).get("criterion")
    return {**config, "auto_criterion": recorded} if recorded else config


def _row_key(row: tuple[tuple[str, Any], ...]) -> tuple:
    d = dict(row)
    order = list(_DATASET_LABELS)
    data = d.get("data")
    return (order.index(data) if data in order else len(order), str(data), d.get("noise"),
            repr(row))


def rows_of(settings: Sequence[Setting]) -> dict[tuple, list[Setting]]:
    """Settings per row, rows in order (MNIST first, then by rate)."""
    rows: dict[tuple, list[Setting]] = {}
    for setting in settings:
        rows.setdefault(setting.row, []).append(setting)
    return dict(sorted(rows.items(), key=lambda item: _row_key(item[0])))


def paper_comparable(config: dict[str, Any]) -> bool:
    """Whether a config trains like the paper's Table 1: a full built-in dataset, 10 epochs."""
    return (
        config.get("dataset") in _DATASET_LABELS
        and config.get("subset") is None
        and config.get("epochs") == 10
    )


#: Paired differences this close to each other count as identical (zero variance): F1 is in
#: [0, 1], and a difference computed twice may differ in its last bits.
_ZERO_SPREAD = 1e-12


@dataclass(frozen=True)
class Paired:
    """A setting against a baseline over the seeds both ran (``d_i`` = its value minus the
    baseline's, same seed and corruption)."""

    n: int  # paired seeds
    wins: int  # #{i : d_i > 0}
    mean_diff: float | None  # mean(d), None without pairs
    p_value: float | None  # two-sided paired t-test; None: n < 2, or every d_i the same

    def text(self) -> str:
        """``3/3, p=0.01`` (``p n/a`` without a test)."""
        if self.n == 0:
            return "no seeds paired with CE"
        p = "p n/a" if self.p_value is None else f"p={self.p_value:.2g}"
        return f"{self.wins}/{self.n}, {p}"


def paired_vs(setting: Setting, baseline: Setting, *, metric: str = "f1") -> Paired:
    """``setting`` against ``baseline`` over their common ``(seed, noise_seed)`` pairs.

    With ``d_i = x_i - y_i`` over the n common seeds: ``wins = #{i : d_i > 0}`` and the
    two-sided paired t-test's p-value (:func:`scipy.stats.ttest_rel`; n - 1 degrees of
    freedom), None with n < 2 or when the ``d_i`` spread by at most 1e-12 (no variance).
    Seeds only one of them ran, or with a non-finite value, are left out.
    """
    x, y = setting.per_seed(metric), baseline.per_seed(metric)
    common = sorted(x.keys() & y.keys())
    if not common:
        return Paired(n=0, wins=0, mean_diff=None, p_value=None)
    a = np.array([x[k] for k in common])  # (n,)
    b = np.array([y[k] for k in common])  # (n,)
    d = a - b
    p_value = None
    if d.size >= 2 and float(np.ptp(d)) > _ZERO_SPREAD:
        p_value = float(stats.ttest_rel(a, b).pvalue)
    return Paired(n=int(d.size), wins=int((d > 0).sum()), mean_diff=float(d.mean()),
                  p_value=p_value)  # fmt: skip


def table1_rows(settings: Sequence[Setting]) -> list[dict[str, Any]]:
    """Long-format Table 1: per row and loss, the best setting by mean F1 over seeds.

    Keys: ``row``, ``dataset``, ``noise``, ``loss``, ``loss_label``, ``setting``, ``seeds``,
    ``f1_mean``, ``f1_std``, ``precision_mean``, ``recall_mean``, ``settings_tried``,
    ``best_in_row`` (this loss has the row's highest mean F1), ``paired_seeds``, ``wins``,
    ``f1_diff_mean`` and ``p_value`` (:func:`paired_vs` against the row's cross-entropy
    cell; None for that cell itself and in a row without one), ``paper_f1``,
    ``paper_setting`` (None where the paper has no such cell), ``paper_comparable``
    (:func:`paper_comparable`: False for a subset or another number of epochs, where the
    paper's value is for orientation only). An ``auto`` cell's ``setting`` is ``auto``.
    """
    out = []
    for row, members in rows_of(settings).items():
        best: dict[str, Setting] = {}
        tried: dict[str, int] = {}
        for s in members:
            tried[s.loss] = tried.get(s.loss, 0) + 1
            if s.loss == AUTO and s.params_text():
                # Only the default criterion's auto: picking the best criterion by F1 would
                # choose with ground truth (the others are in the settings table).
                continue
            if not math.isnan(s.mean("f1")) and (
                s.loss not in best or s.mean("f1") > best[s.loss].mean("f1")
            ):
                best[s.loss] = s
        top = max((s.mean("f1") for s in best.values()), default=float("nan"))
        d = dict(row)
        paper = PAPER_TABLE1.get((d["data"], d["noise"]), {})
        ce = best.get("ce")
        for loss in sorted(best, key=_loss_order):
            s = best[loss]
            paper_f1, paper_setting = paper.get(loss, (None, None))
            paired = paired_vs(s, ce) if ce is not None and loss != "ce" else None
            out.append({
                "row": row_label(row),
                "dataset": d["data"],
                "noise": d["noise"],
                "loss": loss,
                "loss_label": LOSS_LABELS.get(loss, loss),
                "setting": AUTO if loss == AUTO else s.params_text(),
                "seeds": len(s.values("f1")),
                "f1_mean": s.mean("f1"),
                "f1_std": s.std("f1"),
                "precision_mean": s.mean("precision"),
                "recall_mean": s.mean("recall"),
                "settings_tried": tried[loss],
                "best_in_row": s.mean("f1") == top,
                "paired_seeds": None if paired is None else paired.n,
                "wins": None if paired is None else paired.wins,
                "f1_diff_mean": None if paired is None else paired.mean_diff,
                "p_value": None if paired is None else paired.p_value,
                "paper_f1": paper_f1,
                "paper_setting": paper_setting,
                "paper_comparable": paper_comparable(s.config),
            })
    return out


def format_f1(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def table1_grid(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]], list]:
    """Table 1 as a grid: header, text cells and, per cell, whether it is bold.

    Per loss two columns: ours (``mean ± std (wins/n, p=...) [setting]``, the parenthesis
    against the row's CE cell: :func:`paired_vs`) and the paper's; ``auto`` has no paper
    column (the paper chose every setting with the ground truth).
    """
    losses = sorted({r["loss"] for r in rows}, key=_loss_order)
    header = ["Dataset"]
    for loss in losses:
        name = LOSS_LABELS.get(loss, loss)
        header += [name] if loss == AUTO else [name, f"{name} (paper)"]
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_row.setdefault(r["row"], {})[r["loss"]] = r
    cells, bold = [], []
    for label, per_loss in by_row.items():
        line, marks = [label], [False]
        for loss in losses:
            width = 1 if loss == AUTO else 2
            r = per_loss.get(loss)
            if r is None:
                line += ["—"] * width
                marks += [False] * width
                continue
            ours = format_f1(r["f1_mean"], r["f1_std"])
            if r.get("paired_seeds") is not None:
                paired = Paired(r["paired_seeds"], r["wins"], r["f1_diff_mean"], r["p_value"])
                ours += f" ({paired.text()})"
            if r["setting"] and loss != AUTO:  # auto: its column says it
                ours += f" [{r['setting']}]"
            line.append(ours)
            marks.append(bool(r["best_in_row"]))
            if loss == AUTO:
                continue
            paper = "—" if r["paper_f1"] is None else f"{r['paper_f1']:.4f}"
            if r["paper_setting"]:
                paper += f" [{r['paper_setting']}]"
            if r["paper_f1"] is not None and not r["paper_comparable"]:
                paper += " †"
            line.append(paper)
            marks.append(False)
        cells.append(line)
        bold.append(marks)
    return header, cells, bold


#: How to read the paired comparison in a Table 1 cell.
PAIRED_NOTE = (
    "In parentheses, against the row's CE cell over the seeds both ran (same seed, same "
    "corruption): wins/n = on how many of the n seeds this loss's F1 beats CE's; p = "
    "two-sided paired t-test over those seeds (n/a with fewer than 2 seeds or identical "
    "differences), uncorrected for the number of cells."
)

#: Why an auto cell and the other robust cells are not picked alike.
AUTO_NOTE = (
    "auto: each trial chose its loss, parameter, delay and epochs from the noisy labels "
    "alone (a noisy held-out split, no ground truth); every other robust cell is the best "
    "setting of its grid by F1 against the known corruptions, an oracle over the grid."
)

NOT_COMPARABLE = (
    "† Our trials here differ from the paper's (a subset of the data or another number of "
    "epochs): its value is for orientation only."
)


def table1_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Table 1 in Markdown, the best loss of each row (by mean F1) in bold."""
    header, cells, bold = table1_grid(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line, marks in zip(cells, bold, strict=True):
        text = [f"**{c}**" if b else c for c, b in zip(line, marks, strict=True)]
        lines.append("| " + " | ".join(text) + " |")
    seeds = sorted({r["seeds"] for r in rows})
    lines.append("")
    lines.append(
        "F1 of Confident Learning's detections against the known corruptions: mean ± sample "
        f"std over {'/'.join(map(str, seeds))} seed(s), the best setting per loss and row "
        "by mean F1 (bold: the best loss of the row). The paper's column: one run per cell."
    )
    if any(r.get("paired_seeds") is not None for r in rows):
        lines += ["", PAIRED_NOTE]
    if any(r["loss"] == AUTO for r in rows):
        lines += ["", AUTO_NOTE]
    if any(r["paper_f1"] is not None and not r["paper_comparable"] for r in rows):
        lines.append("")
        lines.append(NOT_COMPARABLE)
    return "\n".join(lines) + "\n"


#: The columns of ``table1.csv``: :func:`table1_rows`'s keys.
TABLE1_COLUMNS: tuple[str, ...] = (
    "row", "dataset", "noise", "loss", "loss_label", "setting", "seeds", "f1_mean", "f1_std",
    "precision_mean", "recall_mean", "settings_tried", "best_in_row", "paired_seeds", "wins",
    "f1_diff_mean", "p_value", "paper_f1", "paper_setting", "paper_comparable",
)


def write_table1(settings: Sequence[Setting], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """``table1.md`` and ``table1.csv`` (long format, :func:`table1_rows`) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = table1_rows(settings)
    md = out / "table1.md"
    atomic_write_text(md, table1_markdown(rows))
    path = write_csv(out / "table1.csv", rows, TABLE1_COLUMNS)
    return {"table1_md": md, "table1_csv": path}
