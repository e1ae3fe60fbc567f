"""Table 1's paired comparison with cross entropy (wins over common seeds, paired t-test),
and the cells of loss="auto"."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from robustloss.report.sweep.grouping import Setting, group_settings
from robustloss.report.sweep.paired import PAIRED_NOTE, Paired, paired_vs
from robustloss.report.sweep.table import (
    AUTO_NOTE,
    table1_grid,
    table1_markdown,
    table1_rows,
    write_table1,
)
from robustloss.search.criteria import default_criterion
from robustloss.sweeps.results import StoredTrial
from sweep_fakes import run_summary, stored_trial


def trial(loss: str, seed: int, f1: float | None, **config) -> StoredTrial:
    base = {"dataset": "mnist", "noise": 0.2, "loss": loss, "delay": 0, "seed": seed,
            "epochs": 3, "threads": None, "gamma": None, "cutoff": None}  # fmt: skip
    return stored_trial({**base, **config}, f1=f1)


def _recorded(t: StoredTrial, criterion: str) -> StoredTrial:
    """``t`` as if its search had recorded choosing by ``criterion``."""
    return dataclasses.replace(
        t, summary=dataclasses.replace(t.summary, auto={"criterion": criterion})
    )


CE = [0.90, 0.80, 0.85]
BL = [0.95, 0.79, 0.90]  # beats CE on seeds 0 and 2


def _trials() -> list[StoredTrial]:
    out = [trial("ce", i, f) for i, f in enumerate(CE)]
    out += [trial("blurry", i, f, gamma=0.4) for i, f in enumerate(BL)]
    out += [trial("blurry", i, 0.1, gamma=0.2) for i in range(3)]  # a worse setting, unshown
    return out


def _by_loss(trials) -> dict[str, dict]:
    return {r["loss"]: r for r in table1_rows(group_settings(trials))}


def test_wins_and_p_value_equal_scipy_on_the_same_pairs():
    rows = _by_loss(_trials())
    bl = rows["blurry"]
    assert bl["setting"] == "γ=0.4, d=0" and bl["paired_seeds"] == 3 and bl["wins"] == 2
    assert bl["p_value"] == stats.ttest_rel(BL, CE).pvalue
    d = np.subtract(BL, CE)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    assert bl["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1), rel=1e-12)
    assert bl["f1_diff_mean"] == pytest.approx(d.mean())


def test_the_ce_cell_shows_no_comparison_and_others_do_compactly():
    rows = table1_rows(group_settings(_trials()))
    ce = next(r for r in rows if r["loss"] == "ce")
    assert (ce["paired_seeds"], ce["wins"], ce["p_value"]) == (None, None, None)
    header, cells, _ = table1_grid(rows)
    line = dict(zip(header, cells[0], strict=True))
    assert "(" not in line["CE"]
    p = stats.ttest_rel(BL, CE).pvalue
    assert line["BL"] == (
        f"{np.mean(BL):.4f} ± {np.std(BL, ddof=1):.4f} (2/3, p={p:.2g}) [γ=0.4, d=0]"
    )
    md = table1_markdown(rows)
    assert "(2/3, p=" in md and PAIRED_NOTE in md and AUTO_NOTE not in md


def test_missing_pairs_are_left_out():
    trials = [trial("ce", i, f) for i, f in enumerate(CE)]
    trials += [
        trial("pz", 0, 0.91, cutoff=0.05),
        trial("pz", 1, float("nan"), cutoff=0.05),  # not finite: no pair
        trial("pz", 3, 0.99, cutoff=0.05),  # CE never ran seed 3
        trial("pz", 2, 0.95, cutoff=0.05, noise_seed=7),  # another corruption: no pair
        trial("focal", 5, 0.7, gamma=2.0),  # no common seed at all
    ]
    rows = _by_loss(trials)
    assert (rows["pz"]["paired_seeds"], rows["pz"]["wins"], rows["pz"]["p_value"]) == (1, 1, None)
    assert rows["focal"]["paired_seeds"] == 0 and rows["focal"]["f1_diff_mean"] is None
    header, cells, _ = table1_grid(list(rows.values()))
    line = dict(zip(header, cells[0], strict=True))
    assert "(1/1, p n/a)" in line["PZ"]
    assert "(no seeds paired with CE)" in line["FL"]


def test_identical_differences_and_a_row_without_ce_have_no_p_value():
    same = [trial("ce", i, f) for i, f in enumerate(CE)]
    same += [trial("blurry", i, f + 0.01, gamma=0.4) for i, f in enumerate(CE)]
    assert _by_loss(same)["blurry"]["wins"] == 3
    assert _by_loss(same)["blurry"]["p_value"] is None  # every d_i = 0.01: no variance
    no_ce = _by_loss([trial("blurry", i, f, gamma=0.4) for i, f in enumerate(BL)])
    assert no_ce["blurry"]["paired_seeds"] is None and no_ce["blurry"]["p_value"] is None
    assert PAIRED_NOTE not in table1_markdown(list(no_ce.values()))


def test_paired_vs_counts_ties_as_no_win_and_averages_a_seed_run_twice():
    a = Setting(config={"loss": "blurry"}, row=(), seeds=[0, 0, 1, 2],
                summaries=[run_summary(f1=f) for f in (0.8, 0.9, 0.5, 0.7)])  # fmt: skip
    b = Setting(config={"loss": "ce"}, row=(), seeds=[0, 1, 2],
                summaries=[run_summary(f1=f) for f in (0.8, 0.5, 0.6)])  # fmt: skip
    paired = paired_vs(a, b)
    assert (paired.n, paired.wins) == (3, 2)  # seed 0: mean 0.85 > 0.8; seed 1 a tie
    expected = stats.ttest_rel([np.mean([0.8, 0.9]), 0.5, 0.7], [0.8, 0.5, 0.6]).pvalue
    assert paired.p_value == expected
    assert Paired(3, 3, 0.1, None).text() == "3/3, p n/a"


def test_auto_cells_render_last_with_the_setting_auto(tmp_path):
    trials = _trials()
    trials += [trial("auto", i, f) for i, f in enumerate([0.92, 0.85, 0.88])]
    trials += [trial("nce+rce", i, 0.5) for i in range(3)]
    trials += [trial("blurry", i, 0.6, gamma="auto") for i in range(3)]
    settings = group_settings(trials)
    assert [s.label for s in settings][-1] == "auto"
    assert "BL γ=auto, d=0" in [s.label for s in settings]
    rows = table1_rows(settings)
    assert [r["loss"] for r in rows] == ["ce", "blurry", "nce+rce", "auto"]
    auto = rows[-1]
    assert (auto["setting"], auto["loss_label"], auto["wins"]) == ("auto", "auto", 3)
    header, cells, _ = table1_grid(rows)
    assert header[-3:] == ["NCE+RCE", "NCE+RCE (paper)", "auto"]  # the paper has no auto
    p = stats.ttest_rel([0.92, 0.85, 0.88], CE).pvalue
    assert cells[0][-1] == f"{np.mean([0.92, 0.85, 0.88]):.4f} ± 0.0351 (3/3, p={p:.2g})"
    md = table1_markdown(rows)
    assert AUTO_NOTE in md and "oracle over the grid" in md
    paths = write_table1(settings, tmp_path)
    with paths["table1_csv"].open(newline="") as f:
        by_loss = {r["loss"]: r for r in csv.DictReader(f)}
    assert by_loss["auto"]["setting"] == "auto" and by_loss["auto"]["wins"] == "3"
    assert by_loss["ce"]["wins"] == "" and by_loss["ce"]["p_value"] == ""
    assert float(by_loss["blurry"]["p_value"]) == stats.ttest_rel(BL, CE).pvalue
    assert by_loss["blurry"]["paired_seeds"] == "3"


def test_a_sweep_with_loss_auto_renders(tmp_path):
    """A spec with loss = "auto" (fake trials): index.html, table1.md and .csv show its cell."""
    from robustloss.report.sweep.index import write_report
    from robustloss.sweeps.executors import close_client, make_client
    from robustloss.sweeps.spec import parse_spec
    from robustloss.sweeps.sweep import run_sweep
    from sweep_fakes import fake_trial

    spec = parse_spec(
        'noise = 0.2\nepochs = 2\n[sweep]\nname = "auto"\nseeds = [0, 1]\n'
        '[[group]]\nname = "ce"\nloss = "ce"\n[[group]]\nname = "auto"\nloss = "auto"\n'
    )
    client = make_client("local", n_workers=1, processes=False)
    try:
        run_sweep(spec, db_path=tmp_path / "r.db", client=client, trial_fn=fake_trial,
                  progress=False)  # fmt: skip
    finally:
        close_client(client)
    paths = write_report(tmp_path / "r.db", tmp_path / "report", loss_curves=False)
    with paths["table1_csv"].open(newline="") as f:
        auto = next(r for r in csv.DictReader(f) if r["loss"] == "auto")
    assert (auto["setting"], auto["paired_seeds"], auto["wins"]) == ("auto", "2", "0")
    page = paths["index"].read_text(encoding="utf-8")
    assert "<th>auto</th>" in page and "(0/2, p n/a)" in page and "oracle over the grid" in page
    assert "(0/2, p n/a)" in paths["table1_md"].read_text(encoding="utf-8")


def test_auto_criterion_is_part_of_the_setting_and_only_the_default_takes_the_cell():
    """Trials differing in auto_criterion share a row; the best criterion by F1 would be
    chosen with ground truth, so only the default criterion's auto fills the auto cell."""
    trials = [trial("ce", i, f) for i, f in enumerate(CE)]
    trials += [trial("auto", i, 0.7, auto_criterion=None) for i in range(3)]
    trials += [trial("auto", i, 0.99, auto_criterion="cl-cleaned") for i in range(3)]
    trials += [trial("auto", i, 0.98, auto_criterion="holdout-acc") for i in range(3)]
    settings = group_settings(trials)
    assert {s.label for s in settings} == {
        "CE", "auto", "auto criterion cl-cleaned", "auto criterion holdout-acc"
    }  # fmt: skip
    rows = table1_rows(settings)
    assert len({r["row"] for r in rows}) == 1  # one row, not one per criterion
    auto = next(r for r in rows if r["loss"] == "auto")
    assert auto["f1_mean"] == pytest.approx(0.7)  # the default criterion's, not the best


@pytest.mark.parametrize(
    ("protocol", "default"), [("in-sample", "canary-f1-structured"), ("cv", "holdout-acc")]
)
def test_the_auto_cell_is_the_protocols_default_criterion_named_or_not(protocol, default):
    """An explicit criterion equal to the protocol's default is the default's auto."""
    other = "holdout-acc" if default != "holdout-acc" else "holdout-gap"
    trials = [trial("ce", i, f, protocol=protocol) for i, f in enumerate(CE)]
    trials += [trial("auto", i, 0.7, protocol=protocol, auto_criterion=default) for i in range(3)]
    trials += [trial("auto", i, 0.99, protocol=protocol, auto_criterion=other) for i in range(3)]
    settings = group_settings(trials)
    assert {s.label for s in settings} == {"CE", "auto", f"auto criterion {other}"}
    auto = next(r for r in table1_rows(settings) if r["loss"] == "auto")
    assert auto["f1_mean"] == pytest.approx(0.7)


def test_an_auto_trial_is_labelled_by_the_criterion_it_recorded_choosing_by():
    """auto_criterion None means the default of the code that ran it: a trial that recorded
    another criterion than today's default is that criterion's setting, not the default's
    (and is not pooled with it)."""
    default = default_criterion("in-sample")
    old = "holdout-acc" if default != "holdout-acc" else "holdout-gap"
    trials = [trial("ce", i, f, protocol="in-sample") for i, f in enumerate(CE)]
    for i in range(3):
        ran_old = _recorded(trial("auto", i, 0.99, protocol="in-sample", auto_criterion=None), old)
        ran_now = _recorded(trial("auto", i, 0.7, protocol="in-sample", auto_criterion=None),
                            default)  # fmt: skip
        trials += [ran_old, ran_now]
    trials += [trial("auto", i, 0.7, protocol="in-sample", auto_criterion=default)
               for i in range(3)]  # fmt: skip
    settings = group_settings(trials)
    assert {s.label for s in settings} == {"CE", "auto", f"auto criterion {old}"}
    auto = next(s for s in settings if s.label == "auto")
    assert len(auto.seeds) == 6  # the recorded default and the named one: one setting
    cell = next(r for r in table1_rows(settings) if r["loss"] == "auto")
    assert cell["f1_mean"] == pytest.approx(0.7)  # not the other criterion's 0.99
