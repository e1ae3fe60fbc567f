"""The one reader of a run folder: each file it reads back as a typed record.

:func:`read_run` reads a whole folder (written by :mod:`robustloss.run.rundir`) into a
:class:`RunFolder`; the per-file readers below it are for callers that need one file
(checking where a run may go needs only ``config.json``). Every version of the folder
opens, from the first (robustloss 86dd3e0: no ``fold`` column, no review sheets, a
summary without the fields added since, :data:`~robustloss.run.records.SUMMARY_ADDED`).

==================  ==========================================================  ===========
file                record                                                      when
==================  ==========================================================  ===========
config.json         :class:`RunMeta`                                            always
summary.json        :class:`~robustloss.run.records.RunSummary`                 always
detections.csv      :class:`Detections` of :class:`Detection` rows               always
corruption.json     :class:`~robustloss.run.records.Corruption`                 ``run`` only
auto.csv            :class:`~robustloss.run.auto_choice.AutoChoice`             loss="auto"
suspect_images.npz  :class:`SuspectImages` (:func:`read_suspect_images`)        with images
==================  ==========================================================  ===========

A file that is missing, is not what it should be, or disagrees with another raises
:class:`RunFolderError` (a ``ValueError``) naming the file and what was expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._io import read_csv
from robustloss.run.auto_choice import AUTO_TABLE, AutoChoice, auto_choice
from robustloss.run.records import Corruption, RunSummary

__all__ = [
    "Detection",
    "Detections",
    "RunFolder",
    "RunFolderError",
    "RunMeta",
    "SuspectImages",
    "read_auto",
    "read_corruption",
    "read_detections",
    "read_meta",
    "read_run",
    "read_summary",
    "read_suspect_images",
]

CONFIG, SUMMARY, DETECTIONS = "config.json", "summary.json", "detections.csv"
CORRUPTION, SUSPECT_IMAGES = "corruption.json", "suspect_images.npz"
#: Columns every version of detections.csv has (the truth's, ``fold``, ``path`` and ``id``
#: only where they apply).
DETECTION_REQUIRED: tuple[str, ...] = (
    "rank", "index", "source_index", "given_label", "given_class", "suggested_label",
    "suggested_class", "p_given", "p_suggested", "rank_score", "flagged",
)  # fmt: skip


class RunFolderError(ValueError):
    """A run folder's file that is missing or malformed; the message names the file."""


@dataclass(frozen=True, kw_only=True)
class RunMeta:
    """``config.json``: how the run was made.

    Attributes:
        command: "run" or "detect".
        config: the resolved run config (:meth:`RunConfig.resolved
            <robustloss.run.config.RunConfig.resolved>`), as written.
        config_hash: its hash (the run's identity).
        config_used: loss="auto": the config trained with, the search's choice filled in.
        auto: loss="auto": the search's record (read typed as :class:`RunFolder.auto`).
        environment: versions and hardware the first model trained on ({} in fakes).
        other: every other key as written (``train_config``, ``detect``, ``seeds``,
            ``source``, ``argv``, ...).
    """

    command: str
    config: dict[str, Any]
    config_hash: str
    config_used: dict[str, Any] | None = None
    auto: dict[str, Any] | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """One row of detections.csv (columns: :data:`robustloss.run.rundir.DETECTION_COLUMNS`).

    ``rank`` 1 is the most suspect; ``index`` is the row in the run's training set,
    ``source_index`` the row in the source data. ``corrupted``, ``true_label`` and
    ``true_class`` are None unless the truth is known (``run``), ``fold`` None without
    folds, ``path`` / ``id`` None unless the input had them. A probability or score the file
    leaves empty (NaN when written) reads as NaN.
    """

    rank: int
    index: int
    source_index: int
    given_label: int
    given_class: str
    suggested_label: int
    suggested_class: str
    p_given: float
    p_suggested: float
    rank_score: float
    flagged: bool
    corrupted: bool | None = None
    true_label: int | None = None
    true_class: str | None = None
    fold: int | None = None
    path: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Detections:
    """detections.csv read back: N :class:`Detection` rows, most suspect first, and the
    columns the file has. Indexing and iterating go over the rows."""

    rows: tuple[Detection, ...]
    columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Detection]:
        return iter(self.rows)

    def __getitem__(self, key):  # an int: one Detection; a slice: a tuple of them
        return self.rows[key]

    @property
    def known(self) -> bool:
        """True when the truth is known (a ``run``: the ``corrupted`` column exists)."""
        return "corrupted" in self.columns

    @property
    def has_paths(self) -> bool:  # image folders and manifests
        return "path" in self.columns

    @property
    def has_ids(self) -> bool:  # manifests with an ``id`` column
        return "id" in self.columns

    def flagged(self) -> tuple[Detection, ...]:
        """The flagged rows, most suspect first."""
        return tuple(d for d in self.rows if d.flagged)

    def by_index(self) -> tuple[Detection, ...]:
        """Every row in ``index`` order."""
        return tuple(sorted(self.rows, key=lambda d: d.index))

    def given_labels(self) -> np.ndarray:
        """(N,) int64 given labels in ``index`` order (row i: ``index`` i).

        Raises:
            ValueError: the indices are not 0..N-1, each once.
        """
        rows = self.by_index()
        if [d.index for d in rows] != list(range(len(rows))):
            raise ValueError(f"the indices are not 0..{len(rows) - 1}, each once")
        return np.array([d.given_label for d in rows], dtype=np.int64)


@dataclass(frozen=True)
class SuspectImages:
    """``suspect_images.npz``: the top flagged examples' images (what the gallery draws).

    Attributes:
        indices: (M,) int64 ``index`` of the first M flagged examples.
        images: (M, H, W[, 3]) uint8.
        unexpected_indices, unexpected_images: the same for the flagged examples that were
            not corrupted on purpose (``run`` only; empty in folders written before them).
    """

    indices: np.ndarray
    images: np.ndarray
    unexpected_indices: np.ndarray
    unexpected_images: np.ndarray


@dataclass(frozen=True, kw_only=True)
class RunFolder:
    """A run folder read back (:func:`read_run`)."""

    path: Path
    meta: RunMeta  # config.json
    summary: RunSummary  # summary.json
    detections: Detections  # detections.csv
    corruption: Corruption | None  # corruption.json: run only
    auto: AutoChoice | None  # auto.csv with config.json's auto: loss="auto" only

    @property
    def config(self) -> dict[str, Any]:
        """The resolved run config (config.json's ``config``)."""
        return self.meta.config

    @property
    def config_hash(self) -> str:
        return self.meta.config_hash

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in self.summary.class_names]


# ----- the files ---------------------------------------------------------------------------


def _file(run_dir: str | os.PathLike, name: str, what: str) -> Path:
    path = Path(run_dir) / name
    if not path.is_file():
        raise RunFolderError(f"{path}: missing; a run folder holds {name} ({what})")
    return path


def _json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(
            f"{path}: expected {what} as JSON, but cannot read it ({exc})"
        ) from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected {what} (a JSON object), but got "
                             f"{type(data).__name__}")  # fmt: skip
    return data


def read_meta(run_dir: str | os.PathLike) -> RunMeta:
    """``config.json`` of a run folder.

    Raises:
        RunFolderError: missing, not JSON, or without ``command``, ``config`` (an object) and
            ``config_hash``.
    """
    what = "the run's config: command, config, config_hash"
    path = _file(run_dir, CONFIG, what)
    data = _json_object(path, what)
    missing = [k for k in ("command", "config", "config_hash") if k not in data]
    if missing or not isinstance(data["config"], dict):
        raise RunFolderError(
            f"{path}: expected {what}, but {', '.join(missing) or 'config'} "
            f"{'missing' if missing else 'is not an object'}"
        )
    known = ("command", "config", "config_hash", "config_used", "auto", "environment")
    return RunMeta(
        command=str(data["command"]),
        config=dict(data["config"]),
        config_hash=str(data["config_hash"]),
        config_used=data.get("config_used"),
        auto=data["auto"] if isinstance(data.get("auto"), dict) else None,
        environment=dict(data.get("environment") or {}),
        other={k: v for k, v in data.items() if k not in known},
    )


def read_summary(run_dir: str | os.PathLike) -> RunSummary:
    """``summary.json`` of a run folder, any version (:meth:`RunSummary.from_dict`).

    Raises:
        RunFolderError: missing, not JSON, or not a run summary (unknown or missing keys).
    """
    what = "the run's summary (RunSummary)"
    path = _file(run_dir, SUMMARY, what)
    try:
        return RunSummary.from_dict(_json_object(path, what))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RunFolderError):
            raise
        raise RunFolderError(f"{path}: expected {what}, but {exc}") from None


_int = int


def _float(text: str) -> float:
    return float(text) if text != "" else float("nan")


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, but got {text!r}")
    return text == "1"


def _detection(row: dict[str, str], *, truth: bool, fold: bool, paths: bool,
               ids: bool) -> Detection:  # fmt: skip
    return Detection(
        rank=_int(row["rank"]),
        index=_int(row["index"]),
        source_index=_int(row["source_index"]),
        given_label=_int(row["given_label"]),
        given_class=row["given_class"],
        suggested_label=_int(row["suggested_label"]),
        suggested_class=row["suggested_class"],
        p_given=_float(row["p_given"]),
        p_suggested=_float(row["p_suggested"]),
        rank_score=_float(row["rank_score"]),
        flagged=_flag(row["flagged"]),
        corrupted=_flag(row["corrupted"]) if truth else None,
        true_label=_int(row["true_label"]) if truth else None,
        true_class=row["true_class"] if truth else None,
        fold=_int(row["fold"]) if fold else None,
        path=row["path"] if paths else None,
        id=row["id"] if ids else None,
    )


def _bad_cell(row: dict[str, str], header: list[str]) -> str:
    """Which cell of a row that did not parse, and why (for the error message)."""
    parsers = {**dict.fromkeys(("rank", "index", "source_index", "given_label",
                                "suggested_label", "true_label", "fold"), (_int, "an integer")),
               **dict.fromkeys(("p_given", "p_suggested", "rank_score"), (_float, "a number")),
               **dict.fromkeys(("flagged", "corrupted"), (_flag, "0 or 1"))}  # fmt: skip
    for column in header:
        parse, kind = parsers.get(column, (str, ""))
        text = row.get(column) or ""
        try:
            parse(text)
        except ValueError:
            return f"column `{column}`: expected {kind}, but got {text!r}"
    return "a field is missing"


def read_detections(run_dir: str | os.PathLike) -> Detections:
    """``detections.csv`` of a run folder: one :class:`Detection` per example, most suspect
    first.

    Raises:
        RunFolderError: missing, without the columns of :data:`DETECTION_REQUIRED`, or a
            row whose numbers do not parse (named by line and column).
    """
    what = "one row per example, most suspect first"
    path = _file(run_dir, DETECTIONS, what)
    header, rows = read_csv(path, required=DETECTION_REQUIRED, what=f"detections.csv ({what})",
                            error=RunFolderError)  # fmt: skip
    truth = "corrupted" in header
    fold, paths, ids = "fold" in header, "path" in header, "id" in header
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            out.append(_detection(row, truth=truth, fold=fold, paths=paths, ids=ids))
        except (ValueError, TypeError, KeyError):
            raise RunFolderError(
                f"{path} line {line}: {_bad_cell(row, header)}"
            ) from None
    return Detections(rows=tuple(out), columns=tuple(header))


def read_corruption(run_dir: str | os.PathLike, detections: Detections) -> Corruption | None:
    """``corruption.json`` of a ``run`` (None for a ``detect``, which has none), with the
    labels the run trained on taken from ``detections`` (:meth:`Corruption.from_dict`).

    Raises:
        RunFolderError: not JSON, not a corruption record, or not matching detections.csv.
    """
    path = Path(run_dir) / CORRUPTION
    if not path.is_file():
        return None
    what = "the labels the run corrupted (seed, kind, rate, indices, their labels)"
    data = _json_object(path, what)
    try:
        return Corruption.from_dict(data, noisy_labels=detections.given_labels())
    except (TypeError, ValueError) as exc:
        raise RunFolderError(
            f"{path}: expected {what} matching {DETECTIONS}, but {exc}"
        ) from None


def read_auto(run_dir: str | os.PathLike, *, record: dict[str, Any] | None = None
              ) -> AutoChoice | None:  # fmt: skip
    """A run folder's label-free search: ``auto.csv`` and ``record``, by default
    ``config.json``'s ``auto`` (with the plan), else ``summary.json``'s.

    Returns:
        None when the folder has no ``auto.csv`` (the settings were given).

    Raises:
        ValueError: a malformed ``auto.csv`` (:func:`~robustloss.run.auto_choice.auto_choice`).
    """
    folder = Path(run_dir)
    table = folder / AUTO_TABLE
    if not table.is_file():
        return None
    if record is None and (folder / CONFIG).is_file():
        record = read_meta(folder).auto
    if record is None and (folder / SUMMARY).is_file():
        record = read_summary(folder).auto
    return auto_choice(table, record)


def read_suspect_images(run_dir: str | os.PathLike) -> SuspectImages | None:
    """``suspect_images.npz`` of a run folder; None for a run without images (on embeddings
    or given probabilities), which has none.

    Raises:
        RunFolderError: not an .npz with ``indices`` and ``images``.
    """
    path = Path(run_dir) / SUSPECT_IMAGES
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            indices, images = npz["indices"], npz["images"]
            if "unexpected_indices" in npz.files:
                unexpected, unexpected_images = npz["unexpected_indices"], npz["unexpected_images"]
            else:  # run folders written before the second gallery existed
                unexpected, unexpected_images = indices[:0], images[:0]
    except (OSError, ValueError, KeyError) as exc:
        raise RunFolderError(
            f"{path}: expected the top suspects' images (indices, images), but {exc}"
        ) from None
    return SuspectImages(indices, images, unexpected, unexpected_images)


def read_run(run_dir: str | os.PathLike) -> RunFolder:
    """Read a run folder: config, summary, detections, the corruption (``run``) and the
    settings search (``loss="auto"``).

    Raises:
        RunFolderError: not a folder, or any of its files missing or malformed (the message
            names the file and what was expected).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: expected a run folder, but it is not a folder")
    meta = read_meta(folder)
    summary = read_summary(folder)
    detections = read_detections(folder)
    return RunFolder(
        path=folder,
        meta=meta,
        summary=summary,
        detections=detections,
        corruption=read_corruption(folder, detections),
        auto=read_auto(folder, record=meta.auto if meta.auto is not None else summary.auto),
    )
