"""The paper's Figures 5 and 6, from sweep results pooled over seeds.

Figure 5 (one per row: dataset, rate, conditions): for every setting (points of a delay
sweep only at one delay, see :func:`figure5_settings`), the total number of detections
(blue) and the correct ones (orange) as bars with the seed spread (sample std) as error
bars; the true number of corruptions and the baselines' (CE, FL) detections as
horizontal reference lines; precision, recall and F1 (means over seeds) above each pair.

Figure 6 (one per row that has a delay sweep): F1 against the delay d for every robust-loss
setting tried at two or more delays, mean over seeds with a ±1 std band and error bars,
each seed's value as a dot; the baselines' F1 as horizontal lines.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state); each
PNG is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustloss._io import save_figure
from robustloss.report.sweep.grouping import (
    LOSS_LABELS,
    Setting,
    row_label,
    row_slug,
    rows_of,
)

__all__ = ["draw_figure5", "draw_figure6", "figure5_settings", "write_figures"]

TOTAL_COLOR = "#1f77b4"  # blue, as in the paper
CORRECT_COLOR = "#ff7f0e"  # orange
_BASELINE_STYLES = {"ce": ("#555555", ":"), "focal": ("#9467bd", "-.")}
_SERIES_COLORS = ["#d62728", "#2ca02c", "#17becf", "#8c564b", "#e377c2", "#bcbd22"]


def _err(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if values.size > 1 else 0.0


def _seeds_text(settings: Sequence[Setting]) -> str:
    counts = sorted({len(s.summaries) for s in settings})
    return f"{'/'.join(map(str, counts))} seed{'s' if counts != [1] else ''}"


def draw_figure5(settings: Sequence[Setting], *, title: str) -> Figure:
    """Bars of total and correct detections per setting (see the module docstring)."""
    n = len(settings)
    width = max(6.5, 0.85 * n + 2.5)
    fig = Figure(figsize=(width, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(n)
    bar = 0.38
    totals = [s.values("flagged") for s in settings]
    corrects = [s.values("correct") for s in settings]
    total_mean = np.array([v.mean() if v.size else np.nan for v in totals])
    correct_mean = np.array([v.mean() if v.size else np.nan for v in corrects])
    total_err = np.array([_err(v) for v in totals])
    correct_err = np.array([_err(v) for v in corrects])
    ax.bar(x - bar / 2, total_mean, bar, yerr=total_err, capsize=3, color=TOTAL_COLOR,
           label="total detections")
    ax.bar(x + bar / 2, correct_mean, bar, yerr=correct_err, capsize=3, color=CORRECT_COLOR,
           label="correct detections")

    corrupted = np.concatenate([s.values("corrupted") for s in settings] or [np.array([])])
    if corrupted.size:
        ax.axhline(corrupted.mean(), color="black", linestyle="--", linewidth=1.3,
                   label=f"true corruptions ({corrupted.mean():.0f})")
    for s in settings:
        style = _BASELINE_STYLES.get(s.loss)
        if style is not None and s.values("flagged").size:
            ax.axhline(s.mean("flagged"), color=style[0], linestyle=style[1], linewidth=1.2,
                       label=f"{s.label} detections ({s.mean('flagged'):.0f})")

    top = np.nanmax(np.concatenate([total_mean, correct_mean, corrupted])) if n else 1.0
    top = top if math.isfinite(top) and top > 0 else 1.0
    for i, s in enumerate(settings):
        text = (f"P {s.mean('precision'):.3f}\nR {s.mean('recall'):.3f}\n"
                f"F1 {s.mean('f1'):.3f}")
        height = np.nanmax([total_mean[i] + total_err[i], correct_mean[i] + correct_err[i], 0.0])
        ax.text(i, height + 0.02 * top, text, ha="center", va="bottom", fontsize=7.5,
                linespacing=1.1, bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none",
                                       "pad": 1.0})
    ax.set_ylim(0, top * 1.32)
    ax.set_xticks(x)
    ax.set_xticklabels([s.label for s in settings], rotation=35 if n > 5 else 0,
                       ha="right" if n > 5 else "center", fontsize=8.5)
    ax.set_ylabel("detections (mean over seeds, ± std)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", ncols=2)
    return fig


def _delay_series(settings: Sequence[Setting]) -> dict[str, list[Setting]]:
    """Robust-loss settings tried at >= 2 delays, keyed by their label without the delay."""
    series: dict[str, list[Setting]] = {}
    for s in settings:
        if s.loss in _BASELINE_STYLES:
            continue
        key = f"{LOSS_LABELS.get(s.loss, s.loss)} {s.params_text(delay=False)}".strip()
        series.setdefault(key, []).append(s)
    return {
        k: sorted(v, key=lambda s: s.config.get("delay", 0))
        for k, v in series.items()
        if len({s.config.get("delay", 0) for s in v}) >= 2
    }


def figure5_settings(settings: Sequence[Setting]) -> list[Setting]:
    """The settings Figure 5 shows: all but the off-focus points of delay sweeps.

    The focus delay is the one with the most robust-loss settings (ties: the smallest); a
    setting of a delay sweep (Figure 6) at another delay is left to Figure 6, so that a
    row with both a hyperparameter sweep and a delay sweep stays readable.
    """
    swept = {id(s) for members in _delay_series(settings).values() for s in members}
    if not swept:
        return list(settings)
    counts: dict[int, int] = {}
    for s in settings:
        if s.loss not in _BASELINE_STYLES:
            counts[s.config.get("delay", 0)] = counts.get(s.config.get("delay", 0), 0) + 1
    focus = min(counts, key=lambda d: (-counts[d], d))
    return [s for s in settings if id(s) not in swept or s.config.get("delay", 0) == focus]


def draw_figure6(settings: Sequence[Setting], *, title: str) -> Figure | None:
    """F1 against delay per robust-loss setting; None when no setting has 2+ delays."""
    series = _delay_series(settings)
    if not series:
        return None
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (label, members) in enumerate(series.items()):
        color = _SERIES_COLORS[i % len(_SERIES_COLORS)]
        delays = np.array([s.config.get("delay", 0) for s in members], dtype=float)
        mean = np.array([s.mean("f1") for s in members])
        std = np.array([_err(s.values("f1")) for s in members])
        ax.fill_between(delays, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        ax.errorbar(delays, mean, yerr=std, color=color, marker="o", capsize=3, label=label)
        for d, s in zip(delays, members, strict=True):
            values = s.values("f1")
            ax.scatter(np.full(values.size, d), values, color=color, s=9, alpha=0.5,
                       linewidths=0)
    for s in settings:
        style = _BASELINE_STYLES.get(s.loss)
        if style is not None and s.values("f1").size:
            ax.axhline(s.mean("f1"), color=style[0], linestyle=style[1], linewidth=1.2,
                       label=f"{s.label} (F1 {s.mean('f1'):.3f})")
    ax.set_xlabel("delay d (cross-entropy epochs before the robust loss)")
    ax.set_ylabel("F1 (mean over seeds, ± std; dots: seeds)")
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return fig


def write_figures(
    settings: Sequence[Setting], out_dir: str | os.PathLike[str], *, dpi: int = 130
) -> list[dict[str, str | Path]]:
    """Figures 5 and 6 for every row, as PNGs in ``out_dir``.

    Returns one ``{"kind", "row", "path", "caption"}`` per file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, str | Path]] = []
    for row, members in rows_of(settings).items():
        label, slug = row_label(row), row_slug(row)
        seeds = _seeds_text(members)
        path = out / f"figure5_{slug}.png"
        shown = figure5_settings(members)
        save_figure(draw_figure5(shown, title=f"Detections: {label} ({seeds})"), path, dpi=dpi)
        written.append({
            "kind": "figure5",
            "row": label,
            "path": path,
            "caption": (f"Figure 5, {label}: total (blue) and correct (orange) detections per "
                        f"setting, mean ± std over {seeds}; dashed: true corruptions; "
                        "dotted: the baselines' detections; P/R/F1 above each setting."),
        })
        fig6 = draw_figure6(members, title=f"F1 vs delay: {label} ({seeds})")
        if fig6 is not None:
            path = out / f"figure6_{slug}.png"
            save_figure(fig6, path, dpi=dpi)
            written.append({
                "kind": "figure6",
                "row": label,
                "path": path,
                "caption": (f"Figure 6, {label}: F1 against the delay d, mean with a ±1 std "
                            f"band over {seeds} (dots: single seeds); horizontal lines: "
                            "the baselines."),
            })
    return written
