"""The sprite sheets of a run folder's flagged examples: written for the review page, read
back by it and by the report (which must not import the review, nor the review the report).

A run folder's ``review/`` holds::

    review/meta.json         which run and flagged set the sheets picture, and the tile size
    review/sheet-00000.png   SHEET_SIZE flagged examples each, most suspect first, as a
    review/sheet-00001.png   SHEET_COLUMNS x SHEET_COLUMNS grid of tiles (lossless PNG)
    ...

Position ``k`` in the flagged ranking (0 = most suspect) is tile ``k % SHEET_SIZE`` of sheet
``k // SHEET_SIZE``, row-major. Tiles are (th, tw) or (th, tw, 3) uint8: the images, shrunk
(aspect kept) to at most :data:`MAX_TILE` pixels on their longer side.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from robustloss._io import atomic_open, atomic_write_text, json_text

__all__ = [
    "MAX_TILE",
    "SHEETS_FOLDER",
    "SHEET_COLUMNS",
    "SHEET_SIZE",
    "SheetMeta",
    "read_sheet_meta",
    "read_tiles",
    "write_sheet_meta",
    "write_sheets",
]

#: Flagged examples per sprite sheet (a SHEET_COLUMNS x SHEET_COLUMNS grid).
SHEET_SIZE = 100
SHEET_COLUMNS = 10
#: Longest side of a tile in pixels; larger images are shrunk (aspect kept) for the page.
MAX_TILE = 160
#: The sheets' folder in a run folder (shared with the review page's suspect table).
SHEETS_FOLDER = "review"
_META = "meta.json"


@dataclass(frozen=True)
class SheetMeta:
    """``review/meta.json``: what the sheets beside it picture.

    Attributes:
        run: the run's config hash.
        flagged: how many flagged examples the sheets hold.
        order_head: the ``index`` of the first (at most) SHEET_SIZE of them, most suspect
            first (a changed ranking means new sheets).
        tile: (th, tw), the tile size in pixels ((1, 1) when nothing was flagged).
    """

    run: str
    flagged: int
    order_head: tuple[int, ...]
    tile: tuple[int, int]

    def pictures(self, run: str, flagged: int, order_head: tuple[int, ...]) -> bool:
        """Whether these sheets were made for this run's flagged set."""
        return (self.run, self.flagged, self.order_head) == (run, flagged, order_head)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "flagged": self.flagged, "order_head": list(self.order_head),
                "tile": list(self.tile)}  # fmt: skip


def read_sheet_meta(run_dir: str | os.PathLike) -> SheetMeta | None:
    """``review/meta.json`` of a run folder; None when it has none (folders written before
    the review page existed, or runs without images).

    Raises:
        ValueError: a meta.json that is not the JSON object this module writes.
    """
    path = Path(run_dir) / SHEETS_FOLDER / _META
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        th, tw = data["tile"]
        return SheetMeta(run=str(data["run"]), flagged=int(data["flagged"]),
                         order_head=tuple(int(i) for i in data["order_head"]),
                         tile=(int(th), int(tw)))  # fmt: skip
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"{path}: expected the sprite sheets' meta.json (an object with run, flagged, "
            f"order_head and tile [th, tw]), but it does not read as one ({exc!r})"
        ) from None


def write_sheet_meta(run_dir: str | os.PathLike, meta: SheetMeta) -> Path:
    """Write ``review/meta.json`` (after the sheets, so that it only names complete ones)."""
    return atomic_write_text(Path(run_dir) / SHEETS_FOLDER / _META, json_text(meta.to_dict()))


def _tile_shape(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, MAX_TILE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def write_sheets(folder: Path, images: np.ndarray, order: np.ndarray) -> tuple[int, int]:
    """Sprite sheets of ``images[order]`` into ``folder``; returns the tile (th, tw).

    ``images`` (N, H, W) or (N, H, W, 3) uint8; ``order`` (M,) int64 indices into it, most
    suspect first.
    """
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
    (folders written before the review page existed); a position past the sheets is left
    out.
    """
    meta = read_sheet_meta(run_dir)
    if meta is None:
        return {}
    folder = Path(run_dir) / SHEETS_FOLDER
    th, tw = meta.tile
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
