"""A sweep's report folder: Table 1, Figures 5 and 6, the loss curves, one ``index.html``.

:func:`write_report` reads results databases only (never trains), so it can be run again at
any time, also while a sweep is still running (it shows what is done). Folder contents::

    index.html            everything below on one page (images linked, not copied)
    table1.md, table1.csv the paper's Table 1 with our numbers (see robustloss.report.sweep.table)
    settings.csv          every setting: mean and std over seeds of every metric
    trials.csv            every trial of the sources, one row each (done, failed, pending)
    figure5_<row>.png     detections per setting (robustloss.report.sweep.figures)
    figure6_<row>.png     F1 against delay, where a delay sweep was run
    loss-curves/*.png     the paper's Figures 2-4 and the gradient weights
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustloss._io import atomic_write_text, write_csv
from robustloss._version import __version__
from robustloss.report.sweep.figures import write_figures
from robustloss.report.sweep.grouping import METRICS, group_settings, row_label
from robustloss.report.sweep.loss_curves import plot_loss_curves
from robustloss.report.sweep.orderings import ORDERINGS_NOTE, ordering_lines
from robustloss.report.sweep.paired import PAIRED_NOTE
from robustloss.report.sweep.table import (
    AUTO_NOTE,
    NOT_COMPARABLE,
    format_f1,
    table1_grid,
    table1_rows,
    write_table1,
)
from robustloss.search.criteria import AUTO
from robustloss.sweeps.results import StoredTrial, precision_mix, write_trials_csv
from robustloss.sweeps.sources import TrialSource, load_trials
from robustloss.sweeps.store import ResultStore

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.best { font-weight: bold; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
code { background: #f5f5f5; padding: 0 0.2em; }
.failed { color: #b00; }
"""


def _settings_csv(settings, path: Path) -> Path:
    columns = ["row", "setting", "loss", "seeds"]
    for metric in METRICS:
        columns += [f"{metric}_mean", f"{metric}_std"]
    rows = []
    for s in settings:
        row: dict[str, Any] = {
            "row": row_label(s.row),
            "setting": s.label,
            "loss": s.loss,
            "seeds": " ".join(map(str, sorted(s.seeds))),
        }
        for metric in METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = s.mean(metric), s.std(metric)
        rows.append(row)
    return write_csv(path, rows, columns)


def _trials_csv(info: Sequence[TrialSource], path: Path) -> Path:
    """Every trial of every source (done or not), each once."""
    trials: dict[str, StoredTrial] = {}
    for source in info:
        with ResultStore(source.db, readonly=True) as store:
            for trial in store.trials(sweep=source.sweep):
                trials.setdefault(trial.hash, trial)
    return write_trials_csv(list(trials.values()), path)


def _html_table(header: list[str], cells: list[list[str]], bold: list[list[bool]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for line, marks in zip(cells, bold, strict=True):
        tds = "".join(
            f'<td class="best">{html.escape(c)}</td>' if b else f"<td>{html.escape(c)}</td>"
            for c, b in zip(line, marks, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _settings_table(settings) -> str:
    header = ["Row", "Setting", "Seeds", "F1", "Precision", "Recall", "Flagged", "Correct",
              "Corrupted", "Test acc."]
    cells = []
    for s in settings:
        cells.append([
            row_label(s.row),
            s.label,
            str(len(s.summaries)),
            format_f1(s.mean("f1"), s.std("f1")),
            f"{s.mean('precision'):.4f}",
            f"{s.mean('recall'):.4f}",
            f"{s.mean('flagged'):.1f}",
            f"{s.mean('correct'):.1f}",
            f"{s.mean('corrupted'):.1f}",
            "—" if s.mean("test_acc") != s.mean("test_acc") else f"{s.mean('test_acc'):.4f}",
        ])
    return _html_table(header, cells, [[False] * len(header)] * len(cells))


def _conditions(trials: Sequence[StoredTrial]) -> str:
    """The settings shared by every trial (protocol, epochs, model, ...), as text."""
    keys = ("protocol", "folds", "epochs", "batch_size", "lr", "model", "scaling",
            "precision", "noise_kind", "subset", "method", "rank_by")
    shared = []
    for key in keys:
        values = {repr(t.config.get(key)) for t in trials}
        if len(values) == 1:
            shared.append(f"{key}={trials[0].config.get(key)}")
    return ", ".join(shared)


def write_report(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    loss_curves: bool = True,
    dpi: int = 130,
) -> dict[str, Any]:
    """Write the report of one or more sweeps into ``out_dir``; returns the paths written.

    Args:
        sources: results database(s), or spec name(s)/file(s) whose default database
            (``runs/<name>/results.db``) to read; trials found in several are used once.
        out_dir: the report folder (created; files in it are replaced).
        loss_curves: also draw the loss-curve figures (``loss-curves/``).
        dpi: resolution of the PNGs.

    Returns:
        ``{"index": Path, "table1_md": Path, "table1_csv": Path, "settings_csv": Path,
        "trials_csv": Path, "figures": [Path, ...], "loss_curves": [Path, ...],
        "trials": int, "settings": int}``.

    Raises:
        ValueError: a source that is neither a database nor a spec with results.
    """
    trials, info = load_trials(sources)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"Expected `out_dir` to be a folder, but got a file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)

    settings = group_settings(trials)
    paths: dict[str, Any] = dict(write_table1(settings, out))
    paths["settings_csv"] = _settings_csv(settings, out / "settings.csv")
    paths["trials_csv"] = _trials_csv(info, out / "trials.csv")
    figures = write_figures(settings, out, dpi=dpi)
    paths["figures"] = [f["path"] for f in figures]
    curves = list(plot_loss_curves(out / "loss-curves")) if loss_curves else []
    paths["loss_curves"] = curves
    paths["trials"] = len(trials)
    paths["settings"] = len(settings)

    page = _Page(out)
    parts = [
        *_head(trials, settings),
        *_sources_section(info, trials),
        *_table1_section(settings, page, paths),
        *_figures_section(figures, page),
        *_settings_section(settings, page, paths),
        *_curves_section(curves, page),
        "</body></html>",
    ]
    index = out / "index.html"
    atomic_write_text(index, "\n".join(parts) + "\n")
    paths["index"] = index
    return paths


@dataclass(frozen=True)
class _Page:
    """The report folder, for links relative to ``index.html``."""

    out: Path

    def rel(self, path: Path) -> str:
        return html.escape(Path(path).relative_to(self.out).as_posix())


def _head(trials: Sequence[StoredTrial], settings) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>robustloss sweep report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Robust losses and Confident Learning: sweep report</h1>",
        f"<p>robustloss {html.escape(__version__)}, written "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S %z'))}; {len(trials)} finished "
        f"trials in {len(settings)} settings.</p>",
        *([] if (mix := precision_mix(trials)) is None else [f"<p>{html.escape(mix)}</p>"]),
    ]


def _sources_section(info: Sequence[TrialSource], trials: Sequence[StoredTrial]
                     ) -> list[str]:
    """Each source with its status counts, the failed trials, the settings all share."""
    parts = ["<h2>Sources</h2><ul>"]
    for i in info:
        counts = ", ".join(f"{n} {k}" for k, n in i.counts.items() if n)
        what = f"sweep <code>{html.escape(i.sweep)}</code> in " if i.sweep else ""
        parts.append(f"<li>{what}<code>{html.escape(i.db)}</code>: "
                     f"{html.escape(counts or 'no trials')}</li>")
    parts.append("</ul>")
    failures = [(i.db, h, e) for i in info for h, e in i.failures]
    if failures:
        parts.append(f'<h3 class="failed">{len(failures)} failed trial(s)</h3><ul>')
        for db, h, err in failures:
            parts.append(f'<li class="failed"><code>{html.escape(h[:12])}</code> '
                         f"({html.escape(db)}): {html.escape(' '.join(err))}</li>")
        parts.append("</ul>")
    if trials:
        parts.append(f"<p>Shared settings: <code>{html.escape(_conditions(trials))}</code></p>")
    return parts


def _table1_section(settings, page: _Page, paths: dict[str, Any]) -> list[str]:
    parts = ["<h2>Table 1: F1 per dataset and corruption rate</h2>"]
    rows = table1_rows(settings)
    if not rows:
        return [*parts, "<p>No finished trials yet.</p>"]
    parts.append(_html_table(*table1_grid(rows)))
    parts.append(
        "<p>Mean ± sample std over seeds of the F1 of the detections; per loss the "
        "setting with the best mean F1 in that row (in brackets); bold: the row's best "
        "loss. The paper's columns are its Table 1 (one run per cell). "
        f'<a href="{page.rel(paths["table1_md"])}">Markdown</a>, '
        f'<a href="{page.rel(paths["table1_csv"])}">CSV</a>.</p>'
    )
    if any(r["paired_seeds"] is not None for r in rows):
        parts.append(f"<p>{html.escape(PAIRED_NOTE)}</p>")
    if any(r["loss"] == AUTO for r in rows):
        parts.append(f"<p>{html.escape(AUTO_NOTE)}</p>")
    order = ordering_lines(rows)
    if order:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in order)
        parts.append(f"<p>{html.escape(ORDERINGS_NOTE)}</p><ul>{items}</ul>")
    if any(r["paper_f1"] is not None and not r["paper_comparable"] for r in rows):
        parts.append(f"<p>{html.escape(NOT_COMPARABLE)}</p>")
    return parts


_FIGURE_HEADINGS: tuple[tuple[str, str], ...] = (
    ("figure5", "Figure 5: detections per setting"),
    ("figure6", "Figure 6: F1 against delay"),
)


def _figures_section(figures: Sequence[dict[str, Any]], page: _Page) -> list[str]:
    parts = []
    for kind, heading in _FIGURE_HEADINGS:
        chosen = [f for f in figures if f["kind"] == kind]
        if not chosen:
            continue
        parts.append(f"<h2>{heading}</h2>")
        for f in chosen:
            caption = html.escape(str(f["caption"]))
            parts.append(f'<figure><img src="{page.rel(f["path"])}" alt="{caption}">'
                         f"<figcaption>{caption}</figcaption></figure>")
    return parts


def _settings_section(settings, page: _Page, paths: dict[str, Any]) -> list[str]:
    if not settings:
        return []
    return [
        "<h2>All settings</h2>",
        _settings_table(settings),
        f'<p><a href="{page.rel(paths["settings_csv"])}">settings.csv</a>, '
        f'<a href="{page.rel(paths["trials_csv"])}">trials.csv</a> (every trial).</p>',
    ]


def _curves_section(curves: Sequence[Path], page: _Page) -> list[str]:
    if not curves:
        return []
    parts = ["<h2>Loss curves (the paper's Figures 2-4)</h2>"]
    for path in curves:
        parts.append(f'<figure><img src="{page.rel(path)}" alt="{page.rel(path)}">'
                     f"<figcaption>{page.rel(path)}</figcaption></figure>")
    return parts
