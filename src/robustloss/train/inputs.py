"""The arrays a training run is given, checked once and held as CPU tensors.

N training images, K classes. :func:`prepare_data` validates every array once, before the
first epoch: images ``(N, H, W)`` or ``(N, H, W, C)`` with H = W, uint8 or finite floats;
labels ``(N,)`` integers in ``[0, K)``, converted to int64. Because the labels are checked
here, per dataset, the training loop calls its losses with ``validate_args=False``: no check
of the label values per batch (on a GPU, a device-to-host synchronisation each time).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


def as_tensor(array: Any) -> Tensor:
    """A tensor sharing memory with a numpy array where possible (read-only ones too)."""
    if isinstance(array, Tensor):
        return array
    array = np.ascontiguousarray(array)
    with warnings.catch_warnings():  # a read-only array: training never writes to it
        warnings.filterwarnings("ignore", message=".*not writable.*", category=UserWarning)
        return torch.from_numpy(array)


@dataclass(frozen=True)
class TrainData:
    """A training set (and optional clean test set), validated; all tensors on the CPU.

    ``label_high`` and ``test_label_high`` are the largest label of ``y`` and ``y_test``
    (None for no or an empty test set): the loop checks the model's number of logits
    against them, a shape test that needs no device sync.
    """

    x: Tensor  # (N, H, W[, C]) uint8 or float32
    y: Tensor  # (N,) int64, values in [0, num_classes)
    y_true: Tensor | None  # (N,) int64
    x_test: Tensor | None  # (M, H, W[, C])
    y_test: Tensor | None  # (M,) int64
    num_classes: int
    label_high: int
    test_label_high: int | None

    @property
    def in_channels(self) -> int:
        return 1 if self.x.ndim == 3 else self.x.shape[3]

    @property
    def image_size(self) -> int:
        return self.x.shape[1]

    def fingerprint(self) -> dict[str, Any]:
        """Shape, dtype, classes and a BLAKE2b digest of the training images and labels."""
        h = hashlib.blake2b(digest_size=16)
        for t in (self.x, self.y):
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.cpu().contiguous().numpy().view(np.uint8).reshape(-1).data)
        return {
            "n": int(self.x.shape[0]),
            "image_shape": list(self.x.shape[1:]),
            "num_classes": self.num_classes,
            "digest": h.hexdigest(),
        }


def prepare_data(
    images: Any,
    labels: Any,
    true_labels: Any,
    test_images: Any,
    test_labels: Any,
    num_classes: int | None,
) -> TrainData:
    """Validate the arrays :func:`robustloss.train.train` was given; see its docstring."""
    x = _images_tensor("images", images)
    n = x.shape[0]
    if n == 0:
        raise ValueError("Expected at least one training image, but got 0")
    y = _labels_tensor("labels", labels, n)
    y_true = None if true_labels is None else _labels_tensor("true_labels", true_labels, n)
    x_test = y_test = None
    if (test_images is None) != (test_labels is None):
        raise ValueError("Expected both `test_images` and `test_labels`, or neither")
    if test_images is not None:
        x_test = _images_tensor("test_images", test_images)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"Expected test images of shape (M, {', '.join(map(str, x.shape[1:]))}) like the "
                f"training images, but got {tuple(x_test.shape)}"
            )
        y_test = _labels_tensor("test_labels", test_labels, x_test.shape[0])
    num_classes = _check_label_range((y, y_true, y_test), num_classes)
    test_high = None if y_test is None or not y_test.numel() else int(y_test.max())
    return TrainData(x, y, y_true, x_test, y_test, num_classes, int(y.max()), test_high)


def _check_label_range(label_sets: tuple[Tensor | None, ...], num_classes: int | None) -> int:
    """K: ``num_classes`` checked, or ``max(label) + 1``; every label must be in [0, K)."""
    all_labels = [t for t in label_sets if t is not None and t.numel()]
    low = min(int(t.min()) for t in all_labels)
    high = max(int(t.max()) for t in all_labels)
    if num_classes is None:
        num_classes = max(high + 1, 2)
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"Expected `num_classes` to be an int >= 2, but got {num_classes!r}")
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"Expected labels in [0, {num_classes}) (num_classes = {num_classes}), but got "
            f"values from {low} to {high}"
        )
    return num_classes


def _images_tensor(name: str, images: Any) -> Tensor:
    x = as_tensor(images)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"Expected `{name}` of shape (N, H, W) or (N, H, W, C), but got {tuple(x.shape)}"
        )
    if x.shape[1] != x.shape[2]:
        raise ValueError(
            f"Expected square images in `{name}`, but got H x W = {x.shape[1]} x {x.shape[2]}"
        )
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"Expected `{name}` with a real dtype (uint8 or float), got {x.dtype}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        x = x.to(torch.float32)  # other integer types: exact as float32 for 0..255
    elif x.is_floating_point() and x.dtype != torch.float32:
        x = x.to(torch.float32)
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"Expected finite pixel values in `{name}`, but found NaN or inf")
    return x.contiguous()


def _labels_tensor(name: str, labels: Any, n: int) -> Tensor:
    y = as_tensor(labels)
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ValueError(f"Expected integer class indices in `{name}`, but got {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"Expected `{name}` of shape ({n},), but got {tuple(y.shape)}")
    return y.to(torch.int64).contiguous()
