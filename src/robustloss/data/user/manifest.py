"""A manifest: a CSV file that lists images and their labels, as an ImageSet.

Format (UTF-8, a header row; other columns are ignored)::

    path,label[,id][,label_original]
    cat/0001.png,cat,c1
    /data/more/dog-7.jpg,dog,d7

- ``path``: an image file, relative to the CSV file's folder, or absolute. Every file must
  exist and be readable (all bad ones are listed together, by row, never skipped); a path
  that lies inside the CSV's folder but resolves outside it (a symlink out of the tree) is
  refused. Paths must be unique.
- ``label``: the class *name*. Classes are the sorted distinct names of ``label`` and, when
  present, ``label_original`` (so a relabel list written by ``robustloss apply-review``
  keeps every class of the original data, even one that relabelling emptied); the label of
  a class is its index in that order, as for an image folder's sorted subfolders.
- ``id`` (optional): the example's identifier, non-empty and unique when the column is
  there; it becomes :attr:`ImageSet.ids` and is carried into ``detections.csv`` (an ``id``
  column), the review page and its ``review.csv`` export (which ``robustloss apply-review``
  checks against the run).
- Rows are kept in file order: the i-th data row is example i (``source_index`` i).
- Colour and size follow :mod:`robustloss.data.user.folder` (most common size unless
  ``image_size``; RGB when any image is in colour).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from robustloss._io import read_csv
from robustloss.data.errors import DataError
from robustloss.data.user.folder import (
    UNREADABLE,
    ImageSet,
    check_image_size,
    problems_message,
    read_image,
    stack_images,
)

__all__ = ["MANIFEST_COLUMNS", "load_manifest", "read_manifest_rows", "resolve_manifest_path"]

#: Required columns of a manifest.
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "label")


def read_manifest_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The header and data rows of a manifest CSV (strings), checked for the required columns.

    Raises:
        DataError: unreadable, empty, or without ``path`` / ``label`` columns.
    """
    path = Path(path)
    header, rows = read_csv(path, required=MANIFEST_COLUMNS, what="a manifest", error=DataError)
    if not rows:
        raise DataError(f"{path}: the manifest lists no images")
    return header, rows


def resolve_manifest_path(csv_dir: Path, text: str) -> Path:
    """A manifest's ``path`` cell as a path: absolute as written, else under ``csv_dir``."""
    p = Path(text)
    return p if p.is_absolute() else csv_dir / p


def load_manifest(
    path: str | os.PathLike[str], *, image_size: int | tuple[int, int] | None = None
) -> ImageSet:
    """Read the images a manifest CSV lists (format: module docstring).

    Returns:
        An :class:`~robustloss.data.user.folder.ImageSet` with ``paths`` (each file as the
        manifest's folder joined with its ``path`` cell) and, with an ``id`` column,
        ``ids``, in the manifest's row order.

    Raises:
        DataError: a missing column, an empty path or label, duplicate paths, an empty or
            duplicate id (with an ``id`` column), fewer than 2 classes, missing or unreadable
            files, symlinks out of the manifest's folder (all of them listed, by row number;
            row 2 is the first data row, after the header).
        ValueError: a bad ``image_size``.
    """
    size = check_image_size(image_size)
    path = Path(path)
    header, rows = read_manifest_rows(path)
    csv_dir = path.parent
    real_dir = csv_dir.resolve()
    problems: list[str] = []
    files: list[Path] = []
    seen: Counter[str] = Counter()
    has_id = "id" in header
    ids = [(r.get("id") or "").strip() for r in rows] if has_id else None
    id_rows: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if ids is not None:
            key_id = ids[line - 2]
            if not key_id:
                problems.append(f"row {line}: empty id")
            elif key_id in id_rows:
                problems.append(f"row {line}: id {key_id!r} duplicated (first in row "
                                f"{id_rows[key_id]})")  # fmt: skip
            else:
                id_rows[key_id] = line
        text, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        if not text:
            problems.append(f"row {line}: empty path")
        if not label:
            problems.append(f"row {line}: empty label")
        file = resolve_manifest_path(csv_dir, text)
        files.append(file)
        if not text:
            continue
        key = os.path.normpath(os.path.abspath(file))
        seen[key] += 1
        if seen[key] == 2:
            problems.append(f"row {line}: {text}: listed more than once")
        inside = Path(os.path.abspath(file)).is_relative_to(Path(os.path.abspath(csv_dir)))
        if inside and not file.resolve().is_relative_to(real_dir):
            problems.append(
                f"row {line}: {text}: symlink to {file.resolve()}, outside {csv_dir}: refused"
            )
        elif not file.is_file():
            problems.append(f"row {line}: {text}: no such file")
    names = {(r.get("label") or "").strip() for r in rows}
    if "label_original" in header:
        names |= {(r.get("label_original") or "").strip() for r in rows}
    class_names = sorted(n for n in names if n)
    if len(class_names) < 2 and not problems:
        problems.append(f"found {len(class_names)} class ({class_names}), need at least 2")
    arrays: list[np.ndarray] = []
    if not problems:
        for line, file in enumerate(files, start=2):
            try:
                arrays.append(read_image(file))
            except UNREADABLE as exc:
                problems.append(
                    f"row {line}: {file}: unreadable image ({type(exc).__name__}: {exc})"
                )
    if problems:
        raise DataError(problems_message(path, problems))
    images = stack_images(arrays, size)
    index = {n: k for k, n in enumerate(class_names)}
    labels = np.array([index[r["label"].strip()] for r in rows], dtype=np.int64)
    return ImageSet(images, labels, class_names, [str(f) for f in files], ids)
