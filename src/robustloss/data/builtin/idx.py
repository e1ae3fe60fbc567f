"""Reading and writing IDX files, the format of the original MNIST and Fashion-MNIST files.

An IDX file is a header followed by the array's elements, all big-endian::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions D (at least 1)
    4 * D       each dimension's size, a big-endian int32
    rest        the elements in C order (last dimension fastest), big-endian

A file may be gzip-compressed (recognised by its content, whatever its name). Every problem
(bad magic, unknown element type, dimensions that disagree with the amount of data, a
truncated or empty file, a broken gzip stream) raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from robustloss._io import atomic_write_bytes
from robustloss.data.errors import DataError  # re-exported: it was defined here

__all__ = ["IDX_DTYPES", "DataError", "read_idx", "write_idx"]


#: IDX element type code -> numpy dtype as stored in the file (big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22  # 4 MiB: memory stays bounded by the real content, never by a header's claim


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian, writable array.

    Args:
        path: the file. Gzip is recognised by its first two bytes (0x1f 0x8b); a name
            ending in ``.gz`` whose content is not gzip is an error.

    Returns:
        The array, shape ``(d_1, ..., d_D)`` from the header, dtype uint8, int8, int16,
        int32, float32 or float64 (native byte order).

    Raises:
        DataError: the file is empty, not gzip although named ``.gz``, a broken or truncated
            gzip stream, has a bad magic number, an unknown element type, zero dimensions,
            a negative size, or holds fewer or more element bytes than its dimensions say.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        head = raw.read(2)
        if not head:
            raise DataError(f"{path}: empty file, expected an IDX header")
        raw.seek(0)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, compressed=True)
        if path.suffix == ".gz":
            raise DataError(
                f"{path}: named .gz but not a gzip file (starts with bytes {head.hex()}, "
                f"expected {_GZIP_MAGIC.hex()})"
            )
        return _read_stream(raw, path, compressed=False)


def _read_stream(stream: io.BufferedIOBase, path: Path, *, compressed: bool) -> np.ndarray:
    try:
        header = _read_exactly(stream, 4)
        if not header:
            raise DataError(f"{path}: empty {'gzip content' if compressed else 'file'}")
        if len(header) < 4:
            raise DataError(f"{path}: truncated IDX header ({len(header)} of 4 bytes)")
        if header[0] != 0 or header[1] != 0:
            raise DataError(
                f"{path}: bad IDX magic number 0x{header.hex()} (the first two bytes must be zero)"
            )
        code, ndim = header[2], header[3]
        if code not in IDX_DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
            raise DataError(f"{path}: unknown IDX element type 0x{code:02X} (known: {known})")
        if ndim == 0:
            raise DataError(f"{path}: IDX header declares 0 dimensions, expected at least 1")
        dims_bytes = _read_exactly(stream, 4 * ndim)
        if len(dims_bytes) < 4 * ndim:
            raise DataError(
                f"{path}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes, "
                f"got {len(dims_bytes)}"
            )
        shape = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">i4"))
        if any(d < 0 for d in shape):
            raise DataError(f"{path}: negative dimension in IDX header, shape {shape}")
        dtype = IDX_DTYPES[code]
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        payload = bytearray()
        while len(payload) <= expected:
            chunk = stream.read(min(_CHUNK, expected + 1 - len(payload)))
            if not chunk:
                break
            payload += chunk
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: broken gzip stream ({exc})") from exc
    if len(payload) < expected:
        raise DataError(
            f"{path}: truncated: shape {shape} of {dtype.name} needs {expected} data bytes, "
            f"the file holds {len(payload)}"
        )
    if len(payload) > expected:
        raise DataError(
            f"{path}: dimensions disagree with the size: shape {shape} of {dtype.name} needs "
            f"{expected} data bytes, the file holds more"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array


def _read_exactly(stream: io.BufferedIOBase, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The file is written to a temporary name in the same folder and renamed into place, so
    a reader never sees half a file. Gzip output is reproducible (no time stamp).

    Args:
        path: the destination.
        array: at least one dimension, dtype uint8, int8, int16, int32, float32 or float64.

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: the dtype has no IDX element type, or the array is 0-dimensional.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        names = ", ".join(dt.name for dt in codes)
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX element type ({names})")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got {array.ndim}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + body
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)
