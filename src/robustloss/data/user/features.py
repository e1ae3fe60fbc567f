"""Your data as embeddings or predicted probabilities: loading and checking, in bounded memory.

N examples, D embedding dimensions, K classes. The labels that go with them (``L``: class
indices or names, and how a label text is read) are :mod:`robustloss.data.user.labels`.

- Features ``F``: an ``.npy`` file of shape (N, D), float16, float32 or float64, C order
  (what ``np.save`` writes). It is *never loaded whole*: :class:`FeatureMatrix` reads
  contiguous row blocks straight from the file (positioned reads after the ``.npy`` header),
  so five million 512-dim float16 embeddings (5 GB) need a few tens of MB of memory. Why not
  ``np.load(mmap_mode="r")``: every page a memory map has touched counts as resident memory
  until the kernel reclaims it, so one pass over a memory-mapped 5 GB file shows as 5 GB of
  RSS; positioned reads into a reused block do not. Or an ``.npz`` holding ``features``
  (and optionally ``labels`` and ``class_names``): loaded into memory (a zip cannot be read
  in place), for data that fits. With ``class_names``, integer ``labels`` index them and
  string ``labels`` (str, or bytes decoded as UTF-8) are looked up in them, in the file's
  order (:func:`~robustloss.data.user.labels.index_by_class_names`).
- Predicted probabilities ``P``: an ``.npy`` of shape (N, K), or an ``.npz`` holding
  ``pred_probs`` and optionally ``class_names`` (the name of each column). Rows must be
  finite, non-negative and sum to 1 within :data:`ROW_SUM_TOLERANCE`; they are then
  renormalised exactly. Integer labels are column indices; names are looked up in
  ``class_names`` (or, without them, must be exactly K distinct names, in sorted order).

Every problem raises :class:`~robustloss.data.errors.DataError` (a ``ValueError``) naming the
file, the row(s) (0-based array rows; 1-based line numbers for text files) and what was
expected; bad rows are listed (the first :data:`~robustloss.data.errors.MAX_LISTED_ROWS`)
with their count.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robustloss.data.errors import MAX_LISTED_ROWS, DataError, listed_rows
from robustloss.data.user.labels import (
    LabelSet,
    index_by_class_names,
    label_texts,
    labels_from_array,
    load_labels,
)

__all__ = [
    "BLOCK_BYTES",
    "FEATURE_DTYPES",
    "ROW_SUM_TOLERANCE",
    "FeatureMatrix",
    "FeatureSet",
    "ProbabilitySet",
    "check_finite",
    "load_features",
    "load_pred_probs",
    "open_features",
]

#: Feature dtypes accepted (computations run in float32).
FEATURE_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")

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
            f"{listed_rows(np.concatenate(bad), count)} (0-based); remove or fix them"
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
    return label_texts(z["class_names"], f"{path}['class_names']")


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
    label_set = labels_from_array(labels, f"{path}['labels']", (str(path), matrix.n))
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
        label_set = load_labels(labels, column=labels_column, expected=(str(path), matrix.n))
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
        raise DataError(
            f"{path}: {bad.size} row(s) hold NaN or inf: rows {listed_rows(bad, bad.size)}"
        )
    bad = np.flatnonzero((p < 0).any(axis=1) | (p > 1).any(axis=1))
    if bad.size:
        raise DataError(
            f"{path}: {bad.size} row(s) hold values outside [0, 1]: rows "
            f"{listed_rows(bad, bad.size)}"
        )
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if bad.size:
        examples = ", ".join(f"row {int(r)} sums to {sums[r]:.6g}" for r in bad[:3])
        raise DataError(
            f"{path}: {bad.size} row(s) do not sum to 1 (within {ROW_SUM_TOLERANCE}): rows "
            f"{listed_rows(bad, bad.size)} ({examples}); pass probabilities (a softmax), not logits"
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
                f"of {path} (labels are column indices 0..{k - 1}): rows "
                f"{listed_rows(out, out.size)}"
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
            f"{path} ({column_names}): rows {listed_rows(unknown, unknown.size)} (e.g. "
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
    label_set = load_labels(labels, column=labels_column, expected=(str(path), p.shape[0]))
    _check_lengths(str(path), p.shape[0], label_set)
    # Names: the labels file held names that are not plain integers.
    raw_names = label_set.class_names != [str(j) for j in range(len(label_set.class_names))]
    if column_names is not None and len(column_names) != p.shape[1]:
        raise DataError(
            f"{path}: {len(column_names)} class_names for {p.shape[1]} columns of pred_probs"
        )
    idx, names = _labels_for_columns(path, label_set, p.shape[1], column_names, raw_names)
    return ProbabilitySet(p, idx, names, str(path))
