"""A run folder on disk: checking where it goes, staging it, writing its tables and files
(read back by :mod:`robustloss.run.reader`).

A run folder (``out_dir``) holds::

    config.json           resolved config, its hash, training config, seeds, versions
    summary.json          the run's :class:`~robustloss.run.records.RunSummary`
    history.csv / .json   per model (fold) and epoch: loss, accuracies, seconds
    corruption.json       run only: seed, kind, rate, corrupted indices, their true labels
    pred_probs.npy        (N, K) float64 predicted probabilities
    detections.csv        one row per example, most suspect first (see DETECTION_COLUMNS)
    suspect_images.npz    the top suspects' images (what the gallery draws)
    auto.csv              loss="auto" only: every candidate's criterion values and curve,
                          which one was chosen (robustloss.search)
    review.html, review/  written by ``finalize``, as are suspects.png and report.html (the
                          CLI passes the review page's and the report's writers)

It is written into a hidden temporary folder beside ``out_dir`` (:func:`staging`) and
renamed into place only when complete, so a crash never leaves a half-written run folder. A
folder that holds a different run (another config hash) is refused unless ``overwrite=True``
(:func:`check_out_dir`); a folder that is not a run folder is never replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._io import json_text, write_csv
from robustloss.run.reader import RunFolderError, read_meta

__all__ = [
    "DETECTION_COLUMNS",
    "GALLERY_SIZE",
    "DetectionTable",
    "check_out_dir",
    "detection_table",
    "staging",
    "write_auto_table",
    "write_detections",
    "write_history",
    "write_json",
    "write_suspect_images",
]

#: Columns of detections.csv, in order. ``rank`` is 1 for the most suspect example;
#: ``index`` is the row in this run's training set, ``source_index`` the row in the source
#: data (they differ with --subset). ``corrupted``/``true_label``/``true_class`` exist only
#: when the truth is known (run), ``path`` only for image folders.
DETECTION_COLUMNS: tuple[str, ...] = (
    "rank",
    "index",
    "source_index",
    "given_label",
    "given_class",
    "suggested_label",
    "suggested_class",
    "p_given",
    "p_suggested",
    "rank_score",
    "flagged",
    "corrupted",
    "true_label",
    "true_class",
    "fold",
    "path",
    "id",
)

#: How many top suspects' images the run folder keeps for the gallery.
GALLERY_SIZE = 48


# ----- where the folder goes ---------------------------------------------------------------


def _existing_run(out: Path) -> tuple[str | None, str | None, bool]:
    """(command, config hash, finished) of a run folder; (None, None, False) if not one."""
    try:
        meta = read_meta(out)
    except RunFolderError:
        return None, None, False
    return meta.command, meta.config_hash, (out / "summary.json").is_file()


def check_out_dir(out: Path, command: str, chash: str, overwrite: bool) -> None:
    """Raise ``ValueError`` unless ``out`` may receive this run (``command``, hash ``chash``)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"output folder {out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    old_command, old_hash, finished = _existing_run(out)
    if old_hash is None:
        raise ValueError(
            f"output folder {out} is not empty and is not a robustloss run folder; "
            "refusing to replace it (even with --overwrite): choose another --out"
        )
    if overwrite:
        return
    if old_hash == chash and old_command == command and finished:
        raise ValueError(
            f"output folder {out} already holds this finished {command} (config hash "
            f"{chash[:12]}); its results are in {out / 'summary.json'}. "
            "Pass --overwrite to run it again"
        )
    raise ValueError(
        f"output folder {out} holds a different run ({old_command or 'unknown'}, config hash "
        f"{(old_hash or '?')[:12]}; this {command} is {chash[:12]}); choose another --out or "
        "pass --overwrite to replace it"
    )


@contextlib.contextmanager
def staging(out: Path | None, command: str, chash: str, overwrite: bool) -> Iterator[Path | None]:
    """Yield a temporary folder beside ``out``; on success move it into place atomically.

    With ``out=None`` yields None and writes nothing.
    """
    if out is None:
        yield None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        check_out_dir(out, command, chash, overwrite)  # again: something may have appeared
        if out.exists():
            trash = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ----- the detections table ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DetectionTable:
    """The rows of detections.csv, most suspect first, and the columns this run has.

    ``rows`` is a sequence made one row at a time (``rows[:10]``, ``rows[0]``, iteration),
    so a table of millions of examples is never held as millions of dicts: writing it
    streams rows to the file.
    """

    order: np.ndarray  # (N,) int64 example index of each rank, most suspect first
    columns: tuple[str, ...]
    make_row: Callable[[int, int], dict[str, Any]]  # (rank, index) -> the row

    @property
    def rows(self) -> _Rows:
        return _Rows(self)


class _Rows(Sequence):
    """The rows of a :class:`DetectionTable`, built on access."""

    def __init__(self, table: DetectionTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return int(self._table.order.shape[0])

    def __getitem__(self, key):
        order, make = self._table.order, self._table.make_row
        if isinstance(key, slice):
            ranks = range(len(self))[key]
            return [make(r + 1, int(order[r])) for r in ranks]
        r = range(len(self))[key]
        return make(r + 1, int(order[r]))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        make = self._table.make_row
        for rank, i in enumerate(self._table.order.tolist(), start=1):
            yield make(rank, i)


def _order(n: int, flagged: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row order, flagged mask): the flagged in their ranked order, then the others by
    ascending rank score (ties by index)."""
    is_flagged = np.zeros(n, dtype=bool)
    is_flagged[flagged] = True
    rest = np.flatnonzero(~is_flagged)
    rest = rest[np.argsort(scores[rest], kind="stable")]
    return np.concatenate([flagged, rest]).astype(np.int64), is_flagged


def _columns(*, known: bool, paths: bool, ids: bool, folds: bool) -> tuple[str, ...]:
    dropped = set()
    if not known:
        dropped |= {"corrupted", "true_label", "true_class"}
    if not paths:
        dropped.add("path")
    if not ids:
        dropped.add("id")
    if not folds:
        dropped.add("fold")
    return tuple(c for c in DETECTION_COLUMNS if c not in dropped)


def detection_table(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    flagged: np.ndarray,
    scores: np.ndarray,
    *,
    class_names: list[str],
    source_index: np.ndarray,
    fold_of: np.ndarray,
    corrupted: np.ndarray | None,
    true_labels: np.ndarray | None,
    paths: list[str] | None,
    ids: list[str] | None = None,
) -> DetectionTable:
    """detections.csv of N examples: ``labels`` (N,) as given, ``pred_probs`` (N, K),
    ``flagged`` (M,) indices most suspect first, ``scores`` (N,) rank scores, ``fold_of``
    (N,) (-1 everywhere: no fold column); ``corrupted``/``true_labels`` (N,) when known,
    ``paths`` (one per source row) for image folders and manifests, ``ids`` (one per source
    row) for manifests with an ``id`` column."""
    n = labels.shape[0]
    order, is_flagged = _order(n, flagged, scores)
    suggested = pred_probs.argmax(axis=1)
    rows = np.arange(n)
    p_given = pred_probs[rows, labels]
    p_suggested = pred_probs[rows, suggested]

    def name(k: int) -> str:
        return class_names[k] if 0 <= k < len(class_names) else str(k)

    def make_row(rank: int, i: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "rank": rank,
            "index": i,
            "source_index": int(source_index[i]),
            "given_label": int(labels[i]),
            "given_class": name(int(labels[i])),
            "suggested_label": int(suggested[i]),
            "suggested_class": name(int(suggested[i])),
            "p_given": float(p_given[i]),
            "p_suggested": float(p_suggested[i]),
            "rank_score": float(scores[i]),
            "flagged": int(is_flagged[i]),
            "fold": int(fold_of[i]),
        }
        if corrupted is not None:
            row["corrupted"] = int(corrupted[i])
            row["true_label"] = int(true_labels[i])
            row["true_class"] = name(int(true_labels[i]))
        if paths is not None:
            row["path"] = paths[int(source_index[i])]
        if ids is not None:
            row["id"] = ids[int(source_index[i])]
        return row

    columns = _columns(
        known=corrupted is not None,
        paths=paths is not None,
        ids=ids is not None,
        folds=bool((fold_of >= 0).any()),
    )
    return DetectionTable(order, columns, make_row)


# ----- writers -----------------------------------------------------------------------------


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented strict JSON (NaN as null) and a final newline."""
    path.write_text(json_text(obj, indent=2) + "\n", encoding="utf-8")


def write_history(folder: Path, history: list[dict[str, Any]]) -> None:
    """history.json and history.csv (columns: every key, in order of first appearance)."""
    write_json(folder / "history.json", history)
    write_csv(
        folder / "history.csv", history, list(dict.fromkeys(k for row in history for k in row))
    )


def write_auto_table(folder: Path, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """``auto.csv``: one row per candidate of a label-free settings search."""
    write_csv(folder / "auto.csv", rows, columns)


def write_detections(folder: Path, table: DetectionTable) -> None:
    write_csv(folder / "detections.csv", table.rows, table.columns)


def write_suspect_images(
    folder: Path, images: np.ndarray, flagged: np.ndarray, corrupted: np.ndarray | None
) -> None:
    """suspect_images.npz: the first :data:`GALLERY_SIZE` flagged examples' images and,
    when the corruption is known, those of the flagged examples that were not corrupted."""
    top = flagged[:GALLERY_SIZE]
    # With a known corruption, the flagged examples we did NOT corrupt are the most
    # interesting ones: errors in the original labels, or truly ambiguous images.
    unexpected = (
        flagged[~corrupted[flagged]][:GALLERY_SIZE] if corrupted is not None else flagged[:0]
    )
    np.savez_compressed(
        folder / "suspect_images.npz",
        indices=top,
        images=np.asarray(images[top], dtype=np.uint8),
        unexpected_indices=unexpected,
        unexpected_images=np.asarray(images[unexpected], dtype=np.uint8),
    )
