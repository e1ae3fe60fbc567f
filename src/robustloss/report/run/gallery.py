"""A run folder's gallery of suspects (``suspects.png``) and its page (``report.html``).

:func:`write_report` reads only the run folder, through its one reader
(:func:`robustloss.run.reader.read_run`: ``summary.json`` as a
:class:`~robustloss.run.records.RunSummary`, ``config.json``, ``detections.csv``; and
``suspect_images.npz``), so a report can be drawn again at any time. Each suspect is shown
with its given and suggested class; when the truth is known (a ``run``, which corrupted the
labels itself) its frame is green for a correct detection (the label really was corrupted)
and red for a false alarm. Drawing uses
matplotlib's object API with the Agg canvas: no pyplot, no global figure state.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustloss._io import atomic_write_text, save_figure
from robustloss.report.run.auto_section import auto_section
from robustloss.report.run.overview import OVERVIEW_CSS, overview_html
from robustloss.run.reader import (
    Detection,
    Detections,
    RunFolder,
    SuspectImages,
    read_run,
    read_suspect_images,
)
from robustloss.run.records import RunSummary

__all__ = ["CORRECT_COLOR", "WRONG_COLOR", "draw_suspects", "write_report"]

CORRECT_COLOR = "#1a9641"  # green: the flagged label really was corrupted
WRONG_COLOR = "#d7191c"  # red: flagged, but the label was right (false alarm)
_TABLE_ROWS = 100


def _short(text: str, width: int = 14) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def draw_suspects(
    images: np.ndarray,
    titles: list[str],
    *,
    correct: list[bool | None] | None = None,
    columns: int = 8,
    heading: str | None = None,
) -> Figure:
    """A grid of images, each titled; frames green/red where ``correct`` is True/False.

    Args:
        images: (M, H, W) grayscale or (M, H, W, 3) RGB, uint8 0..255.
        titles: M titles (one or two lines each).
        correct: M flags (None: unknown, no coloured frame), or None for all unknown.
        columns: images per row.
        heading: text above the grid.

    Returns:
        A matplotlib Figure on an Agg canvas (save it with ``fig.savefig``).
    """
    m = len(images)
    if len(titles) != m:
        raise ValueError(f"Expected {m} titles (one per image), but got {len(titles)}")
    if correct is not None and len(correct) != m:
        raise ValueError(f"Expected {m} `correct` flags (one per image), but got {len(correct)}")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"Expected `columns` to be an integer >= 1, but got {columns!r}")
    cols = max(1, min(columns, m))
    rows = max(1, -(-m // cols))
    fig = Figure(figsize=(1.75 * cols, 2.0 * rows + (0.6 if heading else 0.1)), dpi=100)
    FigureCanvasAgg(fig)
    if m == 0:
        fig.text(0.5, 0.5, "no suspects flagged", ha="center", va="center", fontsize=12)
    for j in range(m):
        ax = fig.add_subplot(rows, cols, j + 1)
        img = np.asarray(images[j])
        if img.ndim == 2:
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(img.astype(np.uint8), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[j], fontsize=7.5)
        flag = None if correct is None else correct[j]
        color = {True: CORRECT_COLOR, False: WRONG_COLOR}.get(flag, "#999999")
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(3.0 if flag is not None else 0.8)
    if heading:
        fig.suptitle(heading, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if heading else 1))
    return fig


@dataclasses.dataclass(frozen=True)
class _Run:
    """What a report draws on: the run folder read back, and its top suspects' images (None
    for a run on embeddings or given probabilities, which has none)."""

    folder: RunFolder
    suspects: SuspectImages | None

    @property
    def summary(self) -> RunSummary:
        return self.folder.summary

    @property
    def rows(self) -> Detections:
        """detections.csv, most suspect first."""
        return self.folder.detections

    @property
    def known(self) -> bool:
        """True when detections.csv has the truth (a ``run``)."""
        return self.rows.known


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _num(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def write_report(run_dir: str | os.PathLike, *, columns: int = 8) -> dict[str, Path]:
    """Draw ``suspects.png`` and write ``report.html`` into a run folder.

    The gallery shows the top suspects kept in ``suspect_images.npz`` (most suspect first),
    each titled ``given → suggested`` with class names and its rank and p(given). The HTML
    page (self-contained: the gallery is embedded as base64, and is also beside it as
    ``suspects.png``) shows the scores, the protocol, the estimated errors per class, the
    gallery, the top suspects, the training history and the resolved config. A run whose
    settings were chosen without ground truth (``auto.csv``: ``loss="auto"``) also gets that
    choice, its candidates and ``auto.png`` (:mod:`robustloss.report.run.auto_section`).

    Returns:
        ``{"suspects": path, "report": path}`` (and ``"unexpected"``, ``"auto"`` when drawn).
    """
    folder = Path(run_dir)
    run = _Run(read_run(folder), read_suspect_images(folder))
    written = _draw_galleries(run, folder, columns=columns)
    auto_parts, auto_figure = auto_section(run.folder)
    title = f"robustloss {run.summary.command}: {_source(run.summary)}"
    parts = [
        *_header(run.summary, title),
        *_scores(run.summary),
        *auto_parts,
        *_overview(folder, run),
        *_per_class(run.summary),
        *_galleries(written),
        *_suspects(run),
        *_history(run.summary),
        *_configuration(run),
    ]
    report_path = folder / "report.html"
    atomic_write_text(report_path, _page(title, parts))
    if auto_figure is not None:
        written["auto"] = auto_figure
    return {**written, "report": report_path}


def _overview(folder: Path, run: _Run) -> list[str]:
    """The confusion matrix, flagged vs estimated per class, per-class galleries
    (:mod:`robustloss.report.run.overview`)."""
    fallback = {}  # for folders without review sheets
    if run.suspects is not None:
        fallback = dict(zip(run.suspects.indices.tolist(), run.suspects.images, strict=True))
    return [overview_html(run.folder, fallback_images=fallback)]


def _loss_used(run: _Run) -> str:
    """The loss trained with: for ``loss="auto"``, what the search chose."""
    auto = run.summary.auto
    if auto:
        return f"auto → {auto['chosen']}"
    return str(run.summary.config.get("loss"))


def _source(summary: RunSummary) -> Any:
    cfg = summary.config
    return cfg.get("dataset") or cfg.get("data") or cfg.get("features") or cfg.get("pred_probs")


# ----- the two galleries -------------------------------------------------------------------


def _titled(run: _Run, idx: np.ndarray) -> tuple[list[str], list[bool | None]]:
    by_index = {d.index: d for d in run.rows}
    titles, correct = [], []
    for i in idx.tolist():
        d = by_index[int(i)]
        titles.append(
            f"{_short(d.given_class)} → {_short(d.suggested_class)}\n"
            f"#{d.rank}  p={d.p_given:.2f}"
        )
        correct.append(bool(d.corrupted) if run.known else None)
    return titles, correct


def _draw_galleries(run: _Run, folder: Path, *, columns: int) -> dict[str, Path]:
    """suspects.png and, with flagged labels that were not corrupted, unexpected.png
    (nothing for a run without images: features or given probabilities)."""
    suspects = run.suspects
    if suspects is None:
        return {}
    summary, cfg = run.summary, run.summary.config
    titles, correct = _titled(run, suspects.indices)
    heading = (
        f"Top {len(suspects.indices)} of {summary.flagged} flagged (given → suggested) — "
        f"{_source(summary)}, "
        f"loss {_loss_used(run)}, protocol {cfg.get('protocol')}"
    )
    if run.known:
        heading += "  (green: really corrupted; red: label was right)"
    fig = draw_suspects(
        suspects.images,
        titles,
        correct=correct if run.known else None,
        columns=columns,
        heading=heading,
    )
    written = {"suspects": save_figure(fig, folder / "suspects.png")}
    unexpected = suspects.unexpected_indices
    if unexpected.size:
        u_titles, _ = _titled(run, unexpected)
        u_fig = draw_suspects(
            suspects.unexpected_images,
            u_titles,
            columns=columns,
            heading=(
                f"Top {unexpected.size} of {summary.flagged - (summary.correct or 0)} "
                "flagged labels that were NOT corrupted on purpose: errors in the original "
                "dataset, or ambiguous images"
            ),
        )
        written["unexpected"] = save_figure(u_fig, folder / "unexpected.png")
    return written


# ----- the page's sections -----------------------------------------------------------------


def _header(summary: RunSummary, title: str) -> list[str]:
    protocol = summary.config.get("protocol")
    cls = "warn" if protocol == "paper-cv" else "note"
    return [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='{cls}'>Protocol <b>{html.escape(str(protocol))}</b>: "
        f"{html.escape(summary.protocol_note)}</p>",
    ]


def _scores(summary: RunSummary) -> list[str]:
    if not summary.scored:
        return [
            "<h2>Suspects</h2>",
            _table(
                ["examples", "flagged", "estimated wrong labels"],
                [[summary.n, summary.flagged, summary.estimated_errors]],
            ),
        ]
    values = [
        summary.precision,
        summary.recall,
        summary.f1,
        summary.flagged,
        summary.correct,
        summary.corrupted,
        summary.test_acc,
    ]
    return [
        "<h2>Detection scores</h2>",
        _table(
            ["precision", "recall", "F1", "flagged", "correct", "corrupted", "test acc"], [values]
        ),
        "<p>flagged = total detections, correct = flagged labels that were really "
        "corrupted (the paper's Figure 5); precision = correct / flagged, recall = "
        "correct / corrupted, 0 when a denominator is 0.</p>",
    ]


def _per_class(summary: RunSummary) -> list[str]:
    per_class = summary.estimated_errors_per_class or {}
    if not per_class:
        return []
    return [
        "<h2>Estimated wrong labels per given class</h2>",
        "<p>From cleanlab's calibrated confident joint: an estimate of the amount of "
        "label noise, not the count flagged.</p>",
        _table(["class", "estimated errors"], [[k, v] for k, v in per_class.items()]),
    ]


def _embedded(path: Path, alt: str) -> str:
    b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{alt}' style='max-width:100%' src='data:image/png;base64,{b64}'>"


def _galleries(written: dict[str, Path]) -> list[str]:
    if "suspects" not in written:
        return []
    parts = ["<h2>Gallery</h2>", _embedded(written["suspects"], "top suspects")]
    if "unexpected" in written:
        parts += [
            "<h2>Flagged, but not corrupted on purpose</h2>",
            "<p>These count as false detections in the scores above, yet many are wrong or "
            "ambiguous labels in the original dataset: worth a look before trusting the "
            "precision.</p>",
            _embedded(written["unexpected"], "flagged but not corrupted"),
        ]
    return parts


def _suspect_cell(d: Detection, column: str) -> Any:
    """A cell of the suspects' table, as detections.csv writes it (``corrupted`` 0 or 1)."""
    value = getattr(d, column)
    if column.startswith("p_"):
        return _num(value)
    return int(value) if column == "corrupted" else value


def _suspects(run: _Run) -> list[str]:
    flagged_rows = run.rows.flagged()[:_TABLE_ROWS]
    if not flagged_rows:
        return []
    cols = ["rank", "index", "given_class", "suggested_class", "p_given", "p_suggested"]
    if run.known:
        cols += ["corrupted", "true_class"]
    if run.rows.has_paths:
        cols.append("path")
    return [
        f"<h2>Top {len(flagged_rows)} suspects (all in detections.csv)</h2>",
        _table(cols, [[_suspect_cell(d, c) for c in cols] for d in flagged_rows]),
    ]


_HISTORY_COLUMNS = (
    "fold",
    "epoch",
    "loss_in_use",
    "train_loss",
    "train_acc",
    "train_acc_true",
    "test_acc",
    "seconds",
)


def _history(summary: RunSummary) -> list[str]:
    history = summary.history or []
    if not history:
        return []
    hcols = [c for c in _HISTORY_COLUMNS if c in history[0]]
    return [
        "<h2>Training history</h2>",
        _table(hcols, [[row.get(c) for c in hcols] for row in history]),
    ]


def _configuration(run: _Run) -> list[str]:
    summary = run.summary
    parts = [
        "<h2>Configuration</h2>",
        f"<p>config hash <code>{html.escape(str(summary.config_hash))}</code></p>",
        _table(["setting", "value"], [[k, v] for k, v in summary.config.items()]),
    ]
    used = run.folder.meta.config_used
    if used:  # loss="auto": what was trained, beside what was asked for
        changed = [[k, summary.config.get(k), v] for k, v in used.items()
                   if summary.config.get(k) != v]  # fmt: skip
        parts += [
            "<p>trained with the settings chosen without ground truth (see <i>Settings "
            "chosen without ground truth</i>):</p>",
            _table(["setting", "asked", "used"], changed),
        ]
    if summary.loss_params_effective:
        parts.append(
            f"<p>loss hyperparameters as used (defaults filled in): "
            f"<code>{html.escape(json.dumps(summary.loss_params_effective))}</code></p>"
        )
    env = run.folder.meta.environment
    if env:
        parts += ["<h2>Environment</h2>", _table(["", ""], [[k, v] for k, v in env.items()])]
    return parts


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;font-size:90%;text-align:left}"
    ".warn{background:#fff3cd;padding:.5em}.note{color:#444}"
)


def _page(title: str, parts: list[str]) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}{OVERVIEW_CSS}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
