"""Bring your own data: a folder of class subfolders, or an ``.npz`` file, as an ImageSet.

(:func:`robustloss.data.user.paths.load_path` reads any of these, or a CSV manifest.)

Folder convention (torchvision's ImageFolder)::

    path/
        cat/  0001.png  0002.jpg  more/0003.png ...
        dog/  ...

- A class is an immediate subfolder of ``path``; classes are sorted by name, and the label
  of a class is its index in that order. Files directly in ``path`` are ignored. Images are
  found recursively inside each class folder, and sorted by their path.
- Image files are recognised by extension (:data:`IMAGE_EXTENSIONS`, case-insensitive);
  other files, and names starting with ``.``, are ignored. Every image file must be
  readable: all unreadable ones are reported together, by name, never skipped.
- A symlink (file or folder) that resolves outside ``path`` is refused.
- Colour: grayscale images (modes 1, L, LA, I, I;16, F, or a palette of grays) give
  ``(N, H, W)``; if any image is in colour, all become RGB ``(N, H, W, 3)`` (grays
  replicated). Alpha is dropped, 16-bit images keep their top 8 bits, 32-bit integer and
  float images are clipped to 0..255.
- Size: every image is resized to ``image_size`` (an int for square, or (height, width)) or,
  when None, to the most common size in the folder (ties: the larger area), with Pillow's
  bilinear filter (antialiased when shrinking). The aspect ratio is not kept and nothing is
  cropped; images already of that size are not touched.
- A folder with fewer than two classes, or a class with no images, is an error.

An ``.npz`` holds ``images`` (``uint8 (N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``;
other integer or whole-number float arrays with values in 0..255 are converted exactly),
``labels`` (integers in [0, K)) and optionally ``class_names`` (K strings; default
"0".."K-1" with K = max label + 1). With ``class_names``, ``labels`` may be strings instead:
each is looked up in ``class_names``, so class k is ``class_names[k]`` in the file's order
(:func:`robustloss.data.user.labels.index_by_class_names`; a label not among them is an
error). Other keys are ignored. Nothing is unpickled.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from robustloss.data.errors import DataError
from robustloss.data.user.labels import index_by_class_names, label_texts

__all__ = [
    "IMAGE_EXTENSIONS",
    "UNREADABLE",
    "ImageSet",
    "check_image_size",
    "load_folder",
    "load_npz",
    "problems_message",
    "read_image",
    "stack_images",
]

#: File extensions read as images by :func:`load_folder` (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp",
)  # fmt: skip

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
_MAX_LISTED = 20


@dataclass
class ImageSet:
    """Images with their labels.

    Attributes:
        images: ``uint8 (N, H, W)`` grayscale or ``(N, H, W, 3)`` RGB.
        labels: ``int64 (N,)`` in [0, K).
        class_names: K names, indexed by label.
        paths: the source file of each sample (for folders and manifests), else None.
        ids: each sample's identifier (a manifest's optional ``id`` column), else None.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str] | None = None
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if len(self.labels) != n:
            raise ValueError(f"ImageSet: {n} images but {len(self.labels)} labels")
        if self.paths is not None and len(self.paths) != n:
            raise ValueError(f"ImageSet: {n} images but {len(self.paths)} paths")
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"ImageSet: {n} images but {len(self.ids)} ids")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)


def load_folder(
    path: str | os.PathLike[str], *, image_size: int | tuple[int, int] | None = None
) -> ImageSet:
    """Read a folder of class subfolders of images (conventions: module docstring).

    Args:
        path: the folder.
        image_size: the output size, an int (square) or (height, width); None: the most
            common size in the folder.

    Returns:
        An :class:`ImageSet` with ``paths`` set (each file as found under ``path``).

    Raises:
        DataError: not a folder, fewer than 2 classes, an empty class, symlinks out of the
            folder, or unreadable images (all of them listed in one message).
        ValueError: a bad ``image_size``.
    """
    size = check_image_size(image_size)
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    class_dirs = _class_dirs(root)
    problems: list[str] = []  # every problem found, reported together at the end
    files = _list_images(class_dirs, root.resolve(), problems)
    arrays = _read_images([file for file, _ in files], problems)
    if problems:
        raise DataError(problems_message(root, problems))
    images = stack_images(arrays, size)
    labels = np.array([label for _, label in files], dtype=np.int64)
    return ImageSet(images, labels, [d.name for d in class_dirs], [str(f) for f, _ in files])


def load_npz(path: str | os.PathLike[str]) -> ImageSet:
    """Read an ``.npz`` with ``images``, ``labels`` and optional ``class_names``.

    Returns:
        An :class:`ImageSet` (``paths`` None): images ``uint8 (N, H, W)`` or
        ``(N, H, W, 3)``, labels ``int64 (N,)``.

    Raises:
        DataError: not a readable ``.npz``, a missing key, object arrays, images of another
            shape or with values that are not whole numbers in 0..255, labels that are not
            integers in [0, K) (or, with class_names, strings among them), fewer than 2
            classes, or duplicate class names.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: a single .npy array, expected an .npz archive")
        with loaded as npz:
            missing = [k for k in ("images", "labels") if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: missing key(s) {', '.join(missing)}; has {', '.join(npz.files)}"
                )
            images, labels = npz["images"], npz["labels"]
            names = npz["class_names"] if "class_names" in npz.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from exc
    images = _npz_images(images, path)
    if names is not None and labels.dtype.kind in "US":  # names, in class_names' order
        _check_label_shape(labels, len(images), path)
        class_names = _npz_name_list(names, path)
        labels = index_by_class_names(labels, class_names, f"{path}['labels']")
        return ImageSet(images, labels, class_names, None)
    labels = _npz_labels(labels, len(images), path)
    class_names = _npz_class_names(names, labels, path)
    return ImageSet(images, labels, class_names, None)


# ---------------------------------------------------------------------------- folder helpers


def check_image_size(image_size) -> tuple[int, int] | None:
    """``image_size`` as (height, width) (an int is square), or None; else a ValueError."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    if (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in image_size)
        and all(v > 0 for v in image_size)
    ):
        return int(image_size[0]), int(image_size[1])
    raise ValueError(
        f"image_size must be a positive int or (height, width) of positive ints, got {image_size!r}"
    )


def _class_dirs(root: Path) -> list[Path]:
    """The class subfolders of ``root``, sorted by name; at least two of them."""
    class_dirs = sorted(
        (e for e in root.iterdir() if e.is_dir() and not e.name.startswith(".")),
        key=lambda e: e.name,
    )
    if len(class_dirs) < 2:
        found = ", ".join(e.name for e in class_dirs) or "none"
        raise DataError(
            f"{root}: found {len(class_dirs)} class subfolders ({found}), need at least 2 "
            "(one subfolder of images per class)"
        )
    return class_dirs


def _list_images(
    class_dirs: list[Path], real_root: Path, problems: list[str]
) -> list[tuple[Path, int]]:
    """Every image file with its label (the index of its class folder), class by class."""
    files: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        found_files = _walk(class_dir, real_root, problems)
        if not found_files and _inside(class_dir, real_root):
            problems.append(f"{class_dir}: class folder has no image files")
        files += [(f, label) for f in found_files]
    return files


def _read_images(files: list[Path], problems: list[str]) -> list[np.ndarray]:
    """Each readable file's pixels; each unreadable one becomes a problem."""
    arrays: list[np.ndarray] = []
    for file in files:
        try:
            arrays.append(read_image(file))
        except UNREADABLE as exc:
            problems.append(f"{file}: unreadable image ({type(exc).__name__}: {exc})")
    return arrays


def stack_images(arrays: list[np.ndarray], size: tuple[int, int] | None) -> np.ndarray:
    """One (N, H, W[, 3]) uint8 array: every image at ``size`` (None: the most common size),
    RGB when any image is in colour."""
    if size is None:
        size = _most_common_size(arrays)
    rgb = any(a.ndim == 3 for a in arrays)
    return np.stack([_conform(a, size, rgb=rgb) for a in arrays])


def problems_message(where: object, problems: list[str], *, kind: str = "problem(s)") -> str:
    """``"<where>: <n> <kind>:"`` and one indented line per problem (the first 20, then how
    many more): the message of an error that lists every bad file or row at once."""
    shown = problems[:_MAX_LISTED]
    more = len(problems) - len(shown)
    return (
        f"{where}: {len(problems)} {kind}:\n  "
        + "\n  ".join(shown)
        + (f"\n  ... and {more} more" if more else "")
    )


def _inside(path: Path, real_root: Path) -> bool:
    return path.resolve().is_relative_to(real_root)


def _walk(class_dir: Path, real_root: Path, problems: list[str]) -> list[Path]:
    """Image files under ``class_dir`` (following symlinks that stay inside the root)."""
    files: list[Path] = []
    seen: set[Path] = set()
    stack = [class_dir]
    while stack:
        folder = stack.pop()
        real = folder.resolve()
        if not real.is_relative_to(real_root):
            problems.append(f"{folder}: symlink to {real}, outside the folder: refused")
            continue
        if real in seen:  # a symlink cycle, or two links to one folder
            continue
        seen.add(real)
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.suffix.lower() in IMAGE_EXTENSIONS:
                target = entry.resolve()
                if not target.is_relative_to(real_root):
                    problems.append(f"{entry}: symlink to {target}, outside the folder: refused")
                else:
                    files.append(entry)
    return sorted(files, key=lambda p: p.relative_to(class_dir).as_posix())


#: What :func:`read_image` raises for a file that is no readable image.
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def read_image(path: Path) -> np.ndarray:
    """uint8 ``(H, W)`` for grayscale, ``(H, W, 3)`` for colour."""
    with Image.open(path) as img:
        img.load()
        mode = img.mode
        if mode.startswith("I;16"):
            return (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
        if mode in _GRAY_MODES:
            return np.asarray(img.convert("L"))
        rgb = np.asarray(img.convert("RGB"))
    if (
        mode == "P"
        and np.array_equal(rgb[..., 0], rgb[..., 1])
        and np.array_equal(rgb[..., 0], rgb[..., 2])
    ):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def _most_common_size(arrays: list[np.ndarray]) -> tuple[int, int]:
    counts = Counter(a.shape[:2] for a in arrays)
    return max(counts, key=lambda hw: (counts[hw], hw[0] * hw[1], hw))


def _conform(array: np.ndarray, size: tuple[int, int], *, rgb: bool) -> np.ndarray:
    if array.shape[:2] != size:
        resized = Image.fromarray(array).resize(
            (size[1], size[0]), resample=Image.Resampling.BILINEAR
        )
        array = np.asarray(resized)
    if rgb and array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return array


# ---------------------------------------------------------------------------- npz helpers


def _npz_images(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise DataError(
            f"{path}: images have shape {images.shape}, expected (N, H, W), (N, H, W, 1) "
            "or (N, H, W, 3)"
        )
    if len(images) == 0:
        raise DataError(f"{path}: images is empty (N = 0)")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if images.dtype.kind not in "iuf":
        raise DataError(f"{path}: images have dtype {images.dtype}, expected uint8")
    finite = images.dtype.kind != "f" or bool(np.all(np.isfinite(images)))
    lo, hi = (images.min(), images.max()) if finite else (np.nan, np.nan)
    whole = finite and bool(np.all(images == np.round(images)))
    if not (finite and whole and lo >= 0 and hi <= 255):
        raise DataError(
            f"{path}: images have dtype {images.dtype} with values in [{lo}, {hi}], expected "
            "uint8 (or whole numbers in 0..255); scale them first, e.g. "
            "(x * 255).round().astype(np.uint8) for values in [0, 1]"
        )
    return images.astype(np.uint8)


def _check_label_shape(labels: np.ndarray, n: int, path: Path) -> None:
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{path}: labels have shape {labels.shape}, expected ({n},)")


def _npz_labels(labels: np.ndarray, n: int, path: Path) -> np.ndarray:
    _check_label_shape(labels, n, path)
    if labels.dtype.kind not in "iu":
        named = labels.dtype.kind in "US"
        hint = " (class names as labels need a class_names array)" if named else ""
        raise DataError(f"{path}: labels have dtype {labels.dtype}, expected integers{hint}")
    if labels.min() < 0:
        raise DataError(f"{path}: labels must be >= 0, got minimum {labels.min()}")
    return labels.astype(np.int64)


def _npz_class_names(names: np.ndarray | None, labels: np.ndarray, path: Path) -> list[str]:
    top = int(labels.max())
    if names is None:
        k = top + 1
        if k < 2:
            raise DataError(f"{path}: labels hold {k} class (max label {top}), need at least 2")
        return [str(i) for i in range(k)]
    out = _npz_name_list(names, path)
    if top >= len(out):
        raise DataError(
            f"{path}: labels must be in [0, {len(out)}) for {len(out)} class_names, "
            f"got maximum {top}"
        )
    return out


def _npz_name_list(names: np.ndarray, path: Path) -> list[str]:
    """An .npz's ``class_names`` as K >= 2 distinct strings."""
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DataError(
            f"{path}: class_names must be a 1-D array of strings, got {names.dtype} {names.shape}"
        )
    # bytes: decoded as UTF-8, else a DataError naming the rows
    out = label_texts(names, f"{path}['class_names']")
    if len(out) < 2:
        raise DataError(f"{path}: class_names has {len(out)} name(s), need at least 2")
    if len(set(out)) != len(out):
        dup = sorted(n for n, c in Counter(out).items() if c > 1)
        raise DataError(f"{path}: duplicate class names {dup}")
    return out
