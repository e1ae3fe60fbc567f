"""The defaults of a run, in one table: the presets, and ``detect``'s over ``run``'s.

``robustloss run``'s defaults are :class:`~robustloss.run.config.RunConfig`'s field defaults
(this library's clean choices). :data:`PRESETS` ``["paper"]`` holds the authors' settings.
``robustloss detect`` (the command line) and
:meth:`~robustloss.run.config.RunConfig.for_detect` (the config of
:func:`~robustloss.run.pipeline.detect_own_data`, ``detect_features`` and
``detect_pred_probs``) both take :func:`detect_defaults` over them, so a library user and a
command-line user who give the same settings get the same config, and the same answer.

Layering: given settings > a preset > detect's defaults > RunConfig's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from robustloss.losses import CONFIG_LOSS_PARAMS
from robustloss.search.criteria import AUTO

__all__ = [
    "DETECT_DEFAULTS",
    "DETECT_FIXED_LOSS_DEFAULTS",
    "DETECT_SOURCES",
    "FEATURE_DEFAULTS",
    "PRESETS",
    "detect_defaults",
]

PRESETS: dict[str, dict[str, Any]] = {
    # Every setting of the authors' public code (see DESIGN.md, "What the authors' public
    # code did"). Loss hyperparameters are not part of it (they depend on --loss). Their
    # mixed precision was CUDA AMP: "amp" here is float16 AMP on CUDA and, on a CPU, bf16
    # autocast (what robustloss.train does for "amp" there; on a CPU without native bf16
    # that is slow, and the run warns with the measured factor; recorded in config.json's
    # train_config). `--precision auto` overrides it.
    "paper": {
        "noise_kind": "bernoulli",  # each label flipped independently with probability rho
        "noise_seed": 1,  # their corruption seed
        "epochs": 10,
        "batch_size": 64,
        "lr": 1e-4,  # not Adam's default 1e-3
        "scaling": "raw",  # pixel values 0..255 as floats, no normalisation
        "model": "paper-cnn",
        "protocol": "paper-cv",  # one model carried across 5 shuffled KFold folds
        "folds": 5,
        "method": "both",
        "rank_by": "self_confidence",
        "precision": "amp",
    }
}

#: ``detect``'s defaults where ``run``'s differ: settings chosen from the data (the loss,
#: its parameter, the delay and the epochs, without ground truth: :mod:`robustloss.search`),
#: and out-of-sample probabilities (there is no known corruption to score against, so the
#: safer protocol is worth its cost). A given ``loss`` drops the loss default.
DETECT_DEFAULTS: Mapping[str, Any] = MappingProxyType({"protocol": "cv", "loss": AUTO})

#: ``detect``'s loss where no search runs: on embeddings (heads), or when a loss parameter
#: (``gamma=0.3``) or a ``delay`` is given without a ``loss``. Also
#: :class:`robustloss.estimator.RobustClassifier`'s default loss.
DETECT_FIXED_LOSS_DEFAULTS: Mapping[str, Any] = MappingProxyType({"loss": "blurry", "gamma": 0.4})

#: ``detect`` on embeddings: batches of 1024 at Adam 1e-2. A head on standardized
#: embeddings learns as well from large batches, with 16x fewer steps than 64; the larger
#: rate keeps small data sets (a few thousand rows, a few steps per epoch) from
#: under-fitting. On the benchmark's mixtures (3,000 and 20,000 rows, 10% flipped) CL's F1
#: was 0.97 / 0.99 with these, 0.84 / 0.99 at 1024 and 1e-3.
FEATURE_DEFAULTS: Mapping[str, Any] = MappingProxyType({"batch_size": 1024, "lr": 1e-2})

#: What ``detect`` reads: images (``data``), embeddings (``features``) or given
#: probabilities (``pred_probs``, which train nothing and so take no training defaults).
DETECT_SOURCES: tuple[str, ...] = ("images", "features", "pred-probs")


def detect_defaults(source: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``detect``'s defaults for ``source`` (one of :data:`DETECT_SOURCES`), given the
    settings ``given`` (a value None counts as not given).

    Images: :data:`DETECT_DEFAULTS` (``loss`` auto, protocol cv); with a loss parameter or a
    ``delay`` but no ``loss``, :data:`DETECT_FIXED_LOSS_DEFAULTS`'s loss instead (so
    ``gamma=0.3`` is the Blurry Loss's). Embeddings: the fixed loss (a search trains CNNs on
    images), protocol cv and :data:`FEATURE_DEFAULTS`. Given probabilities: none.
    """
    if source not in DETECT_SOURCES:
        raise ValueError(
            f"Expected a detect source among {', '.join(DETECT_SOURCES)}, but got {source!r}"
        )
    if source == "pred-probs":
        return {}
    named = {k for k, v in (given or {}).items() if v is not None}
    defaults = dict(DETECT_DEFAULTS)
    if "loss" in named:
        del defaults["loss"]
    elif source == "features" or named & {*CONFIG_LOSS_PARAMS, "delay"}:
        defaults.update(DETECT_FIXED_LOSS_DEFAULTS)
    if source == "features":
        defaults.update(FEATURE_DEFAULTS)
    return defaults
