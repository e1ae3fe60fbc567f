"""Training: one config dataclass, a fast loop, checkpoints, predicted probabilities.

``train(config, images, labels, ...) -> TrainResult`` trains a model that takes raw images;
``predict_proba(model, images)`` gives its (N, K) probabilities. The modules, in the order a
run uses them: ``config``, ``inputs`` (arrays checked once), ``rng``, ``precision``,
``build`` (model, optimizer, loss), ``loop`` (one epoch), ``margins``, ``early_stop``,
``checkpoint`` and ``resume``, ``records`` (TrainResult, the history), ``engine`` (the run's
phases), ``predict``; ``head_training`` trains heads on feature vectors. The paper's
precursor experiment (``find_overfit_point``) is in :mod:`robustloss.run.overfit`: it
loads data, which the training layer does not.

May import: ``models``, ``losses``, ``seeds``, ``data`` (feature matrices), ``provenance``.
"""

from robustloss.train.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    warmup_compatible,
)
from robustloss.train.config import OPTIMIZERS, PRECISIONS, TrainConfig
from robustloss.train.engine import HISTORY_KEYS, TrainResult, format_epoch, train
from robustloss.train.predict import predict_proba
from robustloss.train.rng import permutation_seed

__all__ = [
    "HISTORY_KEYS",
    "OPTIMIZERS",
    "PRECISIONS",
    "TrainConfig",
    "TrainResult",
    "checkpoint_path",
    "format_epoch",
    "load_checkpoint",
    "permutation_seed",
    "predict_proba",
    "save_checkpoint",
    "train",
    "warmup_compatible",
]
