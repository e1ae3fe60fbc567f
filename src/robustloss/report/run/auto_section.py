"""The report's section on settings chosen without ground truth (``loss="auto"``).

A run with ``loss="auto"`` (or ``gamma``/``cutoff``/``q`` "auto") chose its loss, the loss's
parameter, the delay and the epochs from the given labels alone, by successive halving on a
noisy held-out split (:mod:`robustloss.search`). Its run folder records the search in
``auto.csv`` and ``config.json``'s ``auto``, read back as an
:class:`~robustloss.run.auto_choice.AutoChoice` (:mod:`robustloss.run.auto_choice`).

:func:`auto_section` returns, from that record, the section of ``report.html``: the why-sentence,
the criterion, the measured cost against the plan's budget, a table of every candidate (the
chosen one highlighted) and the figure ``auto.png`` (drawn into the run folder by
:func:`draw_auto`): held-out accuracy against the given labels after each epoch, one line per
candidate, and the chosen candidate's accuracy on examples it trained on (the holdout-gap's
other side). A run folder without ``auto.csv`` gets no section.

Cost: the search and the final run in fixed-setting runs of the same protocol,
``ratio = (search sample-epochs + F) / F`` with ``F`` one fixed run's sample-epochs; the plan
keeps it at most ``max_ratio`` unless the data set is too small to shrink the search.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from robustloss._io import save_figure
from robustloss.run.auto_choice import AutoCandidate, AutoChoice
from robustloss.run.reader import RunFolder
from robustloss.search.criteria import CANARY_CRITERIA

__all__ = ["AUTO_FIGURE", "auto_section", "draw_auto"]

#: File name of the figure, in the run folder.
AUTO_FIGURE = "auto.png"
_FAILURES = ("diverged", "collapsed", "failed")
_CHOSEN_STYLE = "background:#fff3cd;font-weight:bold"
_PRUNED_COLOR = "#b0b0b0"
_FAILED_COLOR = "#d7191c"
_KEPT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


# ----- the figure --------------------------------------------------------------------------


def _chosen_epoch(choice: AutoChoice, c: AutoCandidate) -> int | None:
    """The chosen candidate's epoch on its curve: the epochs chosen (else, for a folder that
    does not record them, its stop epoch, else its peak)."""
    epoch = choice.settings.get("epochs")
    if not isinstance(epoch, int):
        epoch = c.stop_epoch if c.stop_epoch is not None else c.best_epoch
    if isinstance(epoch, int) and 1 <= epoch <= len(c.curve):
        return epoch
    return None


def draw_auto(choice: AutoChoice) -> Figure:
    """Held-out accuracy against the given labels after each epoch, one line per candidate.

    Pruned candidates thin and grey, kept ones coloured, the chosen one bold black with a
    star at its chosen epoch, failures dotted red; a dashed line where the candidates were
    halved (the plan's ``rung_epochs``). The chosen candidate's accuracy on a probe of the
    examples it trained on (when recorded), dashed black: how far it fits its training labels
    beyond the held-out ones (the holdout-gap criterion's other side).

    Returns:
        A matplotlib Figure on an Agg canvas.
    """
    fig = Figure(figsize=(7.5, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    kept = 0
    labelled: set[str] = set()
    for c in choice.candidates:
        y = np.asarray(c.curve, dtype=np.float64)  # (epochs,)
        x = np.arange(1, y.size + 1)
        if y.size == 0:
            continue
        if c.status == "chosen":
            ax.plot(x, y, color="black", linewidth=2.8, zorder=5, label=f"{c.name} (chosen)")
            if len(c.fit_curve) == y.size:
                ax.plot(x, c.fit_curve, color="black", linewidth=1.4, linestyle="--", zorder=5,
                        label="chosen: accuracy on examples trained on")  # fmt: skip
            epoch = _chosen_epoch(choice, c)
            if epoch is not None:
                ax.plot([epoch], [y[epoch - 1]], marker="*", markersize=15, color="black",
                        zorder=6, linestyle="none", label=f"chosen epoch ({epoch})")  # fmt: skip
        elif c.status == "kept":
            color = _KEPT_COLORS[kept % len(_KEPT_COLORS)]
            kept += 1
            ax.plot(x, y, color=color, linewidth=1.6, zorder=4, marker="o", markersize=3,
                    label=c.name)  # fmt: skip
        else:
            pruned = c.status == "pruned"
            group = "pruned" if pruned else "diverged/collapsed/failed"
            label = None
            if group not in labelled:
                labelled.add(group)
                n = sum((k.status == "pruned") if pruned else (k.status in _FAILURES)
                        for k in choice.candidates)  # fmt: skip
                label = f"{group} ({n})"
            ax.plot(x, y, color=_PRUNED_COLOR if pruned else _FAILED_COLOR, linewidth=0.9,
                    linestyle="-" if pruned else ":", zorder=2, label=label)  # fmt: skip
    rung = choice.plan.get("rung_epochs")
    epochs = choice.plan.get("epochs")
    if isinstance(rung, int) and isinstance(epochs, int) and 0 < rung < epochs:
        ax.axvline(rung, color="#666666", linestyle="--", linewidth=0.9, zorder=1,
                   label=f"halved after {rung} epoch(s)")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy vs the given labels (held out)")
    criterion = choice.criterion or "an unrecorded criterion"
    ax.set_title(f"Label-free search, chosen by {criterion}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


# ----- the HTML section --------------------------------------------------------------------


def _fmt(v: Any, spec: str = ".4f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _candidates_table(choice: AutoChoice) -> str:
    crit = choice.criterion
    canaries = any(c.canary_recall is not None for c in choice.candidates)
    header = [
        "candidate",
        "status",
        "held-out acc." + (" (criterion)" if crit == "holdout-acc" else ""),
        "peak epoch",
        "cl-cleaned" + (" (criterion)" if crit == "cl-cleaned" else ""),
        "holdout-gap" + (" (criterion)" if crit == "holdout-gap" else ""),
        *(
            ["canary recall", "flagged share", "canary-f1"
             + (" (criterion)" if crit in CANARY_CRITERIA else "")]
            if canaries
            else []
        ),
        "stop epoch",
        "epochs trained",
        "reason",
    ]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for c in choice.candidates:
        cells = [c.name, c.status, _fmt(c.holdout_acc), _fmt(c.best_epoch), _fmt(c.cl_cleaned),
                 _fmt(c.holdout_gap),
                 *([_fmt(c.canary_recall), _fmt(c.flagged_share), _fmt(c.canary_f1)]
                   if canaries else []),
                 _fmt(c.stop_epoch), _fmt(c.epochs_trained), c.reason or "–"]  # fmt: skip
        attrs = (
            f" class='auto-chosen' style='{_CHOSEN_STYLE}'"
            if c.status == "chosen"
            else f" class='auto-{c.status}'"
        )
        tds = "".join(f"<td>{html.escape(v)}</td>" for v in cells)
        body.append(f"<tr{attrs}>{tds}</tr>")
    return (
        f"<table class='auto-candidates'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None)


def _cost(choice: AutoChoice) -> str:
    plan = choice.plan
    budget = plan.get("max_ratio")
    if choice.ratio_measured is None:
        return "<p>Cost: not recorded.</p>"
    text = (
        f"Cost: search and final run together {choice.ratio_measured:.2f}× one fixed-setting "
        f"run of the protocol"
    )
    extra = []
    if choice.sample_epochs is not None:
        extra.append(f"{choice.sample_epochs:,.0f} sample-epochs searched")
    if plan.get("ratio") is not None:
        extra.append(f"planned {float(plan['ratio']):.2f}×")
    if budget is not None:
        extra.append(f"budget max_ratio {float(budget):g}×")
    if choice.seconds is not None:
        extra.append(f"{choice.seconds:.1f} s")
    if extra:
        text += " (" + "; ".join(extra) + ")"
    over = budget is not None and choice.ratio_measured > float(budget) + 1e-9
    if over and plan.get("ratio") is not None and float(plan["ratio"]) > float(budget) + 1e-9:
        text += (
            ": over the budget as planned: the search never trains on fewer examples than it "
            "needs to rank the candidates, and this data set is small"
        )
    elif over:
        text += ": over the budget"
    cls = " class='warn'" if over else ""
    return f"<p{cls}>{html.escape(text)}.</p>"


def _split_text(plan: dict[str, Any]) -> str:
    if not plan.get("n_held"):
        return ""
    n_search, n_train = plan.get("n_search"), plan.get("n_train")
    on = (
        f"all {n_train:,} other examples"
        if n_search == n_train
        else f"{n_search:,} of the other {n_train:,} examples (stratified, to fit the budget)"
    )
    return (
        f" The held-out split: {plan['n_held']:,} of {plan.get('n')} examples, stratified on "
        f"the given labels; the candidates trained on {on}."
    )


def auto_section(run: RunFolder, *, dpi: int = 100) -> tuple[list[str], Path | None]:
    """The "Settings chosen without ground truth" section and its figure ``auto.png``.

    Returns:
        ``(parts, figure_path)``: HTML fragments and the figure written into the run
        folder; ``([], None)`` for a run folder without ``auto.csv`` (``run.auto`` None).
    """
    choice = run.auto
    if choice is None:
        return [], None
    figure = save_figure(draw_auto(choice), run.path / AUTO_FIGURE, dpi=dpi)
    esc = html.escape
    chosen = choice.chosen_candidate
    parts = [
        "<h2 id='auto'>Settings chosen without ground truth</h2>",
        "<p class='note'>The loss, its parameter, the delay and the epochs were chosen from "
        "the images and their given (noisy) labels alone, by successive halving on a noisy "
        "held-out split: no clean label, corruption mask or clean test split was consulted "
        "(<code>robustloss.search</code>).</p>",
    ]
    name = choice.chosen or (chosen.name if chosen else None)
    if name:
        trained = _settings_text(choice.settings)
        parts.append(
            f"<p>Chosen: <b>{esc(name)}</b>"
            + (f"; trained with {esc(trained)}" if trained else "")
            + ".</p>"
        )
    if choice.why:
        parts.append(f"<p>Why: {esc(choice.why)}</p>")
    criteria = {
        "holdout-acc": "held-out accuracy against the given labels, at the stop epoch",
        "cl-cleaned": "held-out accuracy on the examples Confident Learning does not flag",
        "holdout-gap": "held-out accuracy less how far the accuracy on examples trained on "
        "runs ahead of it, at the stop epoch: memorising wrong labels, which in-sample "
        "detection suffers from",
        "canary-f1": "the F1 of the in-sample detection estimated from labels flipped on "
        "purpose (canaries): how many of them it finds, and how much else it flags",
        "canary-f1-structured": "the F1 of the in-sample detection estimated from labels "
        "flipped on purpose (canaries) the way the data's own wrong labels are: how many of "
        "them it finds, and how much else it flags",
    }
    parts.append(
        f"<p>Criterion: <b>{esc(str(choice.criterion or 'not recorded'))}</b>"
        + (f" ({criteria[choice.criterion]})" if choice.criterion in criteria else "")
        + "."
        + esc(_split_text(choice.plan))
        + (f" Canaries: {esc(choice.canary_note)}." if choice.canary_note else "")
        + "</p>"
    )
    parts.append(_cost(choice))
    parts.append(_candidates_table(choice))
    b64 = base64.b64encode(figure.read_bytes()).decode("ascii")
    parts.append(
        "<figure><img alt='held-out accuracy per epoch, per candidate' style='max-width:100%' "
        f"src='data:image/png;base64,{b64}'><figcaption>Held-out accuracy against the given "
        "labels after each epoch, per candidate (warm-up epochs included): pruned thin grey, "
        "kept coloured, the chosen one bold with a star at its chosen epoch (dashed: its "
        "accuracy on examples it trained on, where recorded). Also beside "
        f"this page as <a href='{AUTO_FIGURE}'>{AUTO_FIGURE}</a>.</figcaption></figure>"
    )
    return parts, figure
