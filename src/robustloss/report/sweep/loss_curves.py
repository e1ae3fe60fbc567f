r"""The paper's Figures 2-4 (loss versus :math:`p_t`), drawn from :mod:`robustloss.losses` itself.

Every curve is the library's functional evaluated on logits built so that the labelled
class gets probability exactly :math:`p_t` (two classes, logits
:math:`(\log p_t, \log(1 - p_t))`, target 0): the figures show what the code computes, not a
re-typed formula. A fourth figure shows the per-sample *gradient weight*

.. math::
    w(p_t) = \frac{\partial \ell / \partial z_t}{\partial CE / \partial z_t}

(how strongly each loss pushes the labelled logit :math:`z_t`, relative to cross entropy),
from autograd through the same functionals. It shows why Blurry loss detaches its weight:
the literal formula's weight :math:`p_t^\gamma (1 + \gamma \log p_t)` turns negative below
:math:`p_t = e^{-1/\gamma}`, pushing low-:math:`p_t` samples further away, while the
detached weight :math:`p_t^\gamma` (the same as GCE with :math:`q = \gamma`) only fades.

Figures are written as PNG with matplotlib's Agg canvas (no pyplot, no global backend
switch), each atomically (a temporary file in the output folder, then ``os.replace``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustloss import losses
from robustloss._io import save_figure

__all__ = [
    "BLURRY_GAMMAS",
    "FOCAL_GAMMAS",
    "PZ_CUTOFFS",
    "CurveFigure",
    "loss_curve_data",
    "plot_loss_curves",
]

FOCAL_GAMMAS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)  # Figure 2
BLURRY_GAMMAS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 1.0, 2.0)  # Figure 3
PZ_CUTOFFS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)  # Figure 4

# Settings of the gradient-weight figure (the paper's best Blurry gamma and PZ cutoff).
_WEIGHT_GAMMA = 0.4
_WEIGHT_CUTOFF = 0.05

_P_LABEL = r"$p_t$ (predicted probability of the labelled class)"


@dataclass(frozen=True)
class CurveFigure:
    """The data of one figure: a shared x grid and one y array per labelled curve.

    Attributes:
        key: short name (``"focal"``, ``"blurry"``, ``"pz"``, ``"weight"``).
        filename: PNG file name written by :func:`plot_loss_curves`.
        title, xlabel, ylabel: figure text.
        x: ``(M,)`` float64, the values of :math:`p_t`.
        curves: label -> ``(M,)`` float64 y values, in legend order.
        ylim: y-axis limits.
        vlines: x -> label of dotted vertical marker lines.
    """

    key: str
    filename: str
    title: str
    xlabel: str
    ylabel: str
    x: np.ndarray
    curves: dict[str, np.ndarray]
    ylim: tuple[float, float]
    vlines: dict[float, str] = field(default_factory=dict)


def _logits_for(p: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-class float64 logits with softmax probability ``p`` for class 0, and target 0."""
    pt = torch.as_tensor(p, dtype=torch.float64)
    logits = torch.stack([torch.log(pt), torch.log1p(-pt)], dim=1)  # (M, 2); -inf at p_t = 1
    return logits, torch.zeros(len(pt), dtype=torch.long)


def _values(fn: Callable[..., torch.Tensor], p: np.ndarray, **kw: object) -> np.ndarray:
    logits, target = _logits_for(p)
    return fn(logits, target, reduction="none", **kw).numpy()


def _weights(fn: Callable[..., torch.Tensor], p: np.ndarray, **kw: object) -> np.ndarray:
    """(d loss / d z_t) / (d CE / d z_t) at each p (0 < p < 1)."""
    logits, target = _logits_for(p)
    logits.requires_grad_(True)
    fn(logits, target, reduction="sum", **kw).backward()
    dz_t = logits.grad[:, 0]
    return (dz_t / (torch.as_tensor(p, dtype=torch.float64) - 1.0)).numpy()  # dCE/dz_t = p - 1


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}")
    return value


def loss_curve_data(*, num_points: int = 1000) -> list[CurveFigure]:
    r"""Curve data of the four figures, computed with :mod:`robustloss.losses`.

    Figures 2-4 use ``x = p_t`` on ``num_points`` evenly spaced values in ``(0, 1]``; the
    gradient-weight figure uses ``num_points`` values in ``(0, 1)`` (at :math:`p_t = 1` the
    cross-entropy gradient is 0 and the ratio undefined).

    Args:
        num_points: points per curve, >= 10.

    Returns:
        ``[focal (Figure 2), blurry (Figure 3), pz (Figure 4), weight]``.
    """
    num_points = _check_int("num_points", num_points, 10)
    p = np.linspace(0.0, 1.0, num_points + 1)[1:]  # (0, 1]
    p_open = np.linspace(0.0, 1.0, num_points + 2)[1:-1]  # (0, 1)
    g = _WEIGHT_GAMMA
    return [
        CurveFigure(
            key="focal",
            filename="figure2_ce_vs_focal.png",
            title="Figure 2: cross entropy (CE) and focal loss (FL)",
            xlabel=_P_LABEL,
            ylabel="loss",
            x=p,
            curves=_focal_curves(p),
            ylim=(0.0, 5.0),
        ),
        CurveFigure(
            key="blurry",
            filename="figure3_blurry.png",
            title=r"Figure 3: Blurry loss $-p_t^\gamma \log p_t$",
            xlabel=_P_LABEL,
            ylabel="loss",
            x=p,
            curves=_blurry_curves(p),
            ylim=(0.0, 4.0),
        ),
        CurveFigure(
            key="pz",
            filename="figure4_piecewise_zero.png",
            title=r"Figure 4: Piecewise-zero loss (0 for $p_t \leq c$, else CE)",
            xlabel=_P_LABEL,
            ylabel="loss",
            x=p,
            curves=_pz_curves(p),
            ylim=(0.0, 4.0),
        ),
        CurveFigure(
            key="weight",
            filename="gradient_weight.png",
            title="Per-sample gradient weight relative to cross entropy",
            xlabel=_P_LABEL,
            ylabel=r"$(\partial\ell/\partial z_t)\,/\,(\partial CE/\partial z_t)$",
            x=p_open,
            curves=_weight_curves(p_open),
            ylim=(-0.4, 2.1),
            vlines={math.exp(-1.0 / g): rf"$e^{{-1/\gamma}}$, $\gamma={g:g}$: sign change"},
        ),
    ]


def _focal_curves(p: np.ndarray) -> dict[str, np.ndarray]:
    """Figure 2: focal loss over :data:`FOCAL_GAMMAS` (gamma 0 is cross entropy)."""
    return {
        (r"CE ($\gamma=0$)" if g == 0 else rf"FL $\gamma={g:g}$"): _values(
            losses.focal_loss, p, gamma=g
        )
        for g in FOCAL_GAMMAS
    }


def _blurry_curves(p: np.ndarray) -> dict[str, np.ndarray]:
    """Figure 3: Blurry loss over :data:`BLURRY_GAMMAS` (gamma 0 is cross entropy)."""
    return {
        (r"CE ($\gamma=0$)" if g == 0 else rf"BL $\gamma={g:g}$"): _values(
            losses.blurry_loss, p, gamma=g
        )
        for g in BLURRY_GAMMAS
    }


def _pz_curves(p: np.ndarray) -> dict[str, np.ndarray]:
    """Figure 4: Piecewise-zero loss over :data:`PZ_CUTOFFS`."""
    return {rf"PZ $c={c:g}$": _values(losses.piecewise_zero_loss, p, cutoff=c) for c in PZ_CUTOFFS}


def _weight_curves(p_open: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient weights relative to cross entropy, on ``p_open`` in (0, 1)."""
    g, c = _WEIGHT_GAMMA, _WEIGHT_CUTOFF
    return {
        "cross entropy": _weights(losses.cross_entropy, p_open),
        rf"Blurry $\gamma={g:g}$, detached (default; = GCE $q={g:g}$)": _weights(
            losses.blurry_loss, p_open, gamma=g
        ),
        rf"Blurry $\gamma={g:g}$, literal (detach_weight=False)": _weights(
            losses.blurry_loss, p_open, gamma=g, detach_weight=False
        ),
        r"focal $\gamma=2$": _weights(losses.focal_loss, p_open, gamma=2.0),
        r"GCE $q=0.7$": _weights(losses.generalized_cross_entropy, p_open, q=0.7),
        rf"PZ $c={c:g}$": _weights(losses.piecewise_zero_loss, p_open, cutoff=c),
    }


def _draw(data: CurveFigure) -> Figure:
    fig = Figure(figsize=(7.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, y in data.curves.items():
        if label.startswith(("CE", "cross entropy")):  # the reference: black, dashed
            ax.plot(data.x, y, label=label, color="black", linestyle="--", linewidth=1.4)
        else:
            ax.plot(data.x, y, label=label, linewidth=1.8)
    if data.key == "weight":
        ax.axhline(0.0, color="black", linewidth=0.8)
    for x, label in data.vlines.items():
        ax.axvline(x, color="grey", linestyle=":", linewidth=1.0, label=label)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(*data.ylim)
    ax.set_xlabel(data.xlabel)
    ax.set_ylabel(data.ylabel)
    ax.set_title(data.title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_loss_curves(out_dir: str | os.PathLike[str], *, dpi: int = 150) -> list[Path]:
    """Draw the paper's Figures 2-4 and the gradient-weight figure as PNGs in ``out_dir``.

    Files: ``figure2_ce_vs_focal.png`` (CE and focal loss, gamma in 0, 0.5, 1, 2, 5),
    ``figure3_blurry.png`` (Blurry loss, gamma in 0, 0.2, 0.4, 0.6, 1, 2),
    ``figure4_piecewise_zero.png`` (PZ, c in 0.05, 0.1, 0.2, 0.4) and
    ``gradient_weight.png`` (see the module docstring). Existing files are replaced.

    Args:
        out_dir: output folder, created if missing.
        dpi: resolution, >= 10.

    Returns:
        The paths written, in the order above.

    Examples::

        >>> paths = plot_loss_curves("figures")  # doctest: +SKIP
    """
    dpi = _check_int("dpi", dpi, 10)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"Expected argument `out_dir` to be a folder, but got an existing file {str(out)!r}"
        )
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in loss_curve_data():
        path = out / data.filename
        save_figure(_draw(data), path, dpi=dpi)
        paths.append(path)
    return paths
