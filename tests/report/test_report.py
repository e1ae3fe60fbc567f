"""The sweep report: files exist, figures are images, Table 1 equals the database."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustloss.report.sweep.grouping import group_settings
from robustloss.report.sweep.index import write_report
from robustloss.report.sweep.table import PAPER_TABLE1, table1_rows
from robustloss.sweeps.executors import close_client, make_client
from robustloss.sweeps.spec import parse_spec
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.sweep import run_sweep

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from sweep_fakes import fake_trial, stored_trial  # noqa: E402

SPEC = """
noise = [0.1, 0.2]
epochs = 3

[sweep]
name = "rep"
seeds = [0, 1, 2]

[[group]]
name = "ce"
loss = "ce"

[[group]]
name = "focal"
loss = "focal"
gamma = 2.0

[[group]]
name = "blurry"
loss = "blurry"
gamma = [0.2, 0.4]

[[group]]
name = "pz-delays"
loss = "pz"
cutoff = 0.05
delay = [0, 1, 2]
"""
N_TRIALS = 2 * 3 * (1 + 1 + 2 + 3)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "results.db"
    client = make_client("local", n_workers=1, processes=False)
    try:
        result = run_sweep(parse_spec(SPEC), db_path=path, client=client, trial_fn=fake_trial,
                           progress=False)
    finally:
        close_client(client)
    assert result.done == N_TRIALS
    return path


def _expected_table1(db: Path) -> dict[tuple[str, float, str], tuple[float, float, dict]]:
    """Best setting per (dataset, rate, loss) by mean F1 over seeds, straight from SQLite."""
    with ResultStore(db, readonly=True) as store:
        trials = store.trials(status="done")
    per_setting: dict[tuple, list[float]] = {}
    for t in trials:
        c = t.config
        key = (c["dataset"], c["noise"], c["loss"], c["gamma"], c["cutoff"], c["delay"])
        per_setting.setdefault(key, []).append(t.summary.f1)
    best: dict[tuple, tuple[float, float, dict]] = {}
    for key, f1s in per_setting.items():
        row = key[:3]
        mean, std = float(np.mean(f1s)), float(np.std(f1s, ddof=1))
        if row not in best or mean > best[row][0]:
            best[row] = (mean, std, {"gamma": key[3], "cutoff": key[4], "delay": key[5]})
    return best


def test_report_files_and_table1_equal_the_database(db, tmp_path):
    out = tmp_path / "report"
    paths = write_report(db, out)
    assert paths["trials"] == N_TRIALS
    for key in ("index", "table1_md", "table1_csv", "settings_csv", "trials_csv"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0, key
    names = {p.name for p in paths["figures"]}
    assert names == {"figure5_mnist_rho0.1.png", "figure5_mnist_rho0.2.png",
                     "figure6_mnist_rho0.1.png", "figure6_mnist_rho0.2.png"}
    assert len(paths["loss_curves"]) >= 3
    for png in [*paths["figures"], *paths["loss_curves"]]:
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400

    expected = _expected_table1(db)
    with paths["table1_csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(expected) == 2 * 4
    for row in rows:
        mean, std, _ = expected[row["dataset"], float(row["noise"]), row["loss"]]
        assert float(row["f1_mean"]) == mean  # exact: the CSV keeps full precision
        assert float(row["f1_std"]) == pytest.approx(std, rel=1e-12)
        assert int(row["seeds"]) == 3
        paper = PAPER_TABLE1["mnist", float(row["noise"])][row["loss"]][0]
        assert float(row["paper_f1"]) == paper
    # Best per row: the highest mean F1 of the row, and only that one.
    for noise in ("0.1", "0.2"):
        in_row = [r for r in rows if r["noise"] == noise]
        best = max(in_row, key=lambda r: float(r["f1_mean"]))
        assert [r["loss"] for r in in_row if r["best_in_row"] == "True"] == [best["loss"]]
    # Paired with CE over the 3 seeds: the fakes' F1 is CE's plus a constant per setting, so
    # every robust cell wins 3/3 and no t-test is defined (identical differences).
    for row in rows:
        paired = (row["paired_seeds"], row["wins"], row["p_value"])
        assert paired == (("", "", "") if row["loss"] == "ce" else ("3", "3", "")), row

    md = paths["table1_md"].read_text(encoding="utf-8")
    ce = expected["mnist", 0.2, "ce"]
    assert f"{ce[0]:.4f} ± {ce[1]:.4f}" in md and "0.9708" in md  # ours beside the paper's
    assert md.count("**") == 2 * 2  # one bold cell per row
    assert "†" in md  # 3 epochs: the paper's value is flagged as not comparable

    page = paths["index"].read_text(encoding="utf-8")
    for p in [*paths["figures"], *paths["loss_curves"]]:
        assert f'src="{p.relative_to(out).as_posix()}"' in page
    assert "<table>" in page and "0.9708" in page


def test_table_pools_seeds_and_keeps_conditions_apart():
    def trial(seed, f1, **config):
        base = {"dataset": "mnist", "noise": 0.2, "loss": "ce", "delay": 0, "seed": seed,
                "epochs": 10, "threads": None}
        return stored_trial({**base, **config}, f1=f1)

    trials = [trial(0, 0.9), trial(1, 0.8), trial(0, 0.5, epochs=3), trial(1, 0.7, epochs=3)]
    settings = group_settings(trials)
    assert len(settings) == 2  # epochs differ: two rows, never pooled
    rows = table1_rows(settings)
    assert sorted(r["row"] for r in rows) == ["MNIST, ρ=0.2, epochs=10", "MNIST, ρ=0.2, epochs=3"]
    by_epochs = {r["row"]: r for r in rows}
    assert by_epochs["MNIST, ρ=0.2, epochs=10"]["f1_mean"] == pytest.approx(0.85)
    assert by_epochs["MNIST, ρ=0.2, epochs=3"]["f1_std"] == pytest.approx(np.std([0.5, 0.7],
                                                                                 ddof=1))


def test_report_of_a_spec_without_results_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="no results for spec 'quick'"):
        write_report("quick", tmp_path / "out")
    with pytest.raises(ValueError, match="neither a bundled spec"):
        write_report(tmp_path / "missing.db", tmp_path / "out")


def _cli(*argv: str) -> int:
    from robustloss.cli import sweep as sweep_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    sweep_cli.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_results_report_and_dry_run(db, tmp_path, capsys):
    assert _cli("results", str(db)) == 0
    text = capsys.readouterr().out
    assert "PZ c=0.05, d=2" in text and f"{N_TRIALS} done" in text
    assert _cli("results", str(db), "--trials", "--csv", str(tmp_path / "t.csv")) == 0
    assert len((tmp_path / "t.csv").read_text().splitlines()) == N_TRIALS + 1
    assert _cli("report", str(db), "--out", str(tmp_path / "rep"), "--no-loss-curves") == 0
    assert (tmp_path / "rep" / "index.html").is_file()
    assert not (tmp_path / "rep" / "loss-curves").exists()
    capsys.readouterr()
    spec = tmp_path / "grid.toml"
    spec.write_text(SPEC, encoding="utf-8")
    assert _cli("sweep", str(spec), "--dry-run", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert f"{N_TRIALS} trials: {N_TRIALS} done, 0 to run" in out
    with pytest.raises(ValueError, match="needs --address"):
        _cli("sweep", str(spec), "--executor", "dask", "--dry-run")
    with pytest.raises(ValueError, match="--workers >= 1"):
        _cli("sweep", str(spec), "--workers", "0", "--dry-run")
