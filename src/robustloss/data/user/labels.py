"""Your labels: class indices or class names, from an ``.npy``, a text file or a CSV column.

N examples, K classes. A :class:`LabelSet` holds the N labels as class indices in [0, K)
and the K class names (class k is ``class_names[k]``).

- Labels ``L`` (:func:`load_labels`): an ``.npy`` of N integer class indices (or of N
  strings, class names: str, or bytes decoded as UTF-8); or a text / CSV file of class
  names, one per row. A ``.csv`` whose header has a ``label`` column (or the column named
  by ``column``) is read by that column; any other file is one name per line. Each label
  text is stripped of surrounding white space, then read by one rule: when every label is
  written in ASCII decimal digits only (``0``, ``7``, ``007``) the labels are class
  indices; when every label is an ASCII integer but some carry a sign (``-1``, ``+3``) the
  labels are refused (a negative index is no class; the error names the row and the
  text); otherwise every label is a class name, and the classes are the distinct names in
  sorted order (as an image folder's subfolders), so class k is the k-th name. Other
  digits are names: ``²`` or ``٣`` (``str.isdigit`` holds for both) is a class called
  that, never the index 2 or 3. A file or array with no labels at all (empty, blank lines
  only, a CSV header alone) is an error naming it and, with features or probabilities
  (``expected``), how many rows they have.
- Labels looked up in given class names (:func:`index_by_class_names`, for an ``.npz``
  holding ``class_names``): class k is ``class_names[k]``, the file's order, not sorted,
  and a label not among them is an error.
- Strings (:func:`label_texts`) may be bytes (dtype ``S``) in labels and class names
  alike: they are decoded as UTF-8, and bytes that are not UTF-8 are an error naming
  their rows.

Every problem raises :class:`~robustloss.data.errors.DataError` (a ``ValueError``) naming
the file, the row(s) (0-based array rows; 1-based line numbers for text files) and what was
expected; bad rows are listed (the first
:data:`~robustloss.data.errors.MAX_LISTED_ROWS`) with their count.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from robustloss.data.errors import MAX_LISTED_ROWS, DataError, listed_rows

__all__ = [
    "Expected",
    "LabelSet",
    "index_by_class_names",
    "label_texts",
    "labels_from_array",
    "load_labels",
]


@dataclasses.dataclass(frozen=True)
class LabelSet:
    """N labels as class indices, and the class names (class k is ``class_names[k]``)."""

    labels: np.ndarray  # (N,) int64 in [0, K)
    class_names: list[str]  # (K,)
    source: str


#: A signed ASCII integer (``-1``, ``+3``): in a column of indices, no class index.
_SIGNED_INTEGER = re.compile(r"[+-][0-9]+")


def _is_index_text(text: str) -> bool:
    """``text`` is a class index: ASCII decimal digits only. (``str.isdigit`` alone holds
    for ``²`` and ``٣`` too, and ``int`` then refuses the first and reads the second as 3.)"""
    return text.isascii() and text.isdigit()


#: What labels are for, as (source, N): the features' or probabilities' file and its rows.
Expected = tuple[str, int]


def _no_labels(source: str, why: str, expected: Expected | None) -> DataError:
    """The error for labels that hold none at all, with the number of rows they label."""
    message = f"{source}: holds no labels ({why})"
    if expected is not None:
        what, n = expected
        message += f"; {what} has {n} rows, so {n} labels were expected (one per row)"
    return DataError(message)


def _where(items: list[int], first_line: int | None) -> str:
    """Items (0-based) as 1-based text lines from ``first_line``, or as 0-based array rows."""
    if first_line is not None:
        return "lines " + ", ".join(str(i + first_line) for i in items[:MAX_LISTED_ROWS])
    return "rows " + listed_rows(np.asarray(items), len(items))


def label_texts(values: np.ndarray, source: str) -> list[str]:
    """A 1-D array of str (dtype ``U``) or bytes (dtype ``S``, decoded as UTF-8) as str.

    ``str(np.bytes_(b"cat"))`` is ``"b'cat'"``, not ``"cat"``: bytes are decoded, never
    formatted. Bytes that are not UTF-8 are a ``DataError`` listing their rows (0-based).
    """
    if values.ndim != 1:
        raise DataError(f"{source}: expected a 1-D array of strings, but got shape {values.shape}")
    items = values.tolist()
    if values.dtype.kind != "S":
        return [str(v) for v in items]
    out: list[str] = []
    bad: list[int] = []
    for i, v in enumerate(items):
        try:
            out.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(i)
    if bad:
        raise DataError(
            f"{source}: {len(bad)} value(s) are bytes that are not UTF-8 text: rows "
            f"{listed_rows(np.asarray(bad), len(bad))} (row {bad[0]} holds {items[bad[0]]!r}); "
            "save the names as str (dtype U) or as UTF-8 bytes"
        )
    return out


def _names_to_labels(names: list[str], source: str, *, first_line: int | None) -> LabelSet:
    """Label texts to indices by the module's rule (indices in ASCII digits, or names);
    empty labels and signed integers among integer labels are errors (rows listed)."""
    names = [s.strip() for s in names]
    empty = [i for i, s in enumerate(names) if not s]
    if empty:
        raise DataError(f"{source}: {len(empty)} empty label(s) at {_where(empty, first_line)}")
    distinct = sorted(set(names))
    signed = [i for i, s in enumerate(names) if _SIGNED_INTEGER.fullmatch(s)]
    if signed and all(_is_index_text(s) or _SIGNED_INTEGER.fullmatch(s) for s in distinct):
        first = signed[0]
        at = f"line {first + first_line}" if first_line is not None else f"row {first}"
        raise DataError(
            f"{source}: the labels are integers, so class indices, but {len(signed)} carry a "
            f"sign: {_where(signed, first_line)} ({at} holds {names[first]!r}); expected "
            "whole numbers >= 0 in ASCII digits (0, 1, 2, ...)"
        )
    if all(_is_index_text(s) for s in distinct):  # class indices written as text
        labels = np.array([int(s) for s in names], dtype=np.int64)
        return LabelSet(labels, [str(k) for k in range(int(labels.max()) + 1)], source)
    index = {name: k for k, name in enumerate(distinct)}
    return LabelSet(np.array([index[s] for s in names], dtype=np.int64), distinct, source)


def index_by_class_names(values: np.ndarray, class_names: list[str], source: str) -> np.ndarray:
    """(N,) string labels as their indices in ``class_names`` (the given order, not sorted).

    Each label is stripped of surrounding white space (bytes decoded as UTF-8) and must be
    exactly one of the ``class_names``; a label not among them is a ``DataError`` naming
    it, its row (0-based) and the class names; duplicate class names are one too.

    Returns:
        (N,) int64 in [0, K), K = ``len(class_names)``.
    """
    if values.ndim != 1:
        raise DataError(f"{source}: expected N labels of shape (N,), but got shape {values.shape}")
    names = list(class_names)
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(
            f"{source}: class_names must be distinct to look labels up in them, but "
            f"{duplicated} appear more than once"
        )
    index = {name: k for k, name in enumerate(names)}
    texts = [t.strip() for t in label_texts(values, source)]
    unknown = np.array([i for i, t in enumerate(texts) if t not in index], dtype=np.int64)
    if unknown.size:
        first = int(unknown[0])
        raise DataError(
            f"{source}: {unknown.size} label(s) not among the {len(names)} class_names "
            f"{names}: rows {listed_rows(unknown, unknown.size)} ({texts[first]!r} at row {first})"
        )
    return np.array([index[t] for t in texts], dtype=np.int64)


def labels_from_array(
    values: np.ndarray, source: str, expected: Expected | None = None
) -> LabelSet:
    """(N,) labels held in an array: integer (or whole-number float) class indices, or
    class names as str or UTF-8 bytes read by the module's rule; ``expected`` as for
    :func:`load_labels`."""
    if values.ndim != 1:
        raise DataError(f"{source}: expected N labels of shape (N,), but got shape {values.shape}")
    if values.size == 0:
        raise _no_labels(source, f"an empty array of shape {values.shape}", expected)
    if values.dtype.kind in "US":
        return _names_to_labels(label_texts(values, source), source, first_line=None)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        if np.issubdtype(values.dtype, np.floating) and values.size:
            whole = np.isfinite(values) & (values == np.round(values))
            if whole.all():
                values = values.astype(np.int64)
            else:
                rows = np.flatnonzero(~whole)
                raise DataError(
                    f"{source}: labels must be integer class indices, but {rows.size} are "
                    f"not whole numbers: rows {listed_rows(rows, rows.size)}"
                )
        else:
            raise DataError(
                f"{source}: labels must be integer class indices or class names, but got "
                f"dtype {values.dtype}"
            )
    labels = values.astype(np.int64)
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        raise DataError(
            f"{source}: labels must be >= 0, but {negative.size} are negative: rows "
            f"{listed_rows(negative, negative.size)}"
        )
    k = int(labels.max()) + 1 if labels.size else 0
    return LabelSet(labels, [str(j) for j in range(k)], source)


def _read_text_labels(path: Path, column: str | None, expected: Expected | None) -> LabelSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the labels ({type(exc).__name__}: {exc})") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        why = "the file is empty" if not text else "the file holds only blank lines"
        raise _no_labels(str(path), why, expected)
    is_csv = path.suffix.lower() in (".csv", ".tsv")
    if column is None and is_csv and lines:
        header = next(csv.reader([lines[0]], delimiter="\t" if path.suffix.lower() == ".tsv"
                                 else ","))  # fmt: skip
        if "label" in [h.strip() for h in header]:
            column = "label"
        elif len(header) > 1:
            raise DataError(
                f"{path}: a CSV of labels needs a 'label' column (or --labels-column NAME), "
                f"but its header is {header}"
            )
    if column is None:
        return _names_to_labels([s.strip() for s in lines], str(path), first_line=1)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if column not in header:
        raise DataError(f"{path}: no column {column!r} among the header's {header}")
    reader.fieldnames = header
    names = [(row.get(column) or "").strip() for row in reader]
    if not names:
        raise _no_labels(str(path), f"only the header row {header}", expected)
    return _names_to_labels(names, str(path), first_line=2)


def load_labels(
    path: str | os.PathLike[str], *, column: str | None = None, expected: Expected | None = None
) -> LabelSet:
    """N labels from an ``.npy`` (indices or names) or a text/CSV file (see the module).

    ``column``: the CSV column holding the labels (default ``label``). ``expected``: what
    the labels are for, as (file, N), named in the error when the labels hold none.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        if column is not None:
            raise DataError(f"{path}: a labels column ({column!r}) applies to CSV files only")
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read as an .npy file ({exc})") from exc
        return labels_from_array(values, str(path), expected)
    return _read_text_labels(path, column, expected)
