"""What a source is, and the local ones: the original IDX files on this machine.

A source is a function of no arguments that returns the verified arrays of one or more
splits (:data:`~robustloss.data.builtin.registry.Arrays`) or raises :class:`DataError` saying why
not; a reason starting with "not present" or "skipped" is an expected miss, not a fault.
Sources are listed as ``(label, source)`` pairs, the label saying where it looks.

The local IDX sources read the original files (``train-images-idx3-ubyte.gz`` and so on,
gzip or not) from:

- the dataset's folder in the data root, left there by an earlier mirror download or
  copied there; a file there that fails verification is deleted;
- the system folder ``/usr/share/datasets/<name>/`` (Debian's package
  ``dataset-fashion-mnist`` installs Fashion-MNIST there; Debian recompressed the files,
  so only their decoded content is checked); nothing there is ever deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from robustloss.data.builtin.idx import read_idx
from robustloss.data.builtin.registry import SPECS, Arrays, verify_one
from robustloss.data.errors import DataError

__all__ = ["Source", "idx_source", "local_sources", "short", "skip"]

Source = Callable[[], Arrays]

_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


def local_sources(name: str, split: str, folder: Path) -> list[tuple[str, Source]]:
    """The IDX files in the data root's ``folder``, then in each system folder."""
    out: list[tuple[str, Source]] = [
        (f"local files in {folder}", lambda: idx_source(name, split, folder, own=True))
    ]
    for base in _SYSTEM_DIRS:
        sysdir = base / name
        out.append(
            (f"system folder {sysdir}", lambda d=sysdir: idx_source(name, split, d, own=False))
        )
    return out


def idx_source(name: str, split: str, folder: Path, *, own: bool) -> Arrays:
    """Read and verify the split's two IDX files in ``folder``. ``own``: the folder is in the
    data root, so a file that fails is deleted (never a file outside the data root)."""
    spec = SPECS[name][split]
    found = {
        what: (filename, _find_idx(folder, filename))
        for what, filename in (("images", spec.images_file), ("labels", spec.labels_file))
    }
    missing = [filename for filename, path in found.values() if path is None]
    if missing:
        raise DataError(f"not present ({', '.join(missing)})")
    arrays = []
    for what, (_, path) in found.items():
        try:
            array = read_idx(path)
            verify_one(name, split, what, array, str(path))
        except DataError as exc:
            if not own:
                raise
            path.unlink(missing_ok=True)
            raise DataError(f"{exc} (removed {path.name})") from exc
        arrays.append(array)
    return {split: (arrays[0], arrays[1])}


def skip(reason: str) -> Source:
    """A source that is not tried, for ``reason`` (e.g. "download=False")."""

    def source() -> Arrays:
        raise DataError(f"skipped ({reason})")

    return source


def short(exc: BaseException) -> str:
    """An exception as one line of at most 300 characters, its type first."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _find_idx(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None
