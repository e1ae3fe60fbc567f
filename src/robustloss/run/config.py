"""One run's settings: :class:`RunConfig`, the ``paper`` preset, and a stable config hash.

A :class:`RunConfig` field is a ``robustloss run`` flag in snake_case (``--noise-kind`` is
``noise_kind``), a sweep spec key, and a key of the ``config.json`` in every run folder. It
is validated when built: every bad value raises ``ValueError`` naming the key and its flag,
what was expected and what was got, before any data is loaded or any model trained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

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
from robustloss.models.images import MODEL_NAMES, SCALINGS
from robustloss.noise import NOISE_KINDS
from robustloss.search.autoselect import AUTO, AUTO_PARAMS, CRITERIA, resolve_criterion
from robustloss.train.precision import PRECISIONS  # the list TrainConfig checks, re-exported

__all__ = [
    "CLI_PROTOCOLS",
    "FLOAT_LOSS_FIELDS",
    "LOSS_FIELDS",
    "NOISE_KINDS_CLI",
    "PRECISIONS",
    "PRESETS",
    "PROTOCOLS",
    "RETIRED_PROTOCOLS",
    "RunConfig",
    "config_hash",
]

PROTOCOLS: tuple[str, ...] = ("in-sample", "cv", "paper-cv", "embed-cv")
"""How the predicted probabilities are obtained (see :mod:`robustloss.probs.protocols`):
``in-sample`` (train on all, predict all), ``cv`` (stratified K-fold, a fresh model per fold,
out-of-fold probabilities: what cleanlab recommends) and ``paper-cv`` (the authors' code: one
model carried across ``KFold(shuffle=True)`` folds; reproduces their protocol, not
recommended: folds 2..K have already trained on their held-out samples); ``embed-cv`` (one CNN
in-sample, then K heads out-of-fold on its penultimate embeddings:
:mod:`robustloss.probs.features`). Runs on ``features`` take ``in-sample``
and ``cv``."""

#: Protocols measured and not kept for users, with the reason: the command line refuses them;
#: the library still runs them, so the measurement that retired them reruns
#: (``benchmarks/protocol_compare.py``).
RETIRED_PROTOCOLS: dict[str, str] = {
    "embed-cv": "was measured against in-sample and cv (MNIST and Fashion-MNIST, rho 0.2, "
    "3 seeds at 10,000 examples and one full-size seed) and scored below in-sample at the "
    "same cost every time, so it is not offered (README: 'A cheaper out-of-sample protocol'); "
    "use --protocol in-sample (same cost, higher F1) or cv",
}

#: The protocols ``robustloss run`` and ``detect`` offer (a sweep spec takes any of PROTOCOLS).
CLI_PROTOCOLS: tuple[str, ...] = tuple(p for p in PROTOCOLS if p not in RETIRED_PROTOCOLS)

#: Fields added for embeddings and given probabilities; left None they stay out of
#: :func:`config_hash`, so configs without them hash as before these fields existed.
SOURCE_FIELDS: tuple[str, ...] = ("features", "labels", "labels_column", "pred_probs", "head")

#: Fields added for the detectors beside Confident Learning, with the value that leaves them
#: out of :func:`config_hash` (so default configs hash as before these fields existed).
DETECTOR_FIELD_DEFAULTS: dict[str, Any] = {"detector": "cl", "compare_detectors": None}

#: Fields added for settings chosen without ground truth (``loss="auto"``), likewise (a
#: config without a search). A search's auto_criterion None is the protocol's default
#: (autoselect.default_criterion), which :meth:`RunConfig.resolved` fills in before hashing.
AUTO_FIELD_DEFAULTS: dict[str, Any] = {"auto_criterion": None}

_HASH_DEFAULTS: dict[str, Any] = {**DETECTOR_FIELD_DEFAULTS, **AUTO_FIELD_DEFAULTS}

#: What ``loss`` may be: a loss of :data:`robustloss.losses.LOSS_NAMES`, or "auto" (chosen
#: from the given labels alone: :mod:`robustloss.search.autoselect`).
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

_FLOAT_FIELDS: tuple[str, ...] = ("noise", *FLOAT_LOSS_FIELDS, "lr", "holdout")

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

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


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _where(key: str) -> str:
    return f"`{key}` ({_flag(key)})"


def _check_int(key: str, value: Any, low: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"Expected {_where(key)} to be an integer >= {low}, but got {value!r}")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"Expected {_where(key)} to be one of {', '.join(choices)}, but got {value!r}"
        )


def _check_float(key: str, value: Any, expected: str, ok) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected {_where(key)} to be {expected}, but got {value!r}")
    if not ok(float(value)):
        raise ValueError(f"Expected {_where(key)} to be {expected}, but got {value!r}")


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run: corrupt a dataset, train, predict, detect, score.

    Exactly one of ``dataset`` (a built-in dataset, which has a clean test split) and ``data``
    (a path: an ``.npz`` or an image folder with one sub-folder per class) is set. Loss
    hyperparameters left ``None`` take the loss's default; setting one that the chosen loss
    does not accept (``gamma`` with ``loss="ce"``) is an error, as is leaving out a required
    one (blurry's ``gamma``, pz's ``cutoff``). ``noise_seed=None`` uses ``seed``.
    The defaults are this library's clean choices; :data:`PRESETS` ``["paper"]`` holds the
    authors'.
    """

    dataset: str | None = "mnist"
    data: str | None = None
    noise: float = 0.2
    noise_kind: str = "symmetric"
    noise_seed: int | None = None
    # "auto": the loss, its parameter, the delay and the epochs chosen from the given labels
    # alone (robustloss.search.autoselect); gamma/cutoff/q "auto": that one parameter.
    loss: str = "ce"
    gamma: float | str | None = None
    cutoff: float | str | None = None
    q: float | str | None = None
    alpha: float | None = None
    beta: float | None = None
    detach_weight: bool | None = None
    delay: int = 0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3  # Adam's default; the authors used 1e-4 (see PRESETS["paper"])
    seed: int = 0
    subset: int | None = None
    protocol: str = "in-sample"
    folds: int = 5
    method: str = "both"  # cleanlab filter_by; the paper's choice (not cleanlab's default)
    rank_by: str = "self_confidence"
    # Which detector flags the suspects (robustloss.detect.DETECTORS): "cl" (Confident
    # Learning), "aum", "aum-count", "margin", "self-confidence", "knn", "vote".
    detector: str = "cl"
    # Also score these detectors on the same trained model(s): "all" or comma-separated
    # names; each one's flags and cost go into the summary's `detectors` (no retraining).
    compare_detectors: str | None = None
    # "auto": bf16 on CPUs with native bf16 (AVX512-BF16/AMX), else fp32, channels-last on
    # any CPU; bf16 or float16 autocast on CUDA (robustloss.train.precision). channels_last
    # None: channels-last where "auto" resolves on a CPU.
    precision: str = "auto"
    channels_last: bool | None = None
    # Clean test split: after the last epoch only (0), or also every k epochs (1: a curve).
    test_every: int = 0
    # Label-free early stopping: hold out `holdout` of the noisy labels, stop after
    # `patience` epochs without a better held-out accuracy (`epochs` is then the most).
    early_stop: bool = False
    holdout: float = 0.1
    patience: int = 2
    device: str = "auto"
    scaling: str = "standardize"
    model: str = "paper-cnn"
    threads: int | None = None
    image_size: int | None = None  # image folders only: resize every image to this square
    # Embeddings (an .npy / .npz of (N, D) features) or given probabilities ((N, K)) instead
    # of images, with their labels (robustloss.data.user.features); the head trained on features
    # (or on embed-cv's CNN embeddings): "linear" (default) or "mlp".
    features: str | None = None
    labels: str | None = None
    labels_column: str | None = None
    pred_probs: str | None = None
    head: str | None = None
    # The criterion a loss="auto" search chooses by (robustloss.search.autoselect); None:
    # the protocol's default (canary-f1-structured in-sample, holdout-acc for cv), which
    # resolved() names.
    auto_criterion: str | None = None

    def __post_init__(self) -> None:
        self._validate()
        # Canonical types, so that noise=0 and noise=0.0 are the same config (and hash).
        for key in _FLOAT_FIELDS:
            value = getattr(self, key)
            if value is not None and value != AUTO:
                object.__setattr__(self, key, float(value))

    # ----- validation ------------------------------------------------------------------

    def _validate(self) -> None:
        """Every field, in the order of the phases of a run that use them."""
        self._check_data()
        self._check_noise()
        self._check_loss()
        self._check_training()
        self._check_detection()
        self._check_runtime()

    def _check_data(self) -> None:
        sources = [
            k for k in ("dataset", "data", "features", "pred_probs") if getattr(self, k) is not None
        ]
        if self.features is not None or self.pred_probs is not None:
            self._check_feature_source(sources)
        elif (self.dataset is None) == (self.data is None):
            raise ValueError(
                "Expected exactly one of `dataset` (--dataset) and `data` (--data), but got "
                + ("both" if self.dataset is not None else "neither")
            )
        if self.dataset is not None:
            _check_choice("dataset", self.dataset, tuple(DATASETS))
        if self.data is not None and (not isinstance(self.data, str) or not self.data):
            raise ValueError(f"Expected {_where('data')} to be a path, but got {self.data!r}")
        if self.labels is not None and self.features is None and self.pred_probs is None:
            raise ValueError(
                f"{_where('labels')} goes with --features or --pred-probs, but got "
                f"{_flag('data') if self.data else _flag('dataset')}: images carry their labels"
            )
        if self.labels_column is not None and self.labels is None:
            raise ValueError(f"{_where('labels_column')} needs {_where('labels')} (a CSV file)")
        if self.head is not None:
            _check_choice("head", self.head, HEAD_NAMES)
            if self.features is None and self.protocol != "embed-cv":
                raise ValueError(
                    f"{_where('head')} applies to --features runs and --protocol embed-cv, "
                    f"but got protocol {self.protocol!r} on images"
                )

    def _check_feature_source(self, sources: list[str]) -> None:
        if len(sources) != 1:
            raise ValueError(
                "Expected exactly one data source among `dataset` (--dataset), `data` "
                "(--data), `features` (--features) and `pred_probs` (--pred-probs), but got "
                + ", ".join(sources)
            )
        key = sources[0]
        value = getattr(self, key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"Expected {_where(key)} to be a path, but got {value!r}")
        if self.pred_probs is not None and self.labels is None:
            raise ValueError(f"{_where('pred_probs')} needs {_where('labels')}: the given labels")
        if self.features is not None and self.protocol not in ("in-sample", "cv"):
            raise ValueError(
                f"Expected {_where('protocol')} with --features to be in-sample or cv, but got "
                f"{self.protocol!r}"
            )

    def _check_noise(self) -> None:
        _check_float("noise", self.noise, "a rate in [0, 1]", lambda v: 0.0 <= v <= 1.0)
        _check_choice("noise_kind", self.noise_kind, NOISE_KINDS_CLI)
        _check_int("noise_seed", self.noise_seed, 0, optional=True)

    def _check_loss(self) -> None:
        _check_choice("loss", self.loss, LOSS_CHOICES)
        if self.auto_criterion is not None:
            _check_choice("auto_criterion", self.auto_criterion, CRITERIA)
        if self.loss == AUTO:
            self._check_auto_loss()
            return
        accepted = LOSS_PARAMS[self.loss]
        for key in LOSS_FIELDS:
            if getattr(self, key) is not None and key not in accepted:
                takes = ", ".join(_flag(k) for k in accepted if k in LOSS_FIELDS) or "none"
                raise ValueError(
                    f"{_where(key)} does not belong to loss {self.loss!r}; "
                    f"its hyperparameters: {takes}"
                )
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise ValueError(
                f"Expected {_where('channels_last')} to be true, false or unset (auto), "
                f"but got {self.channels_last!r}"
            )
        if self.detach_weight is not None and not isinstance(self.detach_weight, bool):
            raise ValueError(
                f"Expected {_where('detach_weight')} to be true or false, "
                f"but got {self.detach_weight!r}"
            )
        chosen = self.auto_param()
        if chosen is not None:
            self._check_auto_common(f"{_flag(chosen)} auto")
            if self.loss == "pz" and self.delay:
                raise ValueError(
                    f"{_flag('cutoff')} auto chooses pz's delay too, but got "
                    f"{_flag('delay')} {self.delay}"
                )
        params = dict(self.loss_params())
        if chosen is not None:  # check the fixed ones with a value of the grid
            params[chosen] = AUTO_PARAMS[self.loss][1][0]
        try:  # the loss module's own checks: ranges, required parameters
            make_loss(self.loss, **params)
        except ValueError as exc:
            raise ValueError(f"{_flag('loss')} {self.loss}: {exc}") from None

    def auto_param(self) -> str | None:
        """The loss hyperparameter set to "auto" (``--gamma auto``), or None.

        Raises:
            ValueError: "auto" for a parameter that cannot be chosen, or for two.
        """
        named = [k for k in LOSS_FIELDS if getattr(self, k) == AUTO]
        if not named:
            return None
        choosable = ", ".join(f"{loss} {_flag(p)}" for loss, (p, _) in AUTO_PARAMS.items())
        if len(named) > 1 or AUTO_PARAMS.get(self.loss, ("",))[0] != named[0]:
            raise ValueError(
                f"Expected 'auto' for one parameter of the loss among: {choosable}; but got "
                f"{', '.join(_flag(k) for k in named)} auto with {_flag('loss')} {self.loss}"
            )
        return named[0]

    def _check_auto_loss(self) -> None:
        given = [_flag(k) for k in LOSS_FIELDS if getattr(self, k) is not None]
        if given:
            raise ValueError(
                f"{_flag('loss')} auto chooses the loss and its parameters, but got "
                f"{', '.join(given)} too: drop them, or name the loss and choose one parameter "
                f"(e.g. {_flag('loss')} blurry {_flag('gamma')} auto)"
            )
        if self.delay:
            raise ValueError(
                f"{_flag('loss')} auto chooses the delay too, but got {_flag('delay')} {self.delay}"
            )
        self._check_auto_common(f"{_flag('loss')} auto")

    def _check_auto_common(self, what: str) -> None:
        if self.features is not None or self.pred_probs is not None:
            raise ValueError(
                f"{what} trains candidate CNNs on images; with "
                f"{_flag('features') if self.features else _flag('pred_probs')} name the loss "
                f"(e.g. {_flag('loss')} blurry {_flag('gamma')} 0.4)"
            )
        if self.early_stop:
            raise ValueError(
                f"{what} chooses the epochs on a held-out split of its own; "
                f"{_flag('early_stop')} would hold out a second one: got both"
            )

    @property
    def chooses_settings(self) -> bool:
        """True when a search chooses the loss settings (``loss`` or a parameter "auto")."""
        return self.loss == AUTO or any(getattr(self, k) == AUTO for k in LOSS_FIELDS)

    def with_chosen(self, settings: dict[str, Any]) -> RunConfig:
        """This config with the search's choice: ``loss``, its parameters, ``delay``,
        ``epochs`` (a :meth:`robustloss.search.autoselect.Selection.settings`)."""
        cleared = {k: None for k in LOSS_FIELDS}
        if self.loss == settings["loss"]:  # one parameter chosen: the fixed ones stay
            cleared.update({k: v for k, v in self.loss_params().items()})
        return dataclasses.replace(self, **{**cleared, **settings})

    def _check_training(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("delay", self.delay, 0)
        if self.delay > self.epochs:
            raise ValueError(
                f"Expected {_where('delay')} <= epochs ({self.epochs}), but got {self.delay}: "
                "the chosen loss would never be used"
            )
        _check_int("batch_size", self.batch_size, 1)
        _check_float("lr", self.lr, "a finite float > 0", lambda v: v > 0.0)
        _check_int("seed", self.seed, 0)
        _check_int("subset", self.subset, 2, optional=True)
        _check_choice("protocol", self.protocol, PROTOCOLS)
        _check_int("folds", self.folds, 2)
        _check_int("test_every", self.test_every, 0)
        if not isinstance(self.early_stop, bool):
            raise ValueError(
                f"Expected {_where('early_stop')} to be true or false, but got {self.early_stop!r}"
            )
        _check_float("holdout", self.holdout, "a fraction in (0, 1)", lambda v: 0.0 < v < 1.0)
        _check_int("patience", self.patience, 1)

    def _check_detection(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("rank_by", self.rank_by, RANK_BY)
        _check_choice("detector", self.detector, DETECTORS)
        if self.compare_detectors is not None:
            names = self._compare_names()
            bad = [n for n in names if n not in DETECTORS]
            if not names or bad:
                raise ValueError(
                    f"Expected {_where('compare_detectors')} to be 'all' or comma-separated "
                    f"names among {', '.join(DETECTORS)}, but got {self.compare_detectors!r}"
                )
        wanted = needs(self.detectors_run())
        if "aum" in wanted and (self.features is not None or self.pred_probs is not None):
            raise ValueError(
                f"detector(s) {self._needing('aum')} need training margins of a CNN on images; "
                f"got {_flag('features') if self.features else _flag('pred_probs')}"
            )
        if "aum" in wanted and self.early_stop:
            raise ValueError(
                f"detector(s) {self._needing('aum')} average margins over every training "
                f"epoch of every example; {_where('early_stop')} holds some out: got both"
            )
        if "features" in wanted and self.pred_probs is not None:
            raise ValueError(
                f"detector(s) {self._needing('features')} need features (images or "
                f"{_flag('features')}); got only {_flag('pred_probs')}"
            )

    def _compare_names(self) -> tuple[str, ...]:
        text = str(self.compare_detectors).strip()
        if text == "all":
            return DETECTORS
        return tuple(n.strip() for n in text.split(",") if n.strip())

    def detectors_run(self) -> tuple[str, ...]:
        """``detector`` first, then the compared ones (no name twice)."""
        names = [self.detector]
        if self.compare_detectors is not None:
            names += [n for n in self._compare_names() if n != self.detector]
        return tuple(names)

    def _needing(self, what: str) -> str:
        return ", ".join(n for n in self.detectors_run() if what in needs([n]))

    def _check_runtime(self) -> None:
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ValueError(
                f"Expected {_where('device')} to be auto, cpu, cuda, cuda:N or mps, "
                f"but got {self.device!r}"
            )
        _check_choice("scaling", self.scaling, SCALINGS)
        _check_choice("model", self.model, MODEL_NAMES)
        _check_int("threads", self.threads, 1, optional=True)
        _check_int("image_size", self.image_size, 6, optional=True)
        if self.image_size is not None and (
            self.data is None or self.data.lower().endswith(".npz")
        ):
            raise ValueError(
                f"{_where('image_size')} applies to image folders (--data FOLDER) only, "
                f"but got it with {_flag('dataset') if self.data is None else self.data}"
            )

    # ----- conversions -----------------------------------------------------------------

    def loss_params(self) -> dict[str, Any]:
        """The loss hyperparameters that are set, as ``make_loss`` keyword arguments (one
        set to "auto" is left out: a search chooses it)."""
        return {
            key: getattr(self, key)
            for key in LOSS_PARAMS.get(self.loss, ())
            if key in LOSS_FIELDS and getattr(self, key) not in (None, AUTO)
        }

    def effective_loss_params(self) -> dict[str, Any]:
        """Every hyperparameter of the loss as used, defaults included (for the record);
        for a config that chooses them, the ones set (and "auto")."""
        if self.chooses_settings:
            return {k: getattr(self, k) for k in LOSS_FIELDS if getattr(self, k) is not None}
        module = make_loss(self.loss, **self.loss_params())
        return {key: getattr(module, key) for key in LOSS_PARAMS[self.loss] if hasattr(module, key)}

    @property
    def resolved_noise_seed(self) -> int:
        return self.seed if self.noise_seed is None else self.noise_seed

    def to_dict(self) -> dict[str, Any]:
        """All fields, as stored (``noise_seed`` may be None, meaning ``seed``)."""
        return dataclasses.asdict(self)

    def resolved(self) -> dict[str, Any]:
        """All fields with ``noise_seed`` filled in, and a search's ``auto_criterion`` (None:
        the protocol's default, :func:`~robustloss.search.autoselect.default_criterion`):
        what the run actually used. So a config that leaves the criterion to the default and
        one that names it hash alike, and a changed default is a different experiment."""
        d = self.to_dict()
        d["noise_seed"] = self.resolved_noise_seed
        if self.chooses_settings:
            d["auto_criterion"] = resolve_criterion(self.auto_criterion, self.protocol)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build and validate from a dict of field names (missing keys take the defaults).

        ``data`` without ``dataset`` means no built-in dataset. An unknown key is an error
        naming it. Integral floats are accepted for integer fields (JSON/TOML round trips).
        """
        if not isinstance(d, dict):
            raise ValueError(f"Expected a dict of run settings, but got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(
                f"unknown run setting(s) {unknown}; expected keys among: {', '.join(names)}"
            )
        values = dict(d)
        sourced = any(values.get(k) is not None for k in ("data", "features", "pred_probs"))
        if sourced and "dataset" not in values:
            values["dataset"] = None
        for key in (
            "noise_seed",
            "delay",
            "epochs",
            "batch_size",
            "seed",
            "subset",
            "folds",
            "threads",
            "image_size",
            "test_every",
            "patience",
        ):
            v = values.get(key)
            if isinstance(v, float) and v.is_integer():
                values[key] = int(v)
        return cls(**values)


def config_hash(config: RunConfig | dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the resolved config (sorted keys, no spaces).

    Equal for configs that run the same experiment (``noise_seed=None`` and ``noise_seed ==
    seed`` hash alike); the key of a run folder and of a sweep's results database row.
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    resolved = {
        k: v
        for k, v in cfg.resolved().items()
        if not (k in SOURCE_FIELDS and v is None)
        and not (k in _HASH_DEFAULTS and v == _HASH_DEFAULTS[k])
    }
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
