"""The report's overview of the suspects: the whole confusion picture at a glance.

Three parts, each computed from the run folder alone (``detections.csv``, ``summary.json``
and the review sheets, read by :mod:`robustloss.run.reader` and
:mod:`robustloss.run.tiles`):

- the **confusion matrix** of the flagged examples: rows the given class, columns the
  suggested class (the model's argmax), each cell the count, shaded by count; a non-empty
  cell links to the gallery of that confusion (``#gallery-<given>-<suggested>``, label
  indices), a row's header to its class gallery (``#gallery-<given>``);
- **flagged vs estimated errors per class** (and, when the labels were corrupted on
  purpose, the corrupted count), as a grouped bar chart;
- **per-class galleries**: for each given class, its most suspect examples grouped by the
  suggested class (the :data:`CELL_GALLERY` most suspect of each confusion, the
  :data:`CELLS_PER_CLASS` largest confusions of the class), most suspect first.

Notation: K classes; ``counts[g, s]`` (K, K) is the number of flagged examples given class
``g`` whose suggested class is ``s``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from robustloss.run.reader import Detection, RunFolder
from robustloss.run.tiles import read_tiles

__all__ = [
    "CELLS_PER_CLASS",
    "CELL_GALLERY",
    "OVERVIEW_CSS",
    "confusion_counts",
    "draw_class_bars",
    "overview_html",
]

#: Examples shown per confusion (cell) in a class gallery.
CELL_GALLERY = 8
#: Confusions shown per given class (the largest ones).
CELLS_PER_CLASS = 10
_TILE_PX = 64


def confusion_counts(rows: Iterable[Detection], num_classes: int) -> np.ndarray:
    """``counts[g, s]``: flagged rows given class g with suggested class s, (K, K) int64."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for d in rows:
        if d.flagged:
            counts[d.given_label, d.suggested_label] += 1
    return counts


def draw_class_bars(
    class_names: list[str],
    flagged: np.ndarray,
    estimated: np.ndarray,
    corrupted: np.ndarray | None = None,
) -> Figure:
    """Grouped bars per given class: flagged, estimated errors (and corrupted when known).

    Args:
        class_names: K names.
        flagged, estimated: (K,) counts.
        corrupted: (K,) counts of labels corrupted on purpose, or None.
    """
    k = len(class_names)
    series = [("flagged", flagged, "#d95f02"), ("estimated errors", estimated, "#7570b3")]
    if corrupted is not None:
        series.append(("corrupted on purpose", corrupted, "#1b9e77"))
    fig = Figure(figsize=(max(6.0, 0.55 * k + 2), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(series)
    x = np.arange(k)
    for j, (name, values, color) in enumerate(series):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width, label=name, color=color)
    ax.set_xticks(x)
    ax.set_xticklabels([n if len(n) <= 12 else n[:11] + "…" for n in class_names],
                       rotation=0 if k <= 12 else 60, fontsize=8)  # fmt: skip
    ax.set_xlabel("given class")
    ax.set_ylabel("examples")
    ax.legend(fontsize=8, frameon=False, ncol=len(series), loc="lower center",
              bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _png_b64(fig_or_array: Any) -> str:
    buf = io.BytesIO()
    if isinstance(fig_or_array, np.ndarray):
        Image.fromarray(fig_or_array).save(buf, format="PNG")
    else:
        fig_or_array.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shade(count: int, top: int) -> str:
    if count == 0 or top == 0:
        return "#ffffff"
    t = np.log1p(count) / np.log1p(top)  # log scale: one big confusion does not hide the rest
    r, g, b = (int(255 + (c - 255) * t) for c in (0xD7, 0x30, 0x1F))
    return f"#{r:02x}{g:02x}{b:02x}"


def _matrix_html(counts: np.ndarray, names: list[str]) -> str:
    k = len(names)
    top = int(counts.max()) if counts.size else 0
    esc = html.escape
    head = "".join(f"<th class='col'>{esc(n)}</th>" for n in names)
    body = []
    for g in range(k):
        cells = []
        for s in range(k):
            c = int(counts[g, s])
            text_color = "#fff" if top and c > 0 and np.log1p(c) / np.log1p(top) > 0.6 else "#000"
            inner = (
                f"<a href='#gallery-{g}-{s}' style='color:{text_color}' "
                f"title='given {esc(names[g])}, suggested {esc(names[s])}: {c}'>{c}</a>"
                if c
                else ""
            )
            cells.append(f"<td class='cell' style='background:{_shade(c, top)}'>{inner}</td>")
        total = int(counts[g].sum())
        body.append(
            f"<tr><th><a href='#gallery-{g}'>{esc(names[g])}</a></th>{''.join(cells)}"
            f"<td class='total'>{total}</td></tr>"
        )
    col_totals = "".join(f"<td class='total'>{int(v)}</td>" for v in counts.sum(axis=0))
    return (
        "<table class='confusion'><thead><tr><th>given \\ suggested</th>"
        f"{head}<th>flagged</th></tr></thead><tbody>{''.join(body)}"
        f"<tr><th>flagged</th>{col_totals}<td class='total'>{int(counts.sum())}</td></tr>"
        "</tbody></table>"
    )


def _tile_img(tile: np.ndarray | None, caption: str, color: str | None) -> str:
    border = f"border:3px solid {color}" if color else "border:1px solid #999"
    if tile is None:
        img = f"<div class='noimg' style='{border}'>no image</div>"
    else:
        img = (
            f"<img width='{_TILE_PX}' height='{_TILE_PX}' style='{border}' alt='' "
            f"src='data:image/png;base64,{_png_b64(np.ascontiguousarray(tile))}'>"
        )
    return f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>"


def overview_html(
    run: RunFolder,
    *,
    fallback_images: dict[int, np.ndarray] | None = None,
    correct_color: str = "#1a9641",
    wrong_color: str = "#d7191c",
) -> str:
    """The overview section of ``report.html`` (an HTML fragment, images inline).

    Args:
        run: the run folder read back (its detections, the summary's class names and
            estimated errors per class, and the review sheets' tiles, when present).
        fallback_images: ``{index: image}`` for folders without review sheets (e.g. the
            top suspects of ``suspect_images.npz``).
        correct_color, wrong_color: frames for correct detections / false alarms, when the
            truth is known.
    """
    names = run.class_names
    flagged = run.detections.flagged()
    counts = confusion_counts(flagged, len(names))
    colors = (correct_color, wrong_color) if run.detections.known else None
    return "\n".join([
        "<h2 id='overview'>Overview of the suspects</h2>",
        f"<p>{len(flagged)} flagged. The matrix counts them by given label (rows) and "
        "suggested label (columns, the model's most probable class); click a count for "
        "that confusion's gallery, a class for its gallery, or open <a href='review.html'>"
        "the review page</a> to decide about each one.</p>",
        _matrix_html(counts, names),
        *_bars_html(run, counts),
        *_galleries_html(run, flagged, counts, fallback_images or {}, colors),
    ])


def _bars_html(run: RunFolder, counts: np.ndarray) -> list[str]:
    """Flagged vs estimated (and corrupted) per given class: a heading, a note, the chart."""
    names = run.class_names
    known = run.detections.known
    per_class = run.summary.estimated_errors_per_class or {}
    estimated = np.array([int(per_class.get(n, 0)) for n in names], dtype=np.int64)
    corrupted = None
    if known:
        corrupted = np.zeros(len(names), dtype=np.int64)
        for d in run.detections:
            if d.corrupted:
                corrupted[d.given_label] += 1
    bars = draw_class_bars(names, counts.sum(axis=1), estimated, corrupted)
    return [
        "<h3>Flagged vs estimated wrong labels per class</h3>",
        "<p>flagged: examples Confident Learning flags; estimated errors: cleanlab's "
        "estimate from the calibrated confident joint"
        + ("; corrupted: labels changed on purpose by this run" if known else "")
        + ".</p>",
        f"<img alt='flagged vs estimated per class' style='max-width:100%' "
        f"src='data:image/png;base64,{_png_b64(bars)}'>",
    ]


def _galleries_html(
    run: RunFolder,
    flagged: Sequence[Detection],
    counts: np.ndarray,
    fallback: dict[int, np.ndarray],
    colors: tuple[str, str] | None,
) -> list[str]:
    """Per given class, its largest confusions' most suspect examples (their tiles read
    from the review sheets, else ``fallback``; frames ``colors`` (correct, wrong) when the
    truth is known)."""
    names = run.class_names
    # Pick the examples first, then read only their tiles.
    position = {d.index: p for p, d in enumerate(flagged)}
    chosen: dict[tuple[int, int], list[Detection]] = {}
    for d in flagged:
        bucket = chosen.setdefault((d.given_label, d.suggested_label), [])
        if len(bucket) < CELL_GALLERY:
            bucket.append(d)
    tiles = read_tiles(run.path, [position[d.index] for b in chosen.values() for d in b])
    parts = ["<h3>Per-class galleries</h3>"]
    for g in range(len(names)):
        total = int(counts[g].sum())
        parts.append(
            f"<section class='gallery' id='gallery-{g}'><h4>given {html.escape(names[g])}: "
            f"{total} flagged</h4>"
        )
        if total == 0:
            parts.append("<p>none flagged</p></section>")
            continue
        order = [s for s in np.argsort(-counts[g], kind="stable").tolist() if counts[g, s] > 0]
        for s in order[:CELLS_PER_CLASS]:
            shown = chosen[(g, s)]
            figs = []
            for d in shown:
                tile = tiles.get(position[d.index], fallback.get(d.index))
                color = None if colors is None else colors[0 if d.corrupted else 1]
                figs.append(_tile_img(tile, f"#{d.rank} p={d.p_given:.2g}", color))
            parts.append(
                f"<div class='confusion-row' id='gallery-{g}-{s}'>"
                f"<h5>{html.escape(names[g])} → {html.escape(names[s])}: {int(counts[g, s])} "
                f"(the {len(shown)} most suspect; <a href='review.html#given={g}&amp;"
                f"suggested={s}'>review them</a>)</h5><div class='tiles'>{''.join(figs)}</div>"
                "</div>"
            )
        if len(order) > CELLS_PER_CLASS:
            parts.append(f"<p>and {len(order) - CELLS_PER_CLASS} smaller confusions</p>")
        parts.append("</section>")
    return parts


#: CSS the overview needs; the report includes it once in its <style>.
OVERVIEW_CSS = (
    "table.confusion td.cell{width:2.6em;text-align:center;padding:3px}"
    "table.confusion td.cell a{text-decoration:none;font-weight:bold;display:block}"
    "table.confusion td.total{color:#555;text-align:center}"
    "table.confusion th.col{writing-mode:vertical-rl;transform:rotate(180deg);max-height:9em}"
    ".tiles{display:flex;flex-wrap:wrap;gap:4px}"
    ".tiles figure{margin:0;text-align:center;font-size:70%}"
    ".tiles img{image-rendering:pixelated;background:#000}"
    ".noimg{width:64px;height:64px;font-size:70%;color:#999}"
    ".gallery{border-top:1px solid #ddd;margin-top:1em}.gallery:target{background:#fff8e1}"
    ".confusion-row:target{background:#ffe082}"
)

