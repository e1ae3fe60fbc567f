"""The HTTPS mirrors: the original ``.gz`` files fetched with pooch into the data root.

Each file goes to a temporary name in ``<root>/<name>/``, is checked against the published
MD5 of the ``.gz``, and is then renamed; a progress bar shows. The downloaded pair is then
read and verified like any local IDX files. A short connect timeout makes an offline machine
move on at once. Override the base URLs with ``mirrors=`` or ``$ROBUSTLOSS_MIRRORS`` (base
URLs separated by spaces or commas; empty means none).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from robustloss.data.builtin.registry import SPECS, Arrays
from robustloss.data.builtin.sources import idx_source, short
from robustloss.data.errors import DataError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MIRRORS",
    "MIRRORS_ENV",
    "READ_TIMEOUT_S",
    "mirror_source",
    "mirrors_label",
    "resolve_mirrors",
]

MIRRORS_ENV = "ROBUSTLOSS_MIRRORS"

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
}

# An offline machine fails in milliseconds when DNS is down (measured here: ~1 ms); a
# blackholed route would hang until the connect timeout, so keep it short. The read timeout
# is per gap between bytes, not for the whole file.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0


def resolve_mirrors(name: str, mirrors: Sequence[str] | None) -> list[str]:
    """The base URLs to try, each ending in "/": ``mirrors`` if given, else
    ``$ROBUSTLOSS_MIRRORS`` if set, else the canonical ones. ValueError for a non-URL."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV)
        mirrors = MIRRORS[name] if env is None else [m for m in re.split(r"[\s,]+", env) if m]
    elif isinstance(mirrors, str):
        raise ValueError(f"mirrors must be a sequence of base URLs, got the string {mirrors!r}")
    bases = []
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"each mirror must be an http:// or https:// base URL, got {url!r}")
        bases.append(url if url.endswith("/") else url + "/")
    return bases


def mirrors_label(bases: Sequence[str]) -> str:
    return "mirrors " + (", ".join(bases) if bases else "(none configured)")


def mirror_source(name: str, split: str, folder: Path, bases: Sequence[str]) -> Arrays:
    """Download the split's two files into ``folder`` from the first base URL that has
    each, then read and verify them."""
    if not bases:
        raise DataError("no mirrors configured")
    # pooch and requests take ~0.1 s to import; only a download needs them.
    import pooch
    import requests

    spec = SPECS[name][split]
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
    return idx_source(name, split, folder, own=True)


def _download_reason(exc: BaseException) -> str:
    """One readable line for a failed download (requests' messages run to 500 characters)."""
    import requests  # already imported by mirror_source, the only caller

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
    return short(exc)
