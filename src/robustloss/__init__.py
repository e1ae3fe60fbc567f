"""robustloss: loss functions robust to label errors, and finding the wrong labels.

Layers, data flowing one way (lower layers never import higher ones)::

    data -> noise -> train (losses, models) -> detect -> experiments -> report
                                                                    cli on top
"""

__version__ = "0.1.0"

__all__ = ["RobustClassifier", "__version__"]


def __getattr__(name: str):
    # Lazy: ``import robustloss`` stays light; the estimator pulls in torch and scikit-learn.
    if name == "RobustClassifier":
        from robustloss.estimator import RobustClassifier

        return RobustClassifier
    raise AttributeError(f"module 'robustloss' has no attribute {name!r}")
