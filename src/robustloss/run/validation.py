"""What a run's settings may be, and the checks a :class:`~robustloss.run.config.RunConfig`
runs when it is built.

The vocabularies (:data:`PROTOCOLS`, :data:`RETIRED_PROTOCOLS`, :data:`LOSS_CHOICES`, ...)
and :func:`check_run_config`: every field, in the order of the phases of a run that use
them; every bad value a ``ValueError`` naming the key and its flag, what was expected and
what was got, before any data is loaded or any model trained. The training settings'
checks are :class:`~robustloss.train.config.TrainSettings`' own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustloss.data import DATASETS
from robustloss.detect import DETECTORS, METHODS, RANK_BY, needs
from robustloss.losses import (
    CONFIG_LOSS_PARAMS,
    LOSS_NAMES,
    LOSS_PARAM_SPECS,
    LOSS_PARAMS,
    make_loss,
)
from robustloss.models.heads import HEAD_NAMES
from robustloss.noise import NOISE_KINDS
from robustloss.probs.protocols import PROTOCOLS as PROTOCOL_TABLE
from robustloss.search.criteria import AUTO, AUTO_PARAMS, CRITERIA
from robustloss.train.config import check_bool, check_choice, check_float, check_int

if TYPE_CHECKING:  # the checks take a RunConfig; robustloss.run.config imports them
    from robustloss.run.config import RunConfig

__all__ = [
    "FLOAT_LOSS_FIELDS",
    "LOSS_CHOICES",
    "LOSS_FIELDS",
    "NOISE_KINDS_CLI",
    "PROTOCOLS",
    "RETIRED_PROTOCOLS",
    "check_run_config",
    "compared_detectors",
    "flag",
    "where",
]

PROTOCOLS: tuple[str, ...] = tuple(PROTOCOL_TABLE)
"""How the predicted probabilities are obtained (see :mod:`robustloss.probs.protocols`):
``in-sample`` (train on all, predict all), ``cv`` (stratified K-fold, a fresh model per fold,
out-of-fold probabilities: what cleanlab recommends) and ``paper-cv`` (the authors' code: one
model carried across ``KFold(shuffle=True)`` folds; reproduces their protocol, not
recommended: folds 2..K have already trained on their held-out samples). Runs on
``features`` take ``in-sample`` and ``cv``."""

#: Protocols measured and retired, with the reason: a config or spec naming one is a
#: ValueError that says it. Their measurements stay in benchmarks/results and in git.
RETIRED_PROTOCOLS: dict[str, str] = {
    "embed-cv": "was measured against in-sample and cv (MNIST and Fashion-MNIST, rho 0.2, "
    "3 seeds at 10,000 examples and one full-size seed) and scored below in-sample at the "
    "same cost every time, so it was retired (the documentation's benchmarks: Detection, 'A "
    "cheaper out-of-sample protocol'); "
    "use --protocol in-sample (same cost, higher F1) or cv",
}

#: What ``loss`` may be: a loss of :data:`robustloss.losses.LOSS_NAMES`, or "auto" (chosen
#: from the given labels alone: :mod:`robustloss.search`).
LOSS_CHOICES: tuple[str, ...] = (*LOSS_NAMES, AUTO)

#: Noise kinds a run can use: "matrix" needs a transition matrix, which no flag carries.
NOISE_KINDS_CLI: tuple[str, ...] = tuple(k for k in NOISE_KINDS if k != "matrix")

#: RunConfig fields that are loss hyperparameters (each belongs to some losses only); an
#: alias of :data:`robustloss.losses.CONFIG_LOSS_PARAMS`, where they are described.
LOSS_FIELDS: tuple[str, ...] = CONFIG_LOSS_PARAMS

#: The loss hyperparameters that are numbers (all of them but the ``detach_weight`` flag).
FLOAT_LOSS_FIELDS: tuple[str, ...] = tuple(
    k for k in CONFIG_LOSS_PARAMS if LOSS_PARAM_SPECS[k].type is float
)


def flag(key: str) -> str:
    """The flag of a setting: ``noise_kind`` is ``--noise-kind``."""
    return "--" + key.replace("_", "-")


def where(key: str) -> str:
    """A setting named in an error: its key and its flag."""
    return f"`{key}` ({flag(key)})"


def _check_int(key: str, value: Any, low: int, *, optional: bool = False) -> None:
    check_int(key, value, low, where, optional=optional)


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    check_choice(key, value, choices, where)


def compared_detectors(cfg: RunConfig) -> tuple[str, ...]:
    """The names ``compare_detectors`` gives ("all": every detector)."""
    text = str(cfg.compare_detectors).strip()
    if text == "all":
        return DETECTORS
    return tuple(n.strip() for n in text.split(",") if n.strip())


def check_run_config(cfg: RunConfig) -> None:
    """Every field, in the order of the phases of a run that use them."""
    _check_data(cfg)
    _check_noise(cfg)
    _check_loss(cfg)
    _check_training(cfg)
    _check_detection(cfg)
    _check_runtime(cfg)

def _check_data(cfg: RunConfig) -> None:
    sources = [
        k for k in ("dataset", "data", "features", "pred_probs") if getattr(cfg, k) is not None
    ]
    if cfg.features is not None or cfg.pred_probs is not None:
        _check_feature_source(cfg, sources)
    elif (cfg.dataset is None) == (cfg.data is None):
        raise ValueError(
            "Expected exactly one of `dataset` (--dataset) and `data` (--data), but got "
            + ("both" if cfg.dataset is not None else "neither")
        )
    if cfg.dataset is not None:
        _check_choice("dataset", cfg.dataset, tuple(DATASETS))
    if cfg.data is not None and (not isinstance(cfg.data, str) or not cfg.data):
        raise ValueError(f"Expected {where('data')} to be a path, but got {cfg.data!r}")
    if cfg.labels is not None and cfg.features is None and cfg.pred_probs is None:
        raise ValueError(
            f"{where('labels')} goes with --features or --pred-probs, but got "
            f"{flag('data') if cfg.data else flag('dataset')}: images carry their labels"
        )
    if cfg.labels_column is not None and cfg.labels is None:
        raise ValueError(f"{where('labels_column')} needs {where('labels')} (a CSV file)")
    if cfg.head is not None:
        _check_choice("head", cfg.head, HEAD_NAMES)
        if cfg.features is None:
            raise ValueError(
                f"{where('head')} applies to --features runs, but got it with "
                f"{flag('pred_probs') if cfg.pred_probs else 'images'}"
            )

def _check_feature_source(cfg: RunConfig, sources: list[str]) -> None:
    if len(sources) != 1:
        raise ValueError(
            "Expected exactly one data source among `dataset` (--dataset), `data` "
            "(--data), `features` (--features) and `pred_probs` (--pred-probs), but got "
            + ", ".join(sources)
        )
    key = sources[0]
    value = getattr(cfg, key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"Expected {where(key)} to be a path, but got {value!r}")
    if cfg.pred_probs is not None and cfg.labels is None:
        raise ValueError(f"{where('pred_probs')} needs {where('labels')}: the given labels")
    if cfg.features is not None and cfg.protocol not in ("in-sample", "cv"):
        raise ValueError(
            f"Expected {where('protocol')} with --features to be in-sample or cv, but got "
            f"{cfg.protocol!r}"
        )

def _check_noise(cfg: RunConfig) -> None:
    check_float("noise", cfg.noise, "a rate in [0, 1]", lambda v: 0.0 <= v <= 1.0, where)
    _check_choice("noise_kind", cfg.noise_kind, NOISE_KINDS_CLI)
    _check_int("noise_seed", cfg.noise_seed, 0, optional=True)

def _check_loss(cfg: RunConfig) -> None:
    _check_choice("loss", cfg.loss, LOSS_CHOICES)
    if cfg.auto_criterion is not None:
        _check_choice("auto_criterion", cfg.auto_criterion, CRITERIA)
    if cfg.loss == AUTO:
        _check_auto_loss(cfg)
        return
    accepted = LOSS_PARAMS[cfg.loss]
    for key in LOSS_FIELDS:
        if getattr(cfg, key) is not None and key not in accepted:
            takes = ", ".join(flag(k) for k in accepted if k in LOSS_FIELDS) or "none"
            raise ValueError(
                f"{where(key)} does not belong to loss {cfg.loss!r}; "
                f"its hyperparameters: {takes}"
            )
    check_bool("detach_weight", cfg.detach_weight, where, optional=True)
    chosen = cfg.auto_param()
    if chosen is not None:
        _check_auto_common(cfg, f"{flag(chosen)} auto")
        if cfg.loss == "pz" and cfg.delay:
            raise ValueError(
                f"{flag('cutoff')} auto chooses pz's delay too, but got "
                f"{flag('delay')} {cfg.delay}"
            )
    params = dict(cfg.loss_params())
    if chosen is not None:  # check the fixed ones with a value of the grid
        params[chosen] = AUTO_PARAMS[cfg.loss][1][0]
    try:  # the loss module's own checks: ranges, required parameters
        make_loss(cfg.loss, **params)
    except ValueError as exc:
        raise ValueError(f"{flag('loss')} {cfg.loss}: {exc}") from None

def _check_auto_loss(cfg: RunConfig) -> None:
    given = [flag(k) for k in LOSS_FIELDS if getattr(cfg, k) is not None]
    if given:
        raise ValueError(
            f"{flag('loss')} auto chooses the loss and its parameters, but got "
            f"{', '.join(given)} too: drop them, or name the loss and choose one parameter "
            f"(e.g. {flag('loss')} blurry {flag('gamma')} auto)"
        )
    if cfg.delay:
        raise ValueError(
            f"{flag('loss')} auto chooses the delay too, but got {flag('delay')} {cfg.delay}"
        )
    _check_auto_common(cfg, f"{flag('loss')} auto")

def _check_auto_common(cfg: RunConfig, what: str) -> None:
    if cfg.features is not None or cfg.pred_probs is not None:
        raise ValueError(
            f"{what} trains candidate CNNs on images; with "
            f"{flag('features') if cfg.features else flag('pred_probs')} name the loss "
            f"(e.g. {flag('loss')} blurry {flag('gamma')} 0.4)"
        )
    if cfg.early_stop:
        raise ValueError(
            f"{what} chooses the epochs on a held-out split of its own; "
            f"{flag('early_stop')} would hold out a second one: got both"
        )

def _check_training(cfg: RunConfig) -> None:
    cfg.check_train_settings(where)  # TrainSettings': epochs ... model
    if cfg.delay > cfg.epochs:
        raise ValueError(
            f"Expected {where('delay')} <= epochs ({cfg.epochs}), but got {cfg.delay}: "
            "the chosen loss would never be used"
        )
    _check_int("subset", cfg.subset, 2, optional=True)
    if cfg.protocol in RETIRED_PROTOCOLS:
        raise ValueError(
            f"Expected {where('protocol')} to be one of {', '.join(PROTOCOLS)}, but got "
            f"{cfg.protocol!r}, retired: {cfg.protocol} {RETIRED_PROTOCOLS[cfg.protocol]}"
        )
    _check_choice("protocol", cfg.protocol, PROTOCOLS)
    _check_int("folds", cfg.folds, 2)

def _check_detection(cfg: RunConfig) -> None:
    _check_choice("method", cfg.method, METHODS)
    _check_choice("rank_by", cfg.rank_by, RANK_BY)
    _check_choice("detector", cfg.detector, DETECTORS)
    if cfg.compare_detectors is not None:
        names = compared_detectors(cfg)
        bad = [n for n in names if n not in DETECTORS]
        if not names or bad:
            raise ValueError(
                f"Expected {where('compare_detectors')} to be 'all' or comma-separated "
                f"names among {', '.join(DETECTORS)}, but got {cfg.compare_detectors!r}"
            )
    wanted = needs(cfg.detectors_run())
    if "aum" in wanted and (cfg.features is not None or cfg.pred_probs is not None):
        raise ValueError(
            f"detector(s) {_needing(cfg, 'aum')} need training margins of a CNN on images; "
            f"got {flag('features') if cfg.features else flag('pred_probs')}"
        )
    if "aum" in wanted and cfg.early_stop:
        raise ValueError(
            f"detector(s) {_needing(cfg, 'aum')} average margins over every training "
            f"epoch of every example; {where('early_stop')} holds some out: got both"
        )
    if "features" in wanted and cfg.pred_probs is not None:
        raise ValueError(
            f"detector(s) {_needing(cfg, 'features')} need features (images or "
            f"{flag('features')}); got only {flag('pred_probs')}"
        )

def _needing(cfg: RunConfig, what: str) -> str:
    return ", ".join(n for n in cfg.detectors_run() if what in needs([n]))

def _check_runtime(cfg: RunConfig) -> None:
    _check_int("image_size", cfg.image_size, 6, optional=True)
    if cfg.image_size is not None and (
        cfg.data is None or cfg.data.lower().endswith(".npz")
    ):
        raise ValueError(
            f"{where('image_size')} applies to image folders (--data FOLDER) only, "
            f"but got it with {flag('dataset') if cfg.data is None else cfg.data}"
        )
