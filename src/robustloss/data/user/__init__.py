"""A user's own data: image folders, ``.npz`` files and CSV manifests (``folder``,
``manifest``, ``paths``), embeddings and predicted probabilities (``features``), and class
labels given as names or indices (``labels``).

May import: ``robustloss._io`` and ``robustloss.data.errors``; never the built-in datasets.
"""
