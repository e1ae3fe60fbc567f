"""Sweep results as settings: one per config, its trials pooled over seeds.

A *setting* is a trial config without its seed: the trials of one setting differ only in
``seed`` (and ``noise_seed``, which follows it), so their spread is the seed noise. A
*row* is a dataset and corruption rate, plus any other experimental condition that varies
among the trials (protocol, epochs, subset, ...). A ``loss="auto"`` trial's one "setting" is
``auto`` (and its criterion, where not the protocol's default): it chose its own settings
from the noisy labels alone (:mod:`robustloss.search`). What the settings become: Table 1
(:mod:`robustloss.report.sweep.table`), the figures (:mod:`robustloss.report.sweep.figures`),
``robustloss results``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustloss.run.config import LOSS_FIELDS
from robustloss.run.records import RunSummary
from robustloss.search.criteria import AUTO, default_criterion
from robustloss.sweeps.results import StoredTrial

__all__ = [
    "DATASET_LABELS",
    "LOSS_LABELS",
    "METRICS",
    "Setting",
    "group_settings",
    "loss_order",
    "row_label",
    "row_slug",
    "rows_of",
    "setting_sort_key",
]

#: Short names of the losses, as the paper writes them.
LOSS_LABELS: dict[str, str] = {
    "ce": "CE",
    "focal": "FL",
    "blurry": "BL",
    "pz": "PZ",
    "gce": "GCE",
    "mae": "MAE",
    "sce": "SCE",
    "nce+rce": "NCE+RCE",
    AUTO: "auto",  # settings chosen without ground truth; sorts after every other loss
}
_PARAM_SYMBOLS = {"gamma": "γ", "cutoff": "c", "q": "q", "alpha": "α", "beta": "β"}
DATASET_LABELS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}

# Settings that never distinguish settings or rows: the seed (pooled over), how a trial
# ran (threads, device), and the loss settings (which distinguish settings within a row).
_SEED_KEYS = ("seed", "noise_seed")
_RUN_KEYS = ("threads", "device")
# auto_criterion is part of an auto setting (how it chose), not a condition of the row.
_SETTING_KEYS = ("loss", *LOSS_FIELDS, "delay", "auto_criterion")
METRICS: tuple[str, ...] = ("f1", "precision", "recall", "flagged", "correct", "corrupted",
                            "test_acc")


def _finite(values: Iterable[Any]) -> np.ndarray:
    return np.array([float(v) for v in values if v is not None and math.isfinite(float(v))])


@dataclass
class Setting:
    """One config pooled over seeds: ``summaries[i]`` is seed ``seeds[i]``'s summary, its
    labels corrupted with ``noise_seeds[i]`` (the seed itself unless set apart)."""

    config: dict[str, Any]
    row: tuple[tuple[str, Any], ...]
    seeds: list[int] = field(default_factory=list)
    summaries: list[RunSummary] = field(default_factory=list)
    noise_seeds: list[int] = field(default_factory=list)

    @property
    def loss(self) -> str:
        return self.config["loss"]

    def values(self, metric: str) -> np.ndarray:
        return _finite(getattr(s, metric) for s in self.summaries)

    def mean(self, metric: str) -> float:
        v = self.values(metric)
        return float(v.mean()) if v.size else float("nan")

    def std(self, metric: str) -> float:
        """Sample standard deviation over seeds (n-1); NaN for a single seed."""
        v = self.values(metric)
        return float(v.std(ddof=1)) if v.size > 1 else float("nan")

    def per_seed(self, metric: str) -> dict[tuple[int, int], float]:
        """``{(seed, noise_seed): value}`` of the finite values (a seed run twice: the mean)."""
        pooled: dict[tuple[int, int], list[float]] = {}
        noise_seeds = self.noise_seeds or self.seeds
        for seed, noise_seed, summary in zip(self.seeds, noise_seeds, self.summaries, strict=True):
            v = getattr(summary, metric)
            if v is not None and math.isfinite(float(v)):
                pooled.setdefault((seed, noise_seed), []).append(float(v))
        return {k: float(np.mean(v)) for k, v in pooled.items()}

    def params_text(self, *, delay: bool = True) -> str:
        """``γ=0.4, d=0``: the loss's hyperparameters and delay (none for plain CE, nothing
        for ``auto``, whose trials chose their own; ``γ=auto`` for a parameter chosen so)."""
        if self.loss == AUTO:
            criterion = self.config.get("auto_criterion")
            default = default_criterion(self.config.get("protocol", "in-sample"))
            return "" if criterion in (None, default) else f"criterion {criterion}"
        parts = [
            f"{_PARAM_SYMBOLS[k]}={_param(self.config[k])}"
            for k in _PARAM_SYMBOLS
            if self.config.get(k) is not None
        ]
        if self.config.get("detach_weight") is False:
            parts.append("not detached")
        if delay and (self.loss != "ce" or self.config.get("delay")):
            parts.append(f"d={self.config.get('delay', 0)}")
        return ", ".join(parts)

    @property
    def label(self) -> str:
        """``BL γ=0.4, d=0``."""
        text = self.params_text()
        return f"{LOSS_LABELS.get(self.loss, self.loss)} {text}".strip()


def _param(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def loss_order(loss: str) -> int:
    """Position of a loss: the order of :data:`LOSS_LABELS`, other names after, auto last."""
    names = [n for n in LOSS_LABELS if n != AUTO]
    if loss == AUTO:
        return len(names) + 1
    return names.index(loss) if loss in names else len(names)


def _param_key(value: Any) -> tuple[int, float]:
    """Numbers in order, then "auto" (a parameter chosen without ground truth)."""
    return (1, 0.0) if isinstance(value, str) else (0, float(value or 0.0))


def setting_sort_key(setting: Setting) -> tuple:
    c = setting.config
    params = tuple(_param_key(c.get(k)) for k in _PARAM_SYMBOLS)
    return (loss_order(setting.loss), setting.loss, params, c.get("delay", 0))


def row_label(row: tuple[tuple[str, Any], ...]) -> str:
    """``MNIST, ρ=0.2`` (plus any other condition: ``protocol=cv``)."""
    d = dict(row)
    parts = [f"{DATASET_LABELS.get(d.get('data'), d.get('data'))}, ρ={d.get('noise'):g}"]
    parts += [f"{k}={v}" for k, v in row if k not in ("data", "noise")]
    return ", ".join(parts)


def row_slug(row: tuple[tuple[str, Any], ...]) -> str:
    """A file-name-safe row id: ``mnist_rho0.2`` (plus conditions)."""
    d = dict(row)
    parts = [str(d.get("data")), f"rho{d.get('noise'):g}"]
    parts += [f"{k}-{v}" for k, v in row if k not in ("data", "noise")]
    text = "_".join(parts)
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)


def group_settings(trials: Sequence[StoredTrial]) -> list[Setting]:
    """Pool finished trials over seeds into settings, sorted by row, loss, hyperparameters,
    delay (a trial without a summary is left out).

    Row conditions: the dataset (``data`` names a built-in dataset or a path), the rate,
    and every other setting that takes more than one value among ``trials``.
    """
    trials = [t for t in trials if t.summary is not None]
    configs = [t.config for t in trials]
    skip = set(_SEED_KEYS + _RUN_KEYS + _SETTING_KEYS + ("dataset", "data", "noise"))
    varying = sorted(
        k for k in {k for c in configs for k in c}
        if k not in skip and len({repr(c.get(k)) for c in configs}) > 1
    )
    settings: dict[str, Setting] = {}
    for trial in trials:
        config = _chosen_by(trial)
        row = (("data", config.get("dataset") or config.get("data")),
               ("noise", config.get("noise")),
               *((k, config.get(k)) for k in varying))
        key = repr((row, [(k, config.get(k)) for k in _SETTING_KEYS]))
        setting = settings.get(key)
        if setting is None:
            base = {k: v for k, v in config.items() if k not in _SEED_KEYS + _RUN_KEYS}
            setting = settings[key] = Setting(config=base, row=row)
        seed = int(config.get("seed", 0))
        noise_seed = config.get("noise_seed")
        setting.seeds.append(seed)
        setting.noise_seeds.append(seed if noise_seed is None else int(noise_seed))
        setting.summaries.append(trial.summary)
    return sorted(settings.values(), key=lambda s: (_row_key(s.row), setting_sort_key(s)))


def _chosen_by(trial: StoredTrial) -> dict[str, Any]:
    """The trial's config, an auto trial's ``auto_criterion`` None replaced by the criterion
    it recorded choosing by (its summary's ``auto``): None means the default of the code
    that ran it, and a default can change between versions, so that trials run under two
    defaults are not pooled as one setting, nor shown as today's default."""
    config = trial.config
    if config.get("loss") != AUTO or config.get("auto_criterion") is not None:
        return config
    recorded = ((trial.summary.auto if trial.summary else None) or {}).get("criterion")
    return {**config, "auto_criterion": recorded} if recorded else config


def _row_key(row: tuple[tuple[str, Any], ...]) -> tuple:
    d = dict(row)
    order = list(DATASET_LABELS)
    data = d.get("data")
    return (order.index(data) if data in order else len(order), str(data), d.get("noise"),
            repr(row))


def rows_of(settings: Sequence[Setting]) -> dict[tuple, list[Setting]]:
    """Settings per row, rows in order (MNIST first, then by rate)."""
    rows: dict[tuple, list[Setting]] = {}
    for setting in settings:
        rows.setdefault(setting.row, []).append(setting)
    return dict(sorted(rows.items(), key=lambda item: _row_key(item[0])))
