"""The review page: one self-contained HTML file that turns a person's decisions into labels.

A run folder gets ``review.html`` plus a ``review/`` folder::

    review.html              the page: HTML, CSS and JavaScript inline; no server, no network
    review/suspects.js       the suspect table: ``window.ROBUSTLOSS_REVIEW = {...}``
    review/sheet-00000.png   sprite sheets: SHEET_SIZE flagged examples each, most suspect
    review/sheet-00001.png   first, as a 10 x 10 grid of tiles (lossless PNG)
    ...

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
one row per decided suspect, most suspect first, with the columns of
:data:`REVIEW_COLUMNS` (``path`` only for inputs with paths, ``id`` only with ids): what
``robustloss apply-review`` reads (:mod:`robustloss.review.apply`).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from robustloss._io import atomic_open, atomic_write_text, json_text
from robustloss.data import load_dataset, load_path
from robustloss.run.rundir import read_detections

__all__ = [
    "DECISIONS",
    "MAX_TILE",
    "PAGE_SIZE",
    "REVIEW_COLUMNS",
    "SHEET_COLUMNS",
    "SHEET_SIZE",
    "flagged_rows",
    "load_run_images",
    "read_tiles",
    "write_review",
]

#: Flagged examples per sprite sheet (a SHEET_COLUMNS x SHEET_COLUMNS grid).
SHEET_SIZE = 100
SHEET_COLUMNS = 10
#: Longest side of a tile in pixels; larger images are shrunk (aspect kept) for the page.
MAX_TILE = 160
#: Suspects listed per page beside the large image.
PAGE_SIZE = 20
#: What a reviewer can decide about one suspect.
DECISIONS: tuple[str, ...] = ("accept", "keep", "relabel", "unsure")
#: Columns of the exported review.csv, in order (``path``/``id`` only where the input has
#: them; ``run`` is the run's config hash, so a csv from another run is refused).
REVIEW_COLUMNS: tuple[str, ...] = ("index", "given", "decision", "label", "path", "id", "run")

_SCRIPT_NAME = "suspects.js"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def flagged_rows(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The flagged rows of ``detections.csv``, most suspect first (strings, as written)."""
    return [r for r in read_detections(run_dir) if r.get("flagged") == "1"]


def load_run_images(run_dir: str | os.PathLike) -> np.ndarray:
    """The run's training images, (N, H, W[, 3]) uint8 in ``index`` order, loaded again from
    the data source recorded in ``config.json`` (a built-in dataset's training split, or
    ``--data`` read with the run's ``image_size``), taking ``source_index`` of each row.

    A relative ``--data`` path is resolved against the current folder, as the run did.
    """
    run = Path(run_dir)
    cfg = _read_json(run / "config.json")["config"]
    if cfg.get("dataset"):
        images, _ = load_dataset(cfg["dataset"], "train")
    else:
        images = load_path(cfg["data"], image_size=cfg.get("image_size")).images
    pairs = sorted((int(r["index"]), int(r["source_index"])) for r in read_detections(run))
    source = np.array([s for _, s in pairs], dtype=np.int64)
    return np.asarray(images)[source]


def _tile_shape(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, MAX_TILE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _write_sheets(folder: Path, images: np.ndarray, order: np.ndarray) -> tuple[int, int]:
    """Sprite sheets of ``images[order]``; returns the tile (height, width)."""
    h, w = images.shape[1:3]
    th, tw = _tile_shape(h, w)
    rgb = images.ndim == 4
    for s, start in enumerate(range(0, len(order), SHEET_SIZE)):
        chunk = order[start : start + SHEET_SIZE]
        rows = -(-len(chunk) // SHEET_COLUMNS)
        cols = SHEET_COLUMNS if rows > 1 else len(chunk)
        shape = (rows * th, cols * tw, 3) if rgb else (rows * th, cols * tw)
        sheet = np.zeros(shape, dtype=np.uint8)
        for j, i in enumerate(chunk.tolist()):
            tile = np.asarray(images[i], dtype=np.uint8)
            if (th, tw) != (h, w):
                tile = np.asarray(
                    Image.fromarray(tile).resize((tw, th), resample=Image.Resampling.BILINEAR)
                )
            r, c = divmod(j, SHEET_COLUMNS)
            sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
        with atomic_open(folder / f"sheet-{s:05d}.png", "wb") as fh:
            Image.fromarray(sheet).save(fh, format="PNG", optimize=False, compress_level=6)
    return th, tw


def read_tiles(run_dir: str | os.PathLike, positions: list[int]) -> dict[int, np.ndarray]:
    """Tiles of the review sheets by position in the flagged ranking (0 = most suspect).

    Returns ``{position: (th, tw[, 3]) uint8}``, empty when the run folder has no sheets
    (folders written before the review page existed).
    """
    folder = Path(run_dir) / "review"
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return {}
    th, tw = _read_json(meta_path)["tile"]
    out: dict[int, np.ndarray] = {}
    by_sheet: dict[int, list[int]] = {}
    for p in positions:
        by_sheet.setdefault(p // SHEET_SIZE, []).append(p)
    for s, ps in by_sheet.items():
        path = folder / f"sheet-{s:05d}.png"
        if not path.is_file():
            continue
        with Image.open(path) as img:
            sheet = np.asarray(img)
        for p in ps:
            r, c = divmod(p % SHEET_SIZE, SHEET_COLUMNS)
            tile = sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
            if tile.shape[:2] == (th, tw):
                out[p] = tile
    return out


def _p(x: str) -> float:
    return float(f"{float(x):.4g}")


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
    run = Path(run_dir)
    config = _read_json(run / "config.json")
    summary = _read_json(run / "summary.json")
    chash = str(config["config_hash"])
    class_names = [str(c) for c in summary["class_names"]]
    rows = flagged_rows(run)
    index = np.array([int(r["index"]) for r in rows], dtype=np.int64)
    folder = run / "review"
    meta_path = folder / "meta.json"
    meta = {"run": chash, "flagged": len(rows), "order_head": index[:SHEET_SIZE].tolist()}
    reuse = False
    cfg = config.get("config") or {}
    if images is None and not (cfg.get("dataset") or cfg.get("data")):  # nothing to picture
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        reuse, tile = True, None
    elif images is None and meta_path.is_file():
        old = _read_json(meta_path)
        reuse = all(old.get(k) == v for k, v in meta.items())
        tile = old.get("tile")
    if not reuse:
        if images is None:
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
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        tile = list(_write_sheets(folder, images, index)) if index.size else [1, 1]
        atomic_write_text(meta_path, json_text({**meta, "tile": tile}))

    has_path = bool(rows) and "path" in rows[0]
    has_id = bool(rows) and "id" in rows[0]
    table = {
        "run": chash,
        "title": _title(summary),
        "classes": class_names,
        "sheet_size": SHEET_SIZE,
        "sheet_columns": SHEET_COLUMNS,
        "tile": tile,
        "page_size": PAGE_SIZE,
        "fields": ["index", "given", "suggested", "p_given", "p_suggested"],
        "rows": [
            [
                int(r["index"]),
                int(r["given_label"]),
                int(r["suggested_label"]),
                _p(r["p_given"]),
                _p(r["p_suggested"]),
            ]
            for r in rows
        ],
        "paths": [r["path"] for r in rows] if has_path else None,
        "ids": [r["id"] for r in rows] if has_id else None,
    }
    script = folder / _SCRIPT_NAME
    atomic_write_text(
        script, "window.ROBUSTLOSS_REVIEW = " + json_text(table, sort_keys=False) + ";\n"
    )
    page = run / "review.html"
    atomic_write_text(page, _page(table["title"]))
    return {"review": page, "suspects": script}


def _title(summary: dict[str, Any]) -> str:
    cfg = summary.get("config") or {}
    source = cfg.get("dataset") or cfg.get("data") or "?"
    return f"Review the suspects: {summary.get('command', 'run')} on {source}"


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
