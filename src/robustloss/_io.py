"""Atomic file writes and JSON that never holds NaN: shared by every layer (imports nothing
of robustloss).

A file written here either appears whole under its final name or not at all: it is written
to a unique temporary name in the same folder (so the final ``os.replace`` is atomic on
POSIX) and the temporary file is removed if anything fails. The temporary file is created
with ``open(..., "x")``, so the result gets the usual permissions from the umask (unlike
``tempfile.mkstemp``'s 0600, which would make a shared data root unreadable to others).
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "json_text",
    "read_csv",
    "save_figure",
    "write_csv",
]


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = False,
                encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Args:
        path: the final file name; its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise).
        fsync: flush the data to disk before the rename (for files that must survive a
            power loss, such as checkpoints).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"Expected argument `mode` to be 'wb' or 'w', but got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    xmode = "xb" if mode == "wb" else "x"
    text_kwargs = {} if mode == "wb" else {"encoding": encoding or "utf-8", "newline": ""}
    try:
        with open(tmp, xmode, **text_kwargs) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: float | None = None) -> Path:
    """Save a matplotlib ``Figure`` as PNG atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    return Path(path)


def write_csv(
    path: str | os.PathLike,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
) -> Path:
    """Write ``rows`` as a CSV file with a header of ``columns``, atomically; returns the path.

    The one CSV writer of the package. Each row is read by column name; keys that are not in
    ``columns`` are ignored, a missing key, ``None`` and NaN are written as an empty field,
    and floats are written with ``str`` (the shortest text that reads back to the same
    float64).
    """
    with atomic_open(path, "w") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_field(row.get(c)) for c in columns])
    return Path(path)


def read_csv(
    path: str | os.PathLike,
    *,
    required: Sequence[str] = (),
    what: str = "a CSV file",
    error: type[ValueError] = ValueError,
) -> tuple[list[str], list[dict[str, str]]]:
    """The header and data rows (strings, by column name) of a UTF-8 CSV file with a header.

    The one CSV reader for files a person writes or edits (a byte-order mark, which
    spreadsheets write, is skipped); other columns than ``required`` are kept. Raises
    ``error`` (a ``ValueError`` subclass of the caller's) for a file that cannot be opened,
    decoded or parsed (``"<path>: cannot read as <what> (<exception>)"``) and for missing
    ``required`` columns (``"<path>: <what> needs the columns [...], but <c> missing
    (header: [...])"``).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path}: cannot read as {what} ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise error(
            f"{path}: {what} needs the columns {list(required)}, but {', '.join(missing)} "
            f"missing (header: {header})"
        )
    return header, rows


def _csv_field(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, and paths, without importing numpy here.
    if hasattr(obj, "tolist"):
        return _finite(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_text(obj: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """``obj`` as strict JSON: NaN and infinities become ``null`` (JSON has neither),
    numpy scalars/arrays become numbers/lists, paths become strings."""
    return json.dumps(_finite(obj), indent=indent, sort_keys=sort_keys,
                      default=_json_default, allow_nan=False)
