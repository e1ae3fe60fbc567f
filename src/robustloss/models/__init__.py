"""Models: the networks, and nothing that trains them.

- :mod:`robustloss.models.images`: image classifiers (the paper's CNN, a tiny CNN for
  tests) behind one :class:`ImageClassifier` that scales its own inputs.
- :mod:`robustloss.models.heads`: classifiers on feature vectors (embeddings): linear and
  MLP heads, and :func:`penultimate` (an image network's embedding).

May import: torch only (no other robustloss package).
"""

from robustloss.models.heads import (
    HEAD_NAMES,
    MLP_DROPOUT,
    MLP_HIDDEN,
    FeatureClassifier,
    LinearHead,
    MLPHead,
    Standardize,
    make_head,
    penultimate,
)
from robustloss.models.images import (
    MODEL_NAMES,
    SCALINGS,
    BitDropout,
    ImageClassifier,
    InputScaling,
    PaperCNN,
    TinyCNN,
    channel_stats,
    make_model,
)

__all__ = [
    "HEAD_NAMES",
    "MLP_DROPOUT",
    "MLP_HIDDEN",
    "MODEL_NAMES",
    "SCALINGS",
    "BitDropout",
    "FeatureClassifier",
    "ImageClassifier",
    "InputScaling",
    "LinearHead",
    "MLPHead",
    "PaperCNN",
    "Standardize",
    "TinyCNN",
    "channel_stats",
    "make_head",
    "make_model",
    "penultimate",
]
