"""robustloss: loss functions robust to label errors, and finding the wrong labels.

Layers, top to bottom; a package imports only those below it (``.importlinter`` checks it,
ARCHITECTURE.md explains it)::

    cli
    estimator | review | report
    sweeps
    run
    search | probs
    train
    data
    detect | noise
    models
    losses | seeds
    _io | provenance | _version
"""

from robustloss._version import __version__

__all__ = ["RobustClassifier", "__version__"]


def __getattr__(name: str):
    if name == "RobustClassifier":
        # Lazy: ``import robustloss`` stays light; the estimator pulls in torch and sklearn.
        from robustloss.estimator import RobustClassifier

        return RobustClassifier
    raise AttributeError(f"module 'robustloss' has no attribute {name!r}")
