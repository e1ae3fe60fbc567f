"""A user's own data. The modules, lowest first:

- ``labels``: class labels given as indices or names (an ``.npy``, a text file or a CSV
  column), and the one rule that reads a label text.
- ``features``: embeddings and predicted probabilities, checked, read in bounded memory.
- ``folder``: an image folder of class subfolders, or an ``.npz`` of images, as an
  :class:`~robustloss.data.user.folder.ImageSet`.
- ``manifest``: a CSV manifest listing images and their labels (built on ``folder``).
- ``paths``: :func:`~robustloss.data.user.paths.load_path`, one path of any of those kinds.

May import: ``robustloss._io`` and ``robustloss.data.errors``; never the built-in datasets
(:mod:`robustloss.data.builtin`).
"""
