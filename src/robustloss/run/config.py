"""One run's settings: :class:`RunConfig`, and a stable config hash.

A :class:`RunConfig` field is a ``robustloss run`` flag in snake_case (``--noise-kind`` is
``noise_kind``), a sweep spec key, and a key of the ``config.json`` in every run folder. It
is validated when built: every bad value raises ``ValueError`` naming the key and its flag,
what was expected and what was got, before any data is loaded or any model trained.

Its training settings are :class:`robustloss.train.config.TrainSettings`' fields, inherited
(one definition, defaults and checks included); :meth:`RunConfig.train_config` adds what a
run derives (the loss's parameters, Adam, the margins its detectors need). The defaults
of ``detect`` and the presets are :mod:`robustloss.run.defaults`'.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robustloss.detect import needs
from robustloss.losses import LOSS_PARAMS, make_loss
from robustloss.run.defaults import PRESETS, detect_defaults
from robustloss.run.validation import (
    FLOAT_LOSS_FIELDS,
    LOSS_CHOICES,
    LOSS_FIELDS,
    NOISE_KINDS_CLI,
    PROTOCOLS,
    RETIRED_PROTOCOLS,
    check_run_config,
    compared_detectors,
    flag,
)
from robustloss.search.criteria import AUTO, AUTO_PARAMS, resolve_criterion
from robustloss.train.config import TrainConfig, TrainSettings
from robustloss.train.precision import PRECISIONS  # the list TrainConfig checks, re-exported

__all__ = [
    "DATA_SOURCE_FIELDS",
    "FLOAT_LOSS_FIELDS",  # re-exported from robustloss.run.validation, with the loss fields,
    "LOSS_CHOICES",  # the noise kinds and the protocols
    "LOSS_FIELDS",
    "NOISE_KINDS_CLI",
    "PRECISIONS",  # re-exported from robustloss.train.precision
    "PRESETS",  # re-exported from robustloss.run.defaults
    "PROTOCOLS",
    "RETIRED_PROTOCOLS",
    "RunConfig",
    "config_hash",
]

#: Fields added for embeddings and given probabilities; left None they stay out of
#: :func:`config_hash`, so configs without them hash as before these fields existed.
SOURCE_FIELDS: tuple[str, ...] = ("features", "labels", "labels_column", "pred_probs", "head")

#: Fields added for the detectors beside Confident Learning, with the value that leaves them
#: out of :func:`config_hash` (so default configs hash as before these fields existed).
DETECTOR_FIELD_DEFAULTS: dict[str, Any] = {"detector": "cl", "compare_detectors": None}

#: Fields added for settings chosen without ground truth (``loss="auto"``), likewise (a
#: config without a search). A search's auto_criterion None is the protocol's default
#: (search.criteria.default_criterion), which :meth:`RunConfig.resolved` fills in before hashing.
AUTO_FIELD_DEFAULTS: dict[str, Any] = {"auto_criterion": None}

_HASH_DEFAULTS: dict[str, Any] = {**DETECTOR_FIELD_DEFAULTS, **AUTO_FIELD_DEFAULTS}

#: Fields made floats when built (so noise=0 and noise=0.0 are one config, and one hash);
#: TrainSettings does lr and holdout.
_FLOAT_FIELDS: tuple[str, ...] = ("noise", *FLOAT_LOSS_FIELDS)

#: Where the examples come from: exactly one of the first four is set (labels go with
#: features and pred_probs).
DATA_SOURCE_FIELDS: tuple[str, ...] = (
    "dataset", "data", "features", "pred_probs", "labels", "labels_column",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RunConfig(TrainSettings):
    """Every setting of one run: corrupt a dataset, train, predict, detect, score.

    Exactly one of ``dataset`` (a built-in dataset, which has a clean test split) and ``data``
    (a path: an ``.npz`` or an image folder with one sub-folder per class) is set. Loss
    hyperparameters left ``None`` take the loss's default; setting one that the chosen loss
    does not accept (``gamma`` with ``loss="ce"``) is an error, as is leaving out a required
    one (blurry's ``gamma``, pz's ``cutoff``). ``noise_seed=None`` uses ``seed``.
    The defaults are this library's clean choices; :data:`PRESETS` ``["paper"]`` holds the
    authors'. The training settings (``epochs``, ``batch_size``, ``lr``, ``delay``, ``seed``,
    ``scaling``, ``device``, ``precision``, ``channels_last``, ``test_every``,
    ``early_stop``, ``holdout``, ``patience``, ``threads``, ``model``) are
    :class:`~robustloss.train.config.TrainSettings`' fields. Keyword arguments only.
    """

    dataset: str | None = "mnist"
    data: str | None = None
    noise: float = 0.2
    noise_kind: str = "symmetric"
    noise_seed: int | None = None
    # "auto": the loss, its parameter, the delay and the epochs chosen from the given labels
    # alone (robustloss.search); gamma/cutoff/q "auto": that one parameter.
    loss: str = "ce"
    gamma: float | str | None = None
    cutoff: float | str | None = None
    q: float | str | None = None
    alpha: float | None = None
    beta: float | None = None
    detach_weight: bool | None = None
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
    image_size: int | None = None  # image folders only: resize every image to this square
    # Embeddings (an .npy / .npz of (N, D) features) or given probabilities ((N, K)) instead
    # of images, with their labels (robustloss.data.user.features); the head trained on
    # features: "linear" (default) or "mlp".
    features: str | None = None
    labels: str | None = None
    labels_column: str | None = None
    pred_probs: str | None = None
    head: str | None = None
    # The criterion a loss="auto" search chooses by (robustloss.search); None:
    # the protocol's default (canary-f1-structured in-sample, holdout-acc for cv), which
    # resolved() names.
    auto_criterion: str | None = None

    def __post_init__(self) -> None:
        check_run_config(self)
        # Canonical types, so that noise=0 and noise=0.0 are the same config (and hash).
        for key in _FLOAT_FIELDS:
            value = getattr(self, key)
            if value is not None and value != AUTO:
                object.__setattr__(self, key, float(value))

    # ----- what the settings mean -------------------------------------------------------

    def auto_param(self) -> str | None:
        """The loss hyperparameter set to "auto" (``--gamma auto``), or None.

        Raises:
            ValueError: "auto" for a parameter that cannot be chosen, or for two.
        """
        named = [k for k in LOSS_FIELDS if getattr(self, k) == AUTO]
        if not named:
            return None
        choosable = ", ".join(f"{loss} {flag(p)}" for loss, (p, _) in AUTO_PARAMS.items())
        if len(named) > 1 or AUTO_PARAMS.get(self.loss, ("",))[0] != named[0]:
            raise ValueError(
                f"Expected 'auto' for one parameter of the loss among: {choosable}; but got "
                f"{', '.join(flag(k) for k in named)} auto with {flag('loss')} {self.loss}"
            )
        return named[0]

    @property
    def chooses_settings(self) -> bool:
        """True when a search chooses the loss settings (``loss`` or a parameter "auto")."""
        return self.loss == AUTO or any(getattr(self, k) == AUTO for k in LOSS_FIELDS)

    def with_chosen(self, settings: dict[str, Any]) -> RunConfig:
        """This config with the search's choice: ``loss``, its parameters, ``delay``,
        ``epochs`` (a :meth:`robustloss.search.results.Selection.settings`)."""
        cleared = {k: None for k in LOSS_FIELDS}
        if self.loss == settings["loss"]:  # one parameter chosen: the fixed ones stay
            cleared.update({k: v for k, v in self.loss_params().items()})
        return dataclasses.replace(self, **{**cleared, **settings})

    def detectors_run(self) -> tuple[str, ...]:
        """``detector`` first, then the compared ones (no name twice)."""
        names = [self.detector]
        if self.compare_detectors is not None:
            names += [n for n in compared_detectors(self) if n != self.detector]
        return tuple(names)

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

    def train_config(self) -> TrainConfig:
        """The :class:`~robustloss.train.TrainConfig` this run trains its CNNs with: its
        training settings as they are, the loss with its parameters, Adam, and the margins
        recorded when a detector needs them (AUM)."""
        return TrainConfig(
            **self.train_settings(),
            optimizer="adam",
            loss=self.loss,
            loss_params=self.loss_params(),
            record_margins="aum" in needs(self.detectors_run()),
        )

    @property
    def resolved_noise_seed(self) -> int:
        return self.seed if self.noise_seed is None else self.noise_seed

    def to_dict(self) -> dict[str, Any]:
        """All fields, as stored (``noise_seed`` may be None, meaning ``seed``)."""
        return dataclasses.asdict(self)

    def resolved(self) -> dict[str, Any]:
        """All fields with ``noise_seed`` filled in, and a search's ``auto_criterion`` (None:
        the protocol's default, :func:`~robustloss.search.criteria.default_criterion`):
        what the run actually used. So a config that leaves the criterion to the default and
        one that names it hash alike, and a changed default is a different experiment."""
        d = self.to_dict()
        d["noise_seed"] = self.resolved_noise_seed
        if self.chooses_settings:
            d["auto_criterion"] = resolve_criterion(self.auto_criterion, self.protocol)
        return d

    @classmethod
    def for_detect(
        cls,
        settings: RunConfig | Mapping[str, Any] | None = None,
        *,
        preset: str | None = None,
        **source: Any,
    ) -> RunConfig:
        """``detect``'s config: ``settings`` over a ``preset`` over detect's defaults
        (:func:`robustloss.run.defaults.detect_defaults`), on the data ``source`` and with
        no corruption. What ``robustloss detect`` and the library's ``detect_*`` build.

        ``source``: ``data=PATH``, or ``features=PATH`` or ``pred_probs=PATH`` with
        ``labels=PATH`` (and ``labels_column=``); it replaces every source field of
        ``settings``. A setting left None counts as not given (a RunConfig gives them all).
        """
        given = settings.to_dict() if isinstance(settings, RunConfig) else dict(settings or {})
        given = {k: v for k, v in given.items() if v is not None and k not in DATA_SOURCE_FIELDS}
        unknown = sorted(set(source) - set(DATA_SOURCE_FIELDS[1:]))
        if unknown:
            raise ValueError(
                f"Expected the data source among {', '.join(DATA_SOURCE_FIELDS[1:])}, but "
                f"got {unknown}"
            )
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"Expected `preset` among {', '.join(PRESETS)}, but got {preset!r}")
        kind = "pred-probs" if source.get("pred_probs") else (
            "features" if source.get("features") else "images"
        )  # fmt: skip
        values = detect_defaults(kind, given) | (PRESETS[preset] if preset else {}) | given
        values |= {k: None for k in DATA_SOURCE_FIELDS} | source
        return cls.from_dict(values | {"noise": 0.0, "noise_seed": None})

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
        for key in _INT_FIELDS:
            v = values.get(key)
            if isinstance(v, float) and v.is_integer():
                values[key] = int(v)
        return cls(**values)


#: Integer fields, which accept integral floats (JSON/TOML round trips).
_INT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.type in ("int", "int | None")
)


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
