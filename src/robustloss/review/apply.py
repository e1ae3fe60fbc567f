"""Apply a person's review (``review.csv`` from the review page) to a run's labels.

``review.csv`` has one row per reviewed suspect; the columns read are ``index`` (as in the
run's ``detections.csv``), ``given`` (the given class name), ``decision`` (one of
:data:`~robustloss.review.decisions.DECISIONS`), ``label`` (the final class name, empty for
``unsure``), and, when present, ``run`` (the run's config hash), ``path`` and ``id``; other
columns are ignored. Every row is checked before anything is written, and every bad row is
reported together, by row number (row 2 is the first data row, after the header):

- ``index`` not an integer, or not an example of this run; the same index twice;
- ``run`` not this run's config hash (a csv from another run);
- ``given`` not the run's given class of that example (the csv belongs to other labels);
- ``decision`` not one of accept, keep, relabel, unsure;
- ``label`` not one of the run's class names; for ``accept`` not the suggested class, for
  ``keep`` not the given class, for ``unsure`` not empty;
- ``path`` / ``id`` not the run's for that example.

The corrected labels are written in the input's own form (the user's files are never moved
or changed; ``--out`` must not be the input itself):

==================  ==========================================================================
input               ``--out FILE``
==================  ==========================================================================
built-in dataset    ``.npy``: int64 (N,) labels of the run's training set, in ``index`` order,
                    or ``.npz``: the run's training images with those labels (``images``,
                    ``labels``, ``class_names``), which ``robustloss detect --data`` reads
``.npz``            ``.npz``: a copy of the input with ``labels`` corrected (other arrays as
                    they were), or ``.npy``: the input's corrected labels alone
manifest ``.csv``   ``.csv``: the manifest with ``label`` corrected and a ``label_original``
                    column (kept when already there); relative paths rewritten for FILE's folder
image folder        ``.csv``: a relabel list ``path,label,label_original``, one row per example
                    of the run, paths relative to FILE's folder: a manifest
                    (:mod:`robustloss.data.user.manifest`) that ``robustloss detect --data FILE``
                    reads
==================  ==========================================================================

Unsure rows, and examples not in the review, keep their given label. With ``--subset`` the
examples outside the run keep their labels in the ``.npz`` and manifest forms.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._io import atomic_open, read_csv, write_csv
from robustloss.data import load_dataset
from robustloss.data.user.folder import problems_message
from robustloss.data.user.manifest import read_manifest_rows, resolve_manifest_path
from robustloss.review.decisions import DECISIONS
from robustloss.run.reader import read_run

__all__ = [
    "AppliedReview",
    "ReviewError",
    "apply_review",
    "read_review",
]

_REQUIRED = ("index", "given", "decision", "label")


class ReviewError(ValueError):
    """A review.csv that cannot be applied; the message lists every bad row."""


@dataclasses.dataclass(frozen=True)
class _Run:
    """What applying a review needs of the run folder, as arrays by ``index``."""

    config_hash: str
    config: dict[str, Any]
    class_names: list[str]
    given: np.ndarray  # (N,) int64 given labels, by index
    suggested: np.ndarray  # (N,) int64
    source_index: np.ndarray  # (N,) int64
    paths: list[str] | None  # (N,) by index, as in detections.csv
    ids: list[str] | None


@dataclasses.dataclass(frozen=True)
class ReviewDecision:
    """One validated row of review.csv: ``label`` is the final class index (None: unsure)."""

    row: int
    index: int
    decision: str
    label: int | None


@dataclasses.dataclass(frozen=True)
class AppliedReview:
    """What :func:`apply_review` wrote.

    Attributes:
        out: the file written.
        form: "labels-npy", "dataset-npz", "npz", "manifest" or "relabel-csv".
        reviewed: rows in review.csv; ``decisions`` their count per decision.
        changed: examples whose label changed; ``changes`` their count per
            ``"given -> new"`` class-name pair, largest first.
        n: examples in the run.
    """

    out: str
    form: str
    reviewed: int
    decisions: dict[str, int]
    changed: int
    changes: dict[str, int]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read_run(run_dir: Path) -> _Run:
    run = read_run(run_dir)
    rows = run.detections.by_index()
    n = len(rows)
    if [d.index for d in rows] != list(range(n)):
        raise ValueError(f"{run_dir}/detections.csv: indices are not 0..{n - 1}")
    return _Run(
        config_hash=run.config_hash,
        config=dict(run.config),
        class_names=run.class_names,
        given=np.array([d.given_label for d in rows], dtype=np.int64),
        suggested=np.array([d.suggested_label for d in rows], dtype=np.int64),
        source_index=np.array([d.source_index for d in rows], dtype=np.int64),
        paths=[d.path for d in rows] if rows and run.detections.has_paths else None,
        ids=[d.id for d in rows] if rows and run.detections.has_ids else None,
    )


def _fail(what: str, problems: list[str]) -> ReviewError:
    return ReviewError(problems_message(what, problems, kind="bad row(s), nothing written"))


def read_review(review_csv: str | os.PathLike, run_dir: str | os.PathLike) -> list[ReviewDecision]:
    """Read and validate ``review_csv`` against the run folder ``run_dir`` (rules: module
    docstring).

    Returns:
        The decisions, in file order.

    Raises:
        ReviewError: a missing column or any bad row (all listed, by row number).
    """
    return _validate(Path(review_csv), _read_run(Path(run_dir)))


def _validate(review_csv: Path, run: _Run) -> list[ReviewDecision]:
    header, rows = read_csv(review_csv, required=_REQUIRED, what="a review.csv", error=ReviewError)
    names = run.class_names
    by_name = {c: k for k, c in enumerate(names)}
    n = len(run.given)
    problems: list[str] = []
    first_row: dict[int, int] = {}
    out: list[ReviewDecision] = []
    for row_no, row in enumerate(rows, start=2):
        bad: list[str] = []
        cell = {k: (row.get(k) or "").strip() for k in header if k is not None}
        if "run" in cell and cell["run"] != run.config_hash:
            bad.append(
                f"from another run (run {cell['run'][:12] or '(empty)'}..., this run is "
                f"{run.config_hash[:12]}...)"
            )
        try:
            index = int(cell["index"])
        except ValueError:
            problems.append(f"row {row_no}: index {cell['index']!r} is not an integer")
            continue
        if not 0 <= index < n:
            problems.append(f"row {row_no}: unknown index {index} (this run has 0..{n - 1})")
            continue
        if index in first_row:
            bad.append(f"index {index} duplicated (first in row {first_row[index]})")
        else:
            first_row[index] = row_no
        given, suggested = int(run.given[index]), int(run.suggested[index])
        if cell["given"] != names[given]:
            bad.append(
                f"given {cell['given']!r} but the run's given class of index {index} is "
                f"{names[given]!r}"
            )
        decision, label_text = cell["decision"], cell["label"]
        label: int | None = None
        if decision not in DECISIONS:
            bad.append(f"decision {decision!r} is not one of {list(DECISIONS)}")
        elif decision == "unsure":
            if label_text:
                bad.append(f"decision unsure needs an empty label, but got {label_text!r}")
        elif label_text not in by_name:
            bad.append(f"label {label_text!r} is not one of the run's classes {names}")
        else:
            label = by_name[label_text]
            if decision == "accept" and label != suggested:
                bad.append(
                    f"accept means the suggested class {names[suggested]!r}, but label is "
                    f"{label_text!r}"
                )
            if decision == "keep" and label != given:
                bad.append(
                    f"keep means the given class {names[given]!r}, but label is {label_text!r}"
                )
        for col, values in (("path", run.paths), ("id", run.ids)):
            if col in cell and cell[col] and values is not None and cell[col] != values[index]:
                bad.append(f"{col} {cell[col]!r} but the run's {col} of index {index} is "
                           f"{values[index]!r}")  # fmt: skip
        if bad:
            problems += [f"row {row_no}: {b}" for b in bad]
        else:
            out.append(ReviewDecision(row_no, index, decision, label))
    if problems:
        raise _fail(str(review_csv), problems)
    return out


def _form(cfg: dict[str, Any]) -> str:
    if cfg.get("dataset"):
        return "labels-npy"
    data = str(cfg["data"])
    if data.lower().endswith(".npz"):
        return "npz"
    if data.lower().endswith(".csv"):
        return "manifest"
    return "relabel-csv"


_SUFFIXES = {"labels-npy": (".npy", ".npz"), "npz": (".npz", ".npy"), "manifest": (".csv",),
             "relabel-csv": (".csv",)}  # fmt: skip


def apply_review(
    run_dir: str | os.PathLike,
    review_csv: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> AppliedReview:
    """Validate ``review_csv`` against the run, then write the corrected labels to ``out`` in
    the input's form (module docstring); atomically, and nothing at all if any row is bad.

    Raises:
        ReviewError: bad rows (all listed).
        ValueError: ``out`` has the wrong suffix for the input, is the input itself, exists
            (without ``overwrite``), or files of the run's input are missing.
    """
    run_path, out = Path(run_dir), Path(out)
    run = _read_run(run_path)
    form = _form(run.config)
    if out.suffix.lower() not in _SUFFIXES[form]:
        raise ValueError(
            f"Expected --out to end in {' or '.join(_SUFFIXES[form])} for this run's input "
            f"({run.config.get('dataset') or run.config.get('data')}), but got {out}"
        )
    if run.config.get("data") and os.path.abspath(out) == os.path.abspath(run.config["data"]):
        raise ValueError(f"--out {out} is the run's input itself: apply-review never changes it")
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise ValueError(f"{out.parent}: no such folder")
    decisions = _validate(Path(review_csv), run)

    new = run.given.copy()
    for d in decisions:
        if d.label is not None:
            new[d.index] = d.label
    if form == "labels-npy" and out.suffix.lower() == ".npz":
        form = "dataset-npz"
        _write_dataset_npz(out, run, new)
    elif form == "labels-npy":
        _save_npy(out, new)
    elif form == "npz":
        _write_npz(out, run, new)
    elif form == "manifest":
        _write_manifest(out, run, new)
    else:
        _write_relabel_list(out, run, new)

    names = run.class_names
    changed = np.flatnonzero(new != run.given)
    pairs = Counter(f"{names[run.given[i]]} -> {names[new[i]]}" for i in changed.tolist())
    return AppliedReview(
        out=str(out),
        form=form,
        reviewed=len(decisions),
        decisions={k: sum(d.decision == k for d in decisions) for k in DECISIONS},
        changed=int(changed.size),
        changes=dict(pairs.most_common()),
        n=int(run.given.size),
    )


def _save_npy(out: Path, labels: np.ndarray) -> None:
    with atomic_open(out, "wb") as fh:
        np.save(fh, np.asarray(labels, dtype=np.int64))


def _savez(out: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with atomic_open(out, "wb") as fh:
        fh.write(buf.getvalue())


def _write_dataset_npz(out: Path, run: _Run, new: np.ndarray) -> None:
    images, _ = load_dataset(run.config["dataset"], "train")
    _savez(out, {"images": np.asarray(images)[run.source_index], "labels": new,
                 "class_names": np.array(run.class_names)})  # fmt: skip


def _write_npz(out: Path, run: _Run, new: np.ndarray) -> None:
    source = Path(run.config["data"])
    if not source.is_file():
        raise ValueError(f"{source}: the run's input .npz is missing (needed to write {out})")
    with np.load(source, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    labels = np.asarray(arrays["labels"]).astype(np.int64)
    labels[run.source_index] = new
    if out.suffix.lower() == ".npy":
        _save_npy(out, labels)
        return
    arrays["labels"] = labels
    _savez(out, arrays)


def _relative_to(out_dir: Path, file: Path) -> str:
    """``file`` as a path relative to ``out_dir`` (POSIX separators)."""
    return Path(os.path.relpath(os.path.abspath(file), os.path.abspath(out_dir))).as_posix()


def _write_manifest(out: Path, run: _Run, new: np.ndarray) -> None:
    source = Path(run.config["data"])
    header, rows = read_manifest_rows(source)
    names = run.class_names
    columns = header + (["label_original"] if "label_original" not in header else [])
    for row in rows:
        row.setdefault("label_original", row["label"])
        if not row.get("label_original"):
            row["label_original"] = row["label"]
        text = row["path"].strip()
        if not Path(text).is_absolute():
            row["path"] = _relative_to(out.parent, resolve_manifest_path(source.parent, text))
    for i, src in enumerate(run.source_index.tolist()):
        rows[src]["label"] = names[new[i]]
    write_csv(out, rows, columns)


def _write_relabel_list(out: Path, run: _Run, new: np.ndarray) -> None:
    if run.paths is None:
        raise ValueError("detections.csv has no path column: cannot write a relabel list")
    files = [Path(p) for p in run.paths]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise ValueError(
            f"{len(missing)} image file(s) of the run not found from {Path.cwd()}: {shown} "
            "(run apply-review from the folder that `detect` ran in)"
        )
    names = run.class_names
    rows = [
        {
            "path": _relative_to(out.parent, f),
            "label": names[new[i]],
            "label_original": names[run.given[i]],
        }
        for i, f in enumerate(files)
    ]
    write_csv(out, rows, ["path", "label", "label_original"])
