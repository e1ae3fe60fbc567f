"""The data root, and the cache of verified arrays inside it.

The data root is ``root`` if given, else ``$ROBUSTLOSS_DATA``, else the user cache folder
(``platformdirs.user_cache_path("robustloss") / "data"``, e.g. ``~/.cache/robustloss/data``).
A dataset's folder is ``<root>/<name>/``; its cache holds ``<split>-images.npy`` and
``<split>-labels.npy`` plus a ``<split>.json`` saying where they came from. The arrays are
verified again on every read (the SHA-256 of the 47 MB training images costs 0.02-0.05 s
here; a whole cached load about 0.03 s), and cached files that fail are deleted. Each file
is written atomically; a root that cannot be written still gives the verified arrays.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

from robustloss._io import atomic_open
from robustloss._version import __version__
from robustloss.data.builtin.registry import SPECS, verify
from robustloss.data.errors import DataError

__all__ = [
    "DATA_ENV",
    "NOT_CACHED",
    "data_root",
    "default_data_root",
    "read_cache",
    "write_cache",
]

logger = logging.getLogger(__name__)

DATA_ENV = "ROBUSTLOSS_DATA"
NOT_CACHED = "not cached"  # read_cache's reason when there is simply nothing cached yet


def default_data_root() -> Path:
    """The user cache folder for data: ``platformdirs.user_cache_path("robustloss") / "data"``."""
    import platformdirs  # ~15 ms to import, and only needed when no root is given

    return Path(platformdirs.user_cache_path("robustloss")) / "data"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$ROBUSTLOSS_DATA`` if set and not empty,
    else :func:`default_data_root`. Returned as an absolute path; not created here."""
    if root is None:
        env = os.environ.get(DATA_ENV, "")
        root = env if env else default_data_root()
    return Path(root).expanduser().absolute()


def read_cache(name: str, split: str, folder: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """The cached ``(images, labels, meta)`` of a split in ``folder``, verified.

    Raises:
        DataError: :data:`NOT_CACHED` when nothing is cached; otherwise the reason the
            cached arrays failed (and they are deleted).
    """
    images_path, labels_path, meta_path = _cache_paths(folder, split)
    if not (images_path.is_file() and labels_path.is_file()):
        raise DataError(NOT_CACHED)
    try:
        images = np.load(images_path, allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
        verify(name, split, images, labels, "cached arrays")
    except (DataError, OSError, ValueError) as exc:
        for path in (images_path, labels_path, meta_path):
            path.unlink(missing_ok=True)
        raise DataError(f"{exc} (removed the cached files)") from exc
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    return images, labels, meta if isinstance(meta, dict) else {}


def write_cache(
    name: str, split: str, folder: Path, images: np.ndarray, labels: np.ndarray, *, source: str
) -> None:
    """Cache verified arrays in ``folder``, recording ``source``; a failure is only logged."""
    images_path, labels_path, meta_path = _cache_paths(folder, split)
    spec = SPECS[name][split]
    meta = {
        "dataset": name,
        "split": split,
        "source": source,
        "count": spec.count,
        "images_sha256": spec.images_sha256,
        "labels_sha256": spec.labels_sha256,
        "cached_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "robustloss": __version__,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(images_path, lambda f: np.save(f, images, allow_pickle=False))
        _atomic_write(labels_path, lambda f: np.save(f, labels, allow_pickle=False))
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta, indent=2).encode()))
    except OSError as exc:  # a read-only root still gives the verified arrays
        logger.warning("could not cache %s %s in %s: %s", name, split, folder, exc)


def _cache_paths(folder: Path, split: str) -> tuple[Path, Path, Path]:
    return (
        folder / f"{split}-images.npy",
        folder / f"{split}-labels.npy",
        folder / f"{split}.json",
    )


def _atomic_write(path: Path, write: Callable[[IO[Any]], object]) -> None:
    with atomic_open(path, "wb") as f:
        write(f)
