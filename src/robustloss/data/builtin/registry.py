"""The datasets this package knows, and the check every source's arrays must pass.

For each of MNIST and Fashion-MNIST and each split: the original file names, the published
MD5 of each upstream ``.gz`` (checked on mirror downloads only), the SHA-256 of the decoded
arrays, the number of images, and the class names. Every source must give the same arrays:
images ``uint8 (N, 28, 28)`` and labels ``(N,)`` whose SHA-256 (of the C-order bytes;
labels as uint8) equal the values here, measured from the original files. N is 60,000 for
"train" and 10,000 for "test".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from robustloss.data.errors import DataError

__all__ = [
    "CLASS_NAMES",
    "DATASETS",
    "IMAGE_SHAPE",
    "SPECS",
    "SPLITS",
    "Arrays",
    "SplitSpec",
    "check_name",
    "check_split",
    "dataset_class_names",
    "verify",
    "verify_one",
]

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")
SPLITS: tuple[str, ...] = ("train", "test")
IMAGE_SHAPE = (28, 28)

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images, labels), verified


@dataclass(frozen=True)
class SplitSpec:
    """One split of one dataset: the original file names and every hash that checks it."""

    images_file: str
    labels_file: str
    images_md5: str  # published MD5 of the upstream .gz (mirror downloads only)
    labels_md5: str
    images_sha256: str  # SHA-256 of the decoded uint8 (N, 28, 28) C-order bytes
    labels_sha256: str  # SHA-256 of the labels as uint8 bytes
    count: int


SPECS: dict[str, dict[str, SplitSpec]] = {
    "mnist": {
        "train": SplitSpec(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            60_000,
        ),
        "test": SplitSpec(
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
        "train": SplitSpec(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            60_000,
        ),
        "test": SplitSpec(
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

CLASS_NAMES: dict[str, tuple[str, ...]] = {
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


def check_name(name: str) -> str:
    if name not in SPECS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    return name


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def dataset_class_names(name: str) -> list[str]:
    """The class names of a dataset, indexed by label (MNIST "0".."9"; Fashion-MNIST
    "T-shirt/top", "Trouser", ...)."""
    return list(CLASS_NAMES[check_name(name)])


# ---------------------------------------------------------------------------- verification


def verify(name: str, split: str, images: np.ndarray, labels: np.ndarray, source: str) -> None:
    """Raise DataError unless the arrays are exactly the expected split (by SHA-256)."""
    verify_one(name, split, "images", images, source)
    verify_one(name, split, "labels", labels, source)


def verify_one(name: str, split: str, what: str, array: np.ndarray, source: str) -> None:
    """Raise DataError unless ``array`` is exactly the split's ``what`` ("images" or
    "labels"): dtype, shape, then SHA-256; ``source`` names where it came from."""
    spec = SPECS[name][split]
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


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array)).hexdigest()
