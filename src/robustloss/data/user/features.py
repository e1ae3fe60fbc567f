"""Your data as embeddings or predicted probabilities: loading and checking, in bounded memory.

N examples, D embedding dimensions, K classes.

- Features ``F``: an ``.npy`` file of shape (N, D), float16, float32 or float64, C order
  (what ``np.save`` writes). It is *never loaded whole*: :class:`FeatureMatrix` reads
  contiguous row blocks straight from the file (positioned reads after the ``.npy`` header),
  so five million 512-dim float16 embeddings (5 GB) need a few tens of MB of memory. Why not
  ``np.load(mmap_mode="r")``: every page a memory map has touched counts as resident memory
  until the kernel reclaims it, so one pass over a memory-mapped 5 GB file shows as 5 GB of
  RSS; positioned reads into a reused block do not. Or an ``.npz`` holding ``features``
  (and optionally ``labels`` and ``class_names``): loaded into memory (a zip cannot be read
  in place), for data that fits. With ``class_names``, integer ``labels`` index them and
  string ``labels`` are looked up in them (:func:`index_by_class_names`: class k is
  ``class_names[k]``, the file's order, and a label not among them is an error). Strings
  may be bytes (dtype ``S``) in labels and class_names alike: they are decoded as UTF-8 (as
  the image reader's ``class_names`` are), and bytes that are not UTF-8 are an error naming
  their rows.
- Labels ``L``: an ``.npy`` of N integer class indices (or of N strings, class names: str,
  or bytes decoded as UTF-8); or a text / CSV file of class names, one per row. A ``.csv``
  whose header has a ``label`` column (or the column named by ``column``) is read by that
  column; any other file is one name per line. Each label text is stripped of surrounding
  white space, then read by one rule: when every label is written in ASCII decimal digits
  only (``0``, ``7``, ``007``) the labels are class indices; when every label is an ASCII
  integer but some carry a sign (``-1``, ``+3``) the labels are refused (a negative index
  is no class; the error names the row and the text); otherwise every label is a class
  name, and the classes are the distinct names in sorted order (as an image folder's
  subfolders), so class k is the k-th name. Other digits are names: ``²`` or ``٣``
  (``str.isdigit`` holds for both) is a class called that, never the index 2 or 3. A file
  or array with no labels at all (empty, blank lines only, a CSV header alone) is an error
  naming it and, with features or probabilities, how many rows they have.
- Predicted probabilities ``P``: an ``.npy`` of shape (N, K), or an ``.npz`` holding
  ``pred_probs`` and optionally ``class_names`` (the name of each column). Rows must be
  finite, non-negative and sum to 1 within :data:`ROW_SUM_TOLERANCE`; they are then
  renormalised exactly. Integer labels are column indices; names are looked up in
  ``class_names`` (or, without them, must be exactly K distinct names, in sorted order).

Every problem raises :class:`~robustloss.data.builtin.idx.DataError` (a ``ValueError``) naming the
file, the row(s) (0-based array rows; 1-based line numbers for text files) and what was
expected; bad rows are listed (the first :data:`MAX_LISTED_ROWS`) with their count.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robustloss.data.builtin.idx import DataError

__all__ = [
    "BLOCK_BYTES",
    "FEATURE_DTYPES",
    "MAX_LISTED_ROWS",
    "ROW_SUM_TOLERANCE",
    "FeatureMatrix",
    "FeatureSet",
    "LabelSet",
    "ProbabilitySet",
    "check_finite",
    "index_by_class_names",
    "load_features",
    "load_labels",
    "load_pred_probs",
    "open_features",
]

#: Feature dtypes accepted (computations run in float32).
FEATURE_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")

#: How many bad rows an error message lists.
MAX_LISTED_ROWS = 10

#: How far a row of P may sum from 1 (probabilities saved as float16/float32 drift).
ROW_SUM_TOLERANCE = 1e-3

#: Default size of one block read from a feature file (rows = BLOCK_BYTES // row bytes).
BLOCK_BYTES = 16 << 20


# ----- the feature matrix ----------------------------------------------------------------------


class FeatureMatrix:
    """An (N, D) float matrix read in row blocks, from an ``.npy`` file or an array in memory.

    Use :func:`open_features` (a file, checked) or :meth:`from_array`. ``read(start, stop)``
    returns rows ``start:stop`` as a new array of the stored dtype; ``blocks()`` iterates
    over the whole matrix in blocks; ``take(rows)`` the given (sorted) rows.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int],
        dtype: np.dtype,
        path: Path | None = None,
        offset: int = 0,
        array: np.ndarray | None = None,
    ) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.path = path
        self.offset = int(offset)
        self._array = array

    @classmethod
    def from_array(cls, array: np.ndarray) -> FeatureMatrix:
        """A matrix over an (N, D) array in memory (or any array-like that slices by rows,
        an ``np.memmap`` included: only the blocks read are touched)."""
        if array.ndim != 2:
            raise DataError(f"Expected features of shape (N, D), but got shape {array.shape}")
        return cls(shape=array.shape, dtype=array.dtype, array=array)

    @property
    def n(self) -> int:
        return self.shape[0]

    @property
    def dim(self) -> int:
        return self.shape[1]

    @property
    def source(self) -> str:
        return "array" if self.path is None else str(self.path)

    def block_rows(self, block_bytes: int = BLOCK_BYTES) -> int:
        """Rows per block of about ``block_bytes`` bytes (at least 1)."""
        return max(1, block_bytes // max(1, self.dim * self.dtype.itemsize))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (clipped to [0, N]), shape (stop - start, D), stored dtype."""
        start, stop = max(0, int(start)), min(self.n, int(stop))
        if stop <= start:
            return np.empty((0, self.dim), dtype=self.dtype)
        if self._array is not None:
            return np.array(self._array[start:stop], dtype=self.dtype, copy=True)
        out = np.empty((stop - start, self.dim), dtype=self.dtype)
        row_bytes = self.dim * self.dtype.itemsize
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.offset + start * row_bytes)
            view = memoryview(out.reshape(-1).view(np.uint8))
            got = 0
            while got < view.nbytes:
                k = f.readinto(view[got:])
                if not k:
                    raise DataError(
                        f"{self.path}: file ends early: rows {start}..{stop - 1} expected "
                        f"{view.nbytes} bytes, read {got} (truncated file?)"
                    )
                got += k
        return out

    def blocks(self, block_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows start:start+B)`` over the whole matrix, in order."""
        b = block_rows or self.block_rows()
        for start in range(0, self.n, b):
            yield start, self.read(start, start + b)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (sorted ascending), read as the one contiguous range they span.

        Call it with a block of a sorted index array, so the span stays close to the block.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.empty((0, self.dim), dtype=self.dtype)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        if hi - lo == rows.size:  # contiguous: the span is the answer
            return self.read(lo, hi)
        if self._array is not None:  # pick from a view of the span: one copy, not two
            return np.asarray(self._array[lo:hi], dtype=self.dtype)[rows - lo]
        return self.read(lo, hi)[rows - lo]

    def __repr__(self) -> str:
        return f"FeatureMatrix({self.source}, shape={self.shape}, dtype={self.dtype})"


def _listed(rows: np.ndarray, total: int) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:MAX_LISTED_ROWS])
    more = total - min(total, MAX_LISTED_ROWS)
    return shown + (f" and {more} more" if more > 0 else "")


def check_finite(matrix: FeatureMatrix, *, what: str = "features") -> None:
    """Raise ``DataError`` listing the first rows holding NaN or inf (one pass in blocks)."""
    bad: list[np.ndarray] = []
    count = 0
    for start, block in matrix.blocks():
        rows = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if rows.size:
            count += rows.size
            if sum(b.size for b in bad) < MAX_LISTED_ROWS:
                bad.append(rows + start)
    if count:
        raise DataError(
            f"{matrix.source}: {count} row(s) of the {what} hold NaN or inf: rows "
            f"{_listed(np.concatenate(bad), count)} (0-based); remove or fix them"
        )


def _read_npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of an ``.npy`` file, without its data."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            return shape, fortran, dtype, f.tell()
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read as an .npy file ({exc})") from exc


def _check_feature_shape(source: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 2:
        raise DataError(
            f"{source}: expected features of shape (N, D), one row per example, but got "
            f"{len(shape)}-D shape {tuple(shape)}"
            + (" (a 1-D array: use x.reshape(-1, 1) for one feature)" if len(shape) == 1 else "")
        )
    if shape[0] < 1 or shape[1] < 1:
        raise DataError(f"{source}: expected at least 1 row and 1 column, but got {tuple(shape)}")
    if dtype.name not in FEATURE_DTYPES:
        raise DataError(
            f"{source}: expected features of dtype {', '.join(FEATURE_DTYPES)}, but got "
            f"{dtype} (convert with x.astype(np.float32))"
        )


def open_features(path: str | os.PathLike[str], *, check: bool = True) -> FeatureMatrix:
    """The (N, D) features of an ``.npy`` file, checked (shape, dtype, size, and with
    ``check`` every value finite, in one pass of blocks), never loaded whole."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    shape, fortran, dtype, offset = _read_npy_header(path)
    _check_feature_shape(str(path), shape, dtype)
    if fortran and shape[1] > 1:
        raise DataError(
            f"{path}: the array is stored in Fortran (column) order, so rows are not "
            "contiguous; save it with np.save(path, np.ascontiguousarray(x))"
        )
    expected = offset + shape[0] * shape[1] * dtype.itemsize
    size = path.stat().st_size
    if size < expected:
        raise DataError(
            f"{path}: truncated: shape {tuple(shape)} {dtype} needs {expected} bytes, "
            f"the file has {size}"
        )
    matrix = FeatureMatrix(shape=shape, dtype=dtype, path=path.absolute(), offset=offset)
    if check:
        check_finite(matrix)
    return matrix


# ----- labels ----------------------------------------------------------------------------------


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
_Expected = tuple[str, int]


def _no_labels(source: str, why: str, expected: _Expected | None) -> DataError:
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
    return "rows " + _listed(np.asarray(items), len(items))


def _texts(values: np.ndarray, source: str) -> list[str]:
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
            f"{_listed(np.asarray(bad), len(bad))} (row {bad[0]} holds {items[bad[0]]!r}); "
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
    texts = [t.strip() for t in _texts(values, source)]
    unknown = np.array([i for i, t in enumerate(texts) if t not in index], dtype=np.int64)
    if unknown.size:
        first = int(unknown[0])
        raise DataError(
            f"{source}: {unknown.size} label(s) not among the {len(names)} class_names "
            f"{names}: rows {_listed(unknown, unknown.size)} ({texts[first]!r} at row {first})"
        )
    return np.array([index[t] for t in texts], dtype=np.int64)


def _labels_from_array(
    values: np.ndarray, source: str, expected: _Expected | None = None
) -> LabelSet:
    if values.ndim != 1:
        raise DataError(f"{source}: expected N labels of shape (N,), but got shape {values.shape}")
    if values.size == 0:
        raise _no_labels(source, f"an empty array of shape {values.shape}", expected)
    if values.dtype.kind in "US":
        return _names_to_labels(_texts(values, source), source, first_line=None)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        if np.issubdtype(values.dtype, np.floating) and values.size:
            whole = np.isfinite(values) & (values == np.round(values))
            if whole.all():
                values = values.astype(np.int64)
            else:
                rows = np.flatnonzero(~whole)
                raise DataError(
                    f"{source}: labels must be integer class indices, but {rows.size} are "
                    f"not whole numbers: rows {_listed(rows, rows.size)}"
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
            f"{_listed(negative, negative.size)}"
        )
    k = int(labels.max()) + 1 if labels.size else 0
    return LabelSet(labels, [str(j) for j in range(k)], source)


def _read_text_labels(path: Path, column: str | None, expected: _Expected | None) -> LabelSet:
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


def load_labels(path: str | os.PathLike[str], *, column: str | None = None) -> LabelSet:
    """N labels from an ``.npy`` (indices or names) or a text/CSV file (see the module)."""
    return _load_labels(path, column, None)


def _load_labels(
    path: str | os.PathLike[str], column: str | None, expected: _Expected | None
) -> LabelSet:
    """:func:`load_labels`; ``expected``: what the labels are for, named in errors."""
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
        return _labels_from_array(values, str(path), expected)
    return _read_text_labels(path, column, expected)


# ----- features with their labels ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """N examples as embeddings with their labels: what ``detect --features`` trains on."""

    features: FeatureMatrix  # (N, D), read in blocks
    labels: np.ndarray  # (N,) int64 in [0, K)
    class_names: list[str]  # (K,)
    source: str


def _check_lengths(what: str, n: int, labels: LabelSet) -> None:
    if labels.labels.shape[0] != n:
        raise DataError(
            f"{what} has {n} rows but {labels.source} has {labels.labels.shape[0]} labels; "
            "they must match one to one"
        )


def _npz_array(path: Path, z: np.lib.npyio.NpzFile, key: str, *, of: str, shape: str) -> np.ndarray:
    """The array ``key`` of the open .npz ``z``; a DataError naming what it holds if absent."""
    if key not in z.files:
        raise DataError(
            f"{path}: an .npz of {of} needs an array '{key}' {shape}, but it holds {z.files}"
        )
    return z[key]


def _npz_class_names(path: Path, z: np.lib.npyio.NpzFile) -> list[str] | None:
    """The open .npz ``z``'s optional ``class_names``, as str (bytes decoded as UTF-8)."""
    if "class_names" not in z.files:
        return None
    return _texts(z["class_names"], f"{path}['class_names']")


def _npz_features(path: Path) -> tuple[FeatureMatrix, LabelSet | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            x = _npz_array(path, z, "features", of="features", shape="(N, D)")
            labels = z["labels"] if "labels" in z.files else None
            names = _npz_class_names(path, z)
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read as an .npz file ({exc})") from exc
    _check_feature_shape(str(path), x.shape, x.dtype)
    matrix = FeatureMatrix(shape=x.shape, dtype=x.dtype, path=path, array=x)
    check_finite(matrix)
    if labels is None:
        return matrix, None
    if names is not None and labels.dtype.kind in "US":  # names, in class_names' order
        source = f"{path}['labels']"
        return matrix, LabelSet(index_by_class_names(labels, names, source), names, source)
    label_set = _labels_from_array(labels, f"{path}['labels']", (str(path), matrix.n))
    if names is not None and label_set.labels.dtype.kind == "i" and labels.dtype.kind in "iu":
        if label_set.labels.size and int(label_set.labels.max()) >= len(names):
            raise DataError(
                f"{path}: label {int(label_set.labels.max())} but only {len(names)} "
                "class_names"
            )
        label_set = LabelSet(label_set.labels, names, label_set.source)
    return matrix, label_set


def load_features(
    features: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    labels_column: str | None = None,
) -> FeatureSet:
    """Features ``F`` and labels ``L`` (see the module), checked against each other.

    ``labels`` may be left out when ``features`` is an ``.npz`` holding ``labels``.
    """
    path = Path(features)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        matrix, inner = _npz_features(path)
    elif path.suffix.lower() == ".npy":
        matrix, inner = open_features(path), None
    else:
        raise DataError(f"{path}: expected features as an .npy (N, D) or an .npz file")
    if labels is not None:
        label_set = _load_labels(labels, labels_column, (str(path), matrix.n))
    elif inner is not None:
        label_set = inner
    else:
        raise DataError(f"{path}: no labels: give the labels file (--labels L)")
    _check_lengths(f"{path}", matrix.n, label_set)
    return FeatureSet(matrix, label_set.labels, label_set.class_names, str(path))


# ----- predicted probabilities --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbabilitySet:
    """Predicted probabilities the user already has, with the labels they were given."""

    pred_probs: np.ndarray  # (N, K) float64, rows summing to 1
    labels: np.ndarray  # (N,) int64 column indices
    class_names: list[str]  # (K,)
    source: str


def _read_probs(path: Path) -> tuple[np.ndarray, list[str] | None]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                probs = _npz_array(path, z, "pred_probs", of="probabilities", shape="(N, K)")
                names = _npz_class_names(path, z)
            return probs, names
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False), None
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read ({exc})") from exc
    raise DataError(f"{path}: expected predicted probabilities as an .npy (N, K) or an .npz")


def _check_probs(path: Path, probs: np.ndarray) -> np.ndarray:
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise DataError(
            f"{path}: expected predicted probabilities of shape (N, K) with K >= 2, but got "
            f"shape {probs.shape}"
        )
    if not np.issubdtype(probs.dtype, np.floating):
        raise DataError(f"{path}: expected float probabilities, but got dtype {probs.dtype}")
    p = probs.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    if bad.size:
        raise DataError(f"{path}: {bad.size} row(s) hold NaN or inf: rows {_listed(bad, bad.size)}")
    bad = np.flatnonzero((p < 0).any(axis=1) | (p > 1).any(axis=1))
    if bad.size:
        raise DataError(
            f"{path}: {bad.size} row(s) hold values outside [0, 1]: rows {_listed(bad, bad.size)}"
        )
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if bad.size:
        examples = ", ".join(f"row {int(r)} sums to {sums[r]:.6g}" for r in bad[:3])
        raise DataError(
            f"{path}: {bad.size} row(s) do not sum to 1 (within {ROW_SUM_TOLERANCE}): rows "
            f"{_listed(bad, bad.size)} ({examples}); pass probabilities (a softmax), not logits"
        )
    return p / sums[:, None]


def _labels_for_columns(
    path: Path, labels: LabelSet, k: int, column_names: list[str] | None, raw_names: bool
) -> tuple[np.ndarray, list[str]]:
    """Labels as column indices of P, and the K column names."""
    if not raw_names:  # integer labels: column indices
        out = np.flatnonzero(labels.labels >= k)
        if out.size:
            raise DataError(
                f"{labels.source}: {out.size} label(s) name a class not among the {k} columns "
                f"of {path} (labels are column indices 0..{k - 1}): rows {_listed(out, out.size)}"
                f" (label {int(labels.labels[out[0]])} at row {int(out[0])})"
            )
        return labels.labels, column_names or [str(j) for j in range(k)]
    given = [labels.class_names[j] for j in labels.labels]
    if column_names is None:
        if len(labels.class_names) != k:
            raise DataError(
                f"{labels.source}: the labels name {len(labels.class_names)} classes but {path} "
                f"has {k} columns; give column indices, or P as an .npz with 'class_names'"
            )
        return labels.labels, labels.class_names
    index = {name: j for j, name in enumerate(column_names)}
    unknown = np.array([i for i, name in enumerate(given) if name not in index], dtype=np.int64)
    if unknown.size:
        raise DataError(
            f"{labels.source}: {unknown.size} label(s) name a class not among the columns of "
            f"{path} ({column_names}): rows {_listed(unknown, unknown.size)} (e.g. "
            f"{given[int(unknown[0])]!r})"
        )
    return np.array([index[name] for name in given], dtype=np.int64), list(column_names)


def load_pred_probs(
    pred_probs: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    labels_column: str | None = None,
) -> ProbabilitySet:
    """Predicted probabilities ``P`` and labels ``L`` (see the module), checked together."""
    path = Path(pred_probs)
    probs, column_names = _read_probs(path)
    p = _check_probs(path, probs)
    label_set = _load_labels(labels, labels_column, (str(path), p.shape[0]))
    _check_lengths(str(path), p.shape[0], label_set)
    # Names: the labels file held names that are not plain integers.
    raw_names = label_set.class_names != [str(j) for j in range(len(label_set.class_names))]
    if column_names is not None and len(column_names) != p.shape[1]:
        raise DataError(
            f"{path}: {len(column_names)} class_names for {p.shape[1]} columns of pred_probs"
        )
    idx, names = _labels_for_columns(path, label_set, p.shape[1], column_names, raw_names)
    return ProbabilitySet(p, idx, names, str(path))
