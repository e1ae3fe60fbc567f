"""One path to a user's images, whatever its kind: :func:`load_path` picks the reader.

A folder of class subfolders and an ``.npz`` file are read by
:mod:`robustloss.data.user.folder`; a ``.csv`` manifest by
:mod:`robustloss.data.user.manifest` (which builds on the folder reader, so this choice
lives above both).
"""

from __future__ import annotations

import os
from pathlib import Path

from robustloss.data.errors import DataError
from robustloss.data.user.folder import ImageSet, load_folder, load_npz
from robustloss.data.user.manifest import load_manifest

__all__ = ["load_path"]


def load_path(
    path: str | os.PathLike[str], *, image_size: int | tuple[int, int] | None = None
) -> ImageSet:
    """A folder -> :func:`~robustloss.data.user.folder.load_folder`; a ``.npz`` file ->
    :func:`~robustloss.data.user.folder.load_npz`; a ``.csv`` manifest ->
    :func:`~robustloss.data.user.manifest.load_manifest`.

    Raises:
        DataError: the path does not exist or is neither.
        ValueError: ``image_size`` given for an ``.npz`` (its images are used as they are).
    """
    path = Path(path)
    if path.is_dir():
        return load_folder(path, image_size=image_size)
    if not path.exists():
        raise DataError(f"{path}: does not exist")
    if path.suffix.lower() == ".npz":
        if image_size is not None:
            raise ValueError(f"image_size applies to image folders only, got {image_size!r} "
                             f"for the .npz file {path}")  # fmt: skip
        return load_npz(path)
    if path.suffix.lower() == ".csv":
        return load_manifest(path, image_size=image_size)
    raise DataError(
        f"{path}: expected a folder of class subfolders, an .npz file or a .csv manifest"
    )
