"""The review page: one self-contained HTML file that turns a person's decisions into labels.

A run folder gets ``review.html`` plus a ``review/`` folder::

    review.html              the page: HTML, CSS and JavaScript inline; no server, no network
    review/suspects.js       the suspect table: ``window.ROBUSTLOSS_REVIEW = {...}``
    review/sheet-00000.png   sprite sheets: SHEET_SIZE flagged examples each, most suspect
    review/sheet-00001.png   first, as a 10 x 10 grid of tiles (lossless PNG; written and read
    ...                      by :mod:`robustloss.run.tiles`, which the report reads too)

The suspect table is a ``<script src>`` rather than JSON because Chromium refuses
``fetch()`` of ``file://`` URLs. It holds one compact row per flagged example, in the run's
ranking order (position ``k`` in the table is tile ``k % SHEET_SIZE`` of sheet
``k // SHEET_SIZE``): ``[index, given_label, suggested_label, p_given, p_suggested]``, with
``paths`` / ``ids`` alongside where the input has them. The page renders only the current
suspect and a list of the current page (:data:`PAGE_SIZE` rows), and loads a sheet image
only when a suspect on it is shown (and the next sheet ahead of time), so 100,000 flagged
examples cost 1,000 small PNGs on disk and a bounded DOM in the browser.

The page pages through the suspects most suspect first, or grouped by given class, or only
one confusion (``review.html#given=2&suggested=5``, where the report's matrix links). Keys:

==========  ============================================================
``a``       accept the suggestion (label = suggested class)
``k``       keep the given label
``0``-``9`` relabel to that class index (only with 10 classes or fewer)
``r``       pick another class from a list (type to filter, Enter, Esc)
``u``       unsure (label left empty, the given label stays)
→ / ←       next / previous suspect (Space: next); Home / End: first / last
PgDn / PgUp the next / previous page of :data:`PAGE_SIZE`
==========  ============================================================

Progress is kept in the browser's ``localStorage`` under ``robustloss-review:<config
hash>``, so reopening the page resumes, and two runs never mix. *Export review.csv* writes
one row per decided suspect (a decision of :data:`~robustloss.review.decisions.DECISIONS`),
most suspect first, with the columns of :data:`REVIEW_COLUMNS` (``path`` only for inputs
with paths, ``id`` only with ids): what ``robustloss apply-review`` reads
(:mod:`robustloss.review.apply`).
"""

from __future__ import annotations

import html
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._io import atomic_write_text, json_text
from robustloss.data import load_dataset, load_path
from robustloss.review.decisions import DECISIONS
from robustloss.run.reader import Detection, RunFolder, read_run
from robustloss.run.records import RunSummary
from robustloss.run.tiles import (
    MAX_TILE,
    SHEET_COLUMNS,
    SHEET_SIZE,
    SHEETS_FOLDER,
    SheetMeta,
    read_sheet_meta,
    write_sheet_meta,
    write_sheets,
)

__all__ = [
    "DECISIONS",  # re-exported: what review.csv's ``decision`` column may hold
    "MAX_TILE",
    "PAGE_SIZE",
    "REVIEW_COLUMNS",
    "SHEET_COLUMNS",
    "SHEET_SIZE",
    "load_run_images",
    "write_review",
]

#: Suspects listed per page beside the large image.
PAGE_SIZE = 20
#: Columns of the exported review.csv, in order (``path``/``id`` only where the input has
#: them; ``run`` is the run's config hash, so a csv from another run is refused).
REVIEW_COLUMNS: tuple[str, ...] = ("index", "given", "decision", "label", "path", "id", "run")

_SCRIPT_NAME = "suspects.js"


def load_run_images(run: RunFolder) -> np.ndarray:
    """The run's training images, (N, H, W[, 3]) uint8 in ``index`` order, loaded again from
    the data source recorded in ``config.json`` (a built-in dataset's training split, or
    ``--data`` read with the run's ``image_size``), taking ``source_index`` of each row.

    A relative ``--data`` path is resolved against the current folder, as the run did.
    """
    cfg = run.config
    if cfg.get("dataset"):
        images, _ = load_dataset(cfg["dataset"], "train")
    else:
        images = load_path(cfg["data"], image_size=cfg.get("image_size")).images
    pairs = sorted((d.index, d.source_index) for d in run.detections)
    source = np.array([s for _, s in pairs], dtype=np.int64)
    return np.asarray(images)[source]


def _p(x: float) -> float:
    return float(f"{x:.4g}")


def write_review(
    run_dir: str | os.PathLike, *, images: np.ndarray | None = None
) -> dict[str, Path]:
    """Write ``review.html`` and ``review/`` (suspect table and sprite sheets) into a run folder.

    Args:
        run_dir: a run folder (``config.json``, ``summary.json``, ``detections.csv``).
        images: the run's training images, (N, H, W) or (N, H, W, 3) uint8 in ``index``
            order (what the pipeline has in memory). None: reuse the sheets already in
            ``review/`` when they were made for this run's flagged set, else load the images
            again with :func:`load_run_images`. A run without images (on embeddings or
            given probabilities: neither ``dataset`` nor ``data`` in its config) gets no
            sheets; its page shows the suspects without pictures.

    Returns:
        ``{"review": review.html, "suspects": review/suspects.js}``.
    """
    run = read_run(run_dir)
    flagged = run.detections.flagged()
    table = _suspect_table(run, flagged, _sheets(run, flagged, images))
    script = run.path / SHEETS_FOLDER / _SCRIPT_NAME
    atomic_write_text(
        script, "window.ROBUSTLOSS_REVIEW = " + json_text(table, sort_keys=False) + ";\n"
    )
    page = run.path / "review.html"
    atomic_write_text(page, _page(table["title"]))
    return {"review": page, "suspects": script}


def _fresh(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _sheets(
    run: RunFolder, flagged: tuple[Detection, ...], images: np.ndarray | None
) -> list[int] | None:
    """The flagged examples' sprite sheets in ``review/``; returns the tile [th, tw].

    Reuses the sheets there when they picture this run's flagged set and no ``images`` were
    given; else writes them from ``images`` (loaded again when None). A run without images
    gets an empty ``review/`` and None.
    """
    folder = run.path / SHEETS_FOLDER
    index = np.array([d.index for d in flagged], dtype=np.int64)
    head = tuple(index[:SHEET_SIZE].tolist())
    if images is None and not (run.config.get("dataset") or run.config.get("data")):
        _fresh(folder)  # nothing to picture
        return None
    if images is None:
        old = read_sheet_meta(run.path)
        if old is not None and old.pictures(run.config_hash, len(flagged), head):
            return list(old.tile)
        images = load_run_images(run)
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise ValueError(
            "Expected `images` uint8 of shape (N, H, W) or (N, H, W, 3), but got "
            f"{images.dtype} {images.shape}"
        )
    if index.size and int(index.max()) >= len(images):
        raise ValueError(
            f"detections.csv names index {int(index.max())}, but `images` holds only "
            f"{len(images)} examples"
        )
    _fresh(folder)
    tile = write_sheets(folder, images, index) if index.size else (1, 1)
    write_sheet_meta(run.path, SheetMeta(run.config_hash, len(flagged), head, tile))
    return list(tile)


def _suspect_table(
    run: RunFolder, flagged: tuple[Detection, ...], tile: list[int] | None
) -> dict[str, Any]:
    """What ``review/suspects.js`` holds: one compact row per flagged example (module
    docstring), the classes, the sheets' layout and the run's hash."""
    has_path = bool(flagged) and run.detections.has_paths
    has_id = bool(flagged) and run.detections.has_ids
    return {
        "run": run.config_hash,
        "title": _title(run.summary),
        "classes": run.class_names,
        "sheet_size": SHEET_SIZE,
        "sheet_columns": SHEET_COLUMNS,
        "tile": tile,
        "page_size": PAGE_SIZE,
        "fields": ["index", "given", "suggested", "p_given", "p_suggested"],
        "rows": [
            [d.index, d.given_label, d.suggested_label, _p(d.p_given), _p(d.p_suggested)]
            for d in flagged
        ],
        "paths": [d.path for d in flagged] if has_path else None,
        "ids": [d.id for d in flagged] if has_id else None,
    }


def _title(summary: RunSummary) -> str:
    cfg = summary.config or {}
    source = cfg.get("dataset") or cfg.get("data") or "?"
    return f"Review the suspects: {summary.command} on {source}"


def _asset(name: str) -> str:
    return (resources.files("robustloss.report") / "assets" / name).read_text(encoding="utf-8")


def _page(title: str) -> str:
    """review.html: the page's markup, CSS and script (``report/assets/``) inlined."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_asset('review.css')}</style></head>"
        f"<body>{_asset('review-body.html')}<script src='review/{_SCRIPT_NAME}'></script>"
        f"<script>{_asset('review.js')}</script></body></html>\n"
    )
