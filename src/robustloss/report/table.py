"""Sweep results as settings (one per config, seeds pooled) and the paper's Table 1.

A *setting* is a trial config without its seed: the trials of one setting differ only in
``seed`` (and ``noise_seed``, which follows it), so their spread is the seed noise. A
*row* is a dataset and corruption rate, plus any other experimental condition that varies
among the trials (protocol, epochs, subset, ...). Table 1 shows, per row and loss, the
setting with the best mean F1 over seeds as ``mean ± std`` (sample std, n-1), the best
loss of the row in bold, and the paper's value beside ours. Picking the best setting on
the same runs that report it is what the paper does; it flatters every robust loss
(and more, the more settings it was picked from), never the baselines.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._io import atomic_write_text, write_csv
from robustloss.experiments.config import LOSS_FIELDS
from robustloss.experiments.results import resolve_source
from robustloss.experiments.store import ResultStore

__all__ = [
    "LOSS_LABELS",
    "PAPER_TABLE1",
    "Setting",
    "group_settings",
    "load_trials",
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
_SETTING_KEYS = ("loss", *LOSS_FIELDS, "delay")
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
    """One config pooled over seeds: ``summaries[i]`` is seed ``seeds[i]``'s summary."""

    config: dict[str, Any]
    row: tuple[tuple[str, Any], ...]
    seeds: list[int] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)

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

    def params_text(self, *, delay: bool = True) -> str:
        """``γ=0.4, d=0``: the loss's hyperparameters and delay (none for plain CE)."""
        parts = [
            f"{_PARAM_SYMBOLS[k]}={self.config[k]:g}"
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


def _loss_order(loss: str) -> int:
    names = list(LOSS_LABELS)
    return names.index(loss) if loss in names else len(names)


def setting_sort_key(setting: Setting) -> tuple:
    c = setting.config
    params = tuple(float(c.get(k) or 0.0) for k in _PARAM_SYMBOLS)
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
        config = trial["config"]
        row = (("data", config.get("dataset") or config.get("data")),
               ("noise", config.get("noise")),
               *((k, config.get(k)) for k in varying))
        key = repr((row, [(k, config.get(k)) for k in _SETTING_KEYS]))
        setting = settings.get(key)
        if setting is None:
            base = {k: v for k, v in config.items() if k not in _SEED_KEYS + _RUN_KEYS}
            setting = settings[key] = Setting(config=base, row=row)
        setting.seeds.append(int(config.get("seed", 0)))
        setting.summaries.append(trial["summary"] or {})
    return sorted(settings.values(), key=lambda s: (_row_key(s.row), setting_sort_key(s)))


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


def table1_rows(settings: Sequence[Setting]) -> list[dict[str, Any]]:
    """Long-format Table 1: per row and loss, the best setting by mean F1 over seeds.

    Keys: ``row``, ``dataset``, ``noise``, ``loss``, ``loss_label``, ``setting``, ``seeds``,
    ``f1_mean``, ``f1_std``, ``precision_mean``, ``recall_mean``, ``settings_tried``,
    ``best_in_row`` (this loss has the row's highest mean F1), ``paper_f1``,
    ``paper_setting`` (None where the paper has no such cell), ``paper_comparable``
    (:func:`paper_comparable`: False for a subset or another number of epochs, where the
    paper's value is for orientation only).
    """
    out = []
    for row, members in rows_of(settings).items():
        best: dict[str, Setting] = {}
        tried: dict[str, int] = {}
        for s in members:
            tried[s.loss] = tried.get(s.loss, 0) + 1
            if not math.isnan(s.mean("f1")) and (
                s.loss not in best or s.mean("f1") > best[s.loss].mean("f1")
            ):
                best[s.loss] = s
        top = max((s.mean("f1") for s in best.values()), default=float("nan"))
        d = dict(row)
        paper = PAPER_TABLE1.get((d["data"], d["noise"]), {})
        for loss in sorted(best, key=_loss_order):
            s = best[loss]
            paper_f1, paper_setting = paper.get(loss, (None, None))
            out.append({
                "row": row_label(row),
                "dataset": d["data"],
                "noise": d["noise"],
                "loss": loss,
                "loss_label": LOSS_LABELS.get(loss, loss),
                "setting": s.params_text(),
                "seeds": len(s.values("f1")),
                "f1_mean": s.mean("f1"),
                "f1_std": s.std("f1"),
                "precision_mean": s.mean("precision"),
                "recall_mean": s.mean("recall"),
                "settings_tried": tried[loss],
                "best_in_row": s.mean("f1") == top,
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

    Per loss two columns: ours (``mean ± std [setting]``) and the paper's.
    """
    losses = sorted({r["loss"] for r in rows}, key=_loss_order)
    header = ["Dataset"]
    for loss in losses:
        header += [LOSS_LABELS.get(loss, loss), f"{LOSS_LABELS.get(loss, loss)} (paper)"]
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_row.setdefault(r["row"], {})[r["loss"]] = r
    cells, bold = [], []
    for label, per_loss in by_row.items():
        line, marks = [label], [False]
        for loss in losses:
            r = per_loss.get(loss)
            if r is None:
                line += ["—", "—"]
                marks += [False, False]
                continue
            ours = format_f1(r["f1_mean"], r["f1_std"])
            if r["setting"]:
                ours += f" [{r['setting']}]"
            paper = "—" if r["paper_f1"] is None else f"{r['paper_f1']:.4f}"
            if r["paper_setting"]:
                paper += f" [{r['paper_setting']}]"
            if r["paper_f1"] is not None and not r["paper_comparable"]:
                paper += " †"
            line += [ours, paper]
            marks += [bool(r["best_in_row"]), False]
        cells.append(line)
        bold.append(marks)
    return header, cells, bold


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
    if any(r["paper_f1"] is not None and not r["paper_comparable"] for r in rows):
        lines.append("")
        lines.append(NOT_COMPARABLE)
    return "\n".join(lines) + "\n"


#: The columns of ``table1.csv``: :func:`table1_rows`'s keys.
TABLE1_COLUMNS: tuple[str, ...] = (
    "row", "dataset", "noise", "loss", "loss_label", "setting", "seeds", "f1_mean", "f1_std",
    "precision_mean", "recall_mean", "settings_tried", "best_in_row", "paper_f1",
    "paper_setting", "paper_comparable",
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
