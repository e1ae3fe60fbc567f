"""Training: one config dataclass, a fast loop, checkpoints, predicted probabilities.

``train(config, images, labels, ...) -> TrainResult`` trains a model that takes raw images;
``predict_proba(model, images)`` gives its (N, K) probabilities; ``find_overfit_point`` is
the paper's precursor experiment (when does test loss start rising on clean labels).
"""

from robustloss.train.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    warmup_compatible,
)
from robustloss.train.config import OPTIMIZERS, PRECISIONS, TrainConfig
from robustloss.train.engine import (
    HISTORY_KEYS,
    TrainResult,
    format_epoch,
    permutation_seed,
    train,
)
from robustloss.train.overfit import crossover, find_overfit_point, first_rise
from robustloss.train.predict import predict_proba

__all__ = [
    "HISTORY_KEYS",
    "OPTIMIZERS",
    "PRECISIONS",
    "TrainConfig",
    "TrainResult",
    "checkpoint_path",
    "crossover",
    "find_overfit_point",
    "first_rise",
    "format_epoch",
    "load_checkpoint",
    "permutation_seed",
    "predict_proba",
    "save_checkpoint",
    "train",
    "warmup_compatible",
]
