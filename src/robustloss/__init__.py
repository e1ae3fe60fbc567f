"""robustloss: loss functions robust to label errors, and finding the wrong labels.

Layers, data flowing one way (lower layers never import higher ones)::

    data -> noise -> train (losses, models) -> detect -> experiments -> report
                                                                    cli on top
"""

__version__ = "0.1.0"
