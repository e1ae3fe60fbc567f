"""The paper's Table 1 from sweep results: per row and loss, the best setting's F1.

Table 1 shows, per row (dataset and corruption rate, plus any condition that varies: see
:mod:`robustloss.report.sweep.grouping`) and loss, the setting with the best mean F1 over
seeds as ``mean ± std`` (sample std, n-1), the best loss of the row in bold, and the paper's
value beside ours. Picking the best setting on the same runs that report it is what the
paper does; it flatters every robust loss (and more, the more settings it was picked from),
never the baselines: it is an oracle over the grid, choosing with the known corruptions. A
``loss="auto"`` cell is not: each of its trials chose its own settings from the noisy labels
alone (:mod:`robustloss.search`), so its one "setting" is ``auto``.

Each cell is paired against its row's cross-entropy cell over the seeds both ran (wins and
a paired t-test: :mod:`robustloss.report.sweep.paired`), its difference to the paper's value
is beside the paper's, and a line per row says which of the paper's orderings against CE
hold here (:mod:`robustloss.report.sweep.orderings`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustloss._io import atomic_write_text, write_csv
from robustloss.report.sweep.grouping import (
    DATASET_LABELS,
    LOSS_LABELS,
    Setting,
    loss_order,
    row_label,
    rows_of,
)
from robustloss.report.sweep.orderings import ORDERINGS_NOTE, ordering_lines
from robustloss.report.sweep.paired import PAIRED_NOTE, Paired, paired_vs
from robustloss.search.criteria import AUTO

__all__ = [
    "AUTO_NOTE",
    "NOT_COMPARABLE",
    "PAPER_TABLE1",
    "TABLE1_COLUMNS",
    "format_f1",
    "paper_comparable",
    "table1_grid",
    "table1_markdown",
    "table1_rows",
    "write_table1",
]

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


def paper_comparable(config: dict[str, Any]) -> bool:
    """Whether a config trains like the paper's Table 1: a full built-in dataset, 10 epochs."""
    return (
        config.get("dataset") in DATASET_LABELS
        and config.get("subset") is None
        and config.get("epochs") == 10
    )


def table1_rows(settings: Sequence[Setting]) -> list[dict[str, Any]]:
    """Long-format Table 1: per row and loss, the best setting by mean F1 over seeds.

    Keys: ``row``, ``dataset``, ``noise``, ``loss``, ``loss_label``, ``setting``, ``seeds``,
    ``f1_mean``, ``f1_std``, ``precision_mean``, ``recall_mean``, ``settings_tried``,
    ``best_in_row`` (this loss has the row's highest mean F1), ``paired_seeds``, ``wins``,
    ``f1_diff_mean`` and ``p_value`` (:func:`paired_vs` against the row's cross-entropy
    cell; None for that cell itself and in a row without one), ``paper_f1``,
    ``paper_diff`` (our mean F1 minus the paper's), ``paper_setting`` (None where the
    paper has no such cell), ``paper_comparable``
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
        for loss in sorted(best, key=loss_order):
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
                "paper_diff": None if paper_f1 is None else s.mean("f1") - paper_f1,
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
    losses = sorted({r["loss"] for r in rows}, key=loss_order)
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
            if r.get("paper_diff") is not None and not math.isnan(r["paper_diff"]):
                paper += f" (ours {r['paper_diff']:+.4f})"
            if r["paper_setting"]:
                paper += f" [{r['paper_setting']}]"
            if r["paper_f1"] is not None and not r["paper_comparable"]:
                paper += " †"
            line.append(paper)
            marks.append(False)
        cells.append(line)
        bold.append(marks)
    return header, cells, bold


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
    order = ordering_lines(rows)
    if order:
        lines += ["", ORDERINGS_NOTE, ""] + [f"- {line}" for line in order]
    if any(r["paper_f1"] is not None and not r["paper_comparable"] for r in rows):
        lines.append("")
        lines.append(NOT_COMPARABLE)
    return "\n".join(lines) + "\n"


#: The columns of ``table1.csv``: :func:`table1_rows`'s keys.
TABLE1_COLUMNS: tuple[str, ...] = (
    "row", "dataset", "noise", "loss", "loss_label", "setting", "seeds", "f1_mean", "f1_std",
    "precision_mean", "recall_mean", "settings_tried", "best_in_row", "paired_seeds", "wins",
    "f1_diff_mean", "p_value", "paper_f1", "paper_diff", "paper_setting", "paper_comparable",
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
