"""report.html of a run whose settings were chosen without ground truth (loss="auto"):
the section, the candidates' table, the chosen row, the figure auto.png; and a run with
given settings, whose page has none of it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustloss._io import read_csv, write_csv
from robustloss.report.run import gallery
from robustloss.report.run.auto_section import AUTO_FIGURE, draw_auto
from robustloss.report.run.gallery import write_report
from robustloss.run.pipeline import run_experiment
from robustloss.run.reader import read_auto
from synthetic import synthetic_images

HEADING = "Settings chosen without ground truth"
COLUMNS = (
    "candidate", "loss", "gamma", "cutoff", "q", "delay", "status", "epochs_trained",
    "holdout_acc", "best_epoch", "cl_cleaned", "holdout_acc_by_epoch", "reason",
)  # fmt: skip


def tiny(**kw) -> dict:
    base = {"model": "tiny", "epochs": 3, "batch_size": 32, "lr": 1e-2, "threads": 1,
            "device": "cpu", "noise": 0.2}  # fmt: skip
    return {**base, **kw}


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    images, labels = synthetic_images(240, 0)
    np.savez(path, images=images, labels=labels)
    return path


@pytest.fixture(scope="module")
def auto_run(npz, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("auto") / "run"
    run_experiment(tiny(data=str(npz), loss="auto"), out, quiet=True, finalize=write_report)
    return out


@pytest.fixture(scope="module")
def plain_run(npz, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "run"
    run_experiment(tiny(data=str(npz), loss="ce", epochs=1), out, quiet=True,
                   finalize=write_report)  # fmt: skip
    return out


def _section(page: str) -> str:
    start = page.index(HEADING)
    return page[start : page.index("<h2", start)]


def _rows(section: str) -> list[str]:
    body = section[section.index("<tbody>") : section.index("</tbody>")]
    return re.findall(r"<tr[^>]*>.*?</tr>", body)


def test_auto_run_report_shows_the_choice(auto_run):
    page = (auto_run / "report.html").read_text(encoding="utf-8")
    meta = json.loads((auto_run / "config.json").read_text(encoding="utf-8"))["auto"]
    _, csv_rows = read_csv(auto_run / "auto.csv")
    section = _section(page)
    assert meta["why"] in section
    assert f"<b>{meta['criterion']}</b>" in section
    assert f"{meta['ratio_measured']:.2f}×" in section
    assert f"budget max_ratio {meta['plan']['max_ratio']:g}×" in section
    rows = _rows(section)
    assert len(rows) == len(csv_rows) == len(meta["plan"]["candidates"])
    chosen = [r for r in rows if "auto-chosen" in r]
    assert len(chosen) == 1
    assert f"<td>{meta['chosen']}</td><td>chosen</td>" in chosen[0]
    assert "background:" in chosen[0]  # highlighted
    for r, c in zip(rows, csv_rows, strict=True):
        assert f"<td>{c['candidate']}</td><td>{c['status']}</td>" in r
    figure = auto_run / AUTO_FIGURE
    assert figure.is_file()
    with Image.open(figure) as img:
        assert img.format == "PNG"
    assert f"href='{AUTO_FIGURE}'" in section and "data:image/png;base64," in section
    # The configuration says what was asked (auto) and what was trained.
    assert "<th>asked</th><th>used</th>" in page


def test_a_run_with_given_settings_has_no_auto_section(plain_run, monkeypatch):
    page = (plain_run / "report.html").read_text(encoding="utf-8")
    assert HEADING not in page and AUTO_FIGURE not in page
    assert not (plain_run / AUTO_FIGURE).exists()
    # ... and the page is byte for byte what it was without the auto hook.
    monkeypatch.setattr(gallery, "auto_section", lambda folder: ([], None))
    written = write_report(plain_run)
    assert "auto" not in written
    assert (plain_run / "report.html").read_text(encoding="utf-8") == page


def _fake_auto(folder: Path, *, criterion: str = "cl-cleaned") -> list[dict]:
    """A search with every status: chosen at epoch 3 of 4, a failure without a curve."""
    rows = [
        {"candidate": "ce", "loss": "ce", "delay": 0, "status": "kept", "epochs_trained": 4,
         "holdout_acc": 0.8, "best_epoch": 2, "cl_cleaned": 0.9,
         "holdout_acc_by_epoch": "0.7;0.8;0.78;0.75"},
        {"candidate": "blurry gamma=0.4", "loss": "blurry", "gamma": 0.4, "delay": 0,
         "status": "chosen", "epochs_trained": 4, "holdout_acc": 0.85, "best_epoch": 3,
         "cl_cleaned": 0.95, "holdout_acc_by_epoch": "0.7;0.8;0.85;0.84"},
        {"candidate": "gce q=0.7", "loss": "gce", "q": 0.7, "delay": 0, "status": "pruned",
         "epochs_trained": 2, "holdout_acc": 0.6, "best_epoch": 2, "cl_cleaned": 0.7,
         "holdout_acc_by_epoch": "0.5;0.6"},
        {"candidate": "pz cutoff=0.1 d=1", "loss": "pz", "cutoff": 0.1, "delay": 1,
         "status": "collapsed", "epochs_trained": 2, "holdout_acc_by_epoch": "0.7;0.34",
         "reason": "predicts class 0 for 95% of the held-out split"},
        {"candidate": "blurry gamma=0.6", "loss": "blurry", "gamma": 0.6, "delay": 0,
         "status": "failed", "epochs_trained": 0, "holdout_acc_by_epoch": "",
         "reason": "RuntimeError: boom"},
    ]  # fmt: skip
    write_csv(folder / "auto.csv", rows, COLUMNS)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto"] = {
        "criterion": criterion,
        "chosen": "blurry gamma=0.4",
        "settings": {"loss": "blurry", "gamma": 0.4, "delay": 0, "epochs": 3},
        "why": "blurry gamma=0.4, 3 epochs: the highest cl-cleaned (0.9500)",
        "seconds": 1.5,
        "sample_epochs": 2000.0,
        "ratio_measured": 2.25,
        "plan": dict(
            ratio=2.3,
            max_ratio=2.5,
            rung_epochs=2,
            epochs=4,
            n=240,
            n_held=24,
            n_train=216,
            n_search=216,
        ),
        "candidates": rows,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return rows


def test_fake_search_every_status_and_the_criterion(plain_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    rows = _fake_auto(folder)
    written = write_report(folder)
    assert written["auto"] == folder / AUTO_FIGURE and written["auto"].is_file()
    section = _section((folder / "report.html").read_text(encoding="utf-8"))
    assert "<th>cl-cleaned (criterion)</th>" in section
    assert "<th>held-out acc.</th>" in section and "<th>stop epoch</th>" in section
    assert "class='warn'" not in section  # 2.25 within the budget 2.5
    shown = _rows(section)
    assert len(shown) == len(rows)
    assert [("auto-chosen" in r) for r in shown] == [False, True, False, False, False]
    assert "<td>0.9500</td>" in shown[1] and "<td>3</td>" in shown[1]
    assert "predicts class 0 for 95% of the held-out split" in shown[3]
    assert "RuntimeError: boom" in shown[4] and "<td>–</td>" in shown[4]
    assert "all 216 other examples" in section


def test_over_budget_is_a_warning(plain_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    _fake_auto(folder, criterion="holdout-acc")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto"]["ratio_measured"] = 3.7
    config["auto"]["plan"]["ratio"] = 3.75
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_report(folder)
    section = _section((folder / "report.html").read_text(encoding="utf-8"))
    assert "<p class='warn'>" in section and "over the budget as planned" in section
    assert "<th>held-out acc. (criterion)</th>" in section


def test_figure_lines_by_status(plain_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    _fake_auto(folder)
    choice = read_auto(folder)
    assert choice is not None and choice.chosen_candidate.name == "blurry gamma=0.4"
    assert choice.candidates[4].curve == () and choice.candidates[3].holdout_acc is None
    ax = draw_auto(choice).axes[0]
    by_label = {line.get_label(): line for line in ax.get_lines()}
    chosen = by_label["blurry gamma=0.4 (chosen)"]
    kept = by_label["ce"]
    pruned = by_label["pruned (1)"]
    assert chosen.get_linewidth() > kept.get_linewidth() > pruned.get_linewidth()
    assert "diverged/collapsed/failed (2)" in by_label
    star = by_label["chosen epoch (3)"]
    np.testing.assert_allclose(star.get_xydata(), [[3.0, 0.85]])
    np.testing.assert_allclose(chosen.get_xydata()[:, 1], [0.7, 0.8, 0.85, 0.84])
    assert "halved after 2 epoch(s)" in by_label


def test_the_gap_criterion_its_columns_and_the_fit_curve(plain_run, tmp_path):
    """A search chosen by holdout-gap: its columns marked, the chosen candidate's accuracy on
    examples it trained on drawn dashed, the star at the epochs chosen (the gap's)."""
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    rows = _fake_auto(folder, criterion="holdout-gap")
    gap = {"holdout_gap": 0.81, "stop_epoch": 2, "train_acc_by_epoch": "0.7;0.8;0.9;0.95"}
    rows = [{**r, **gap} if r["status"] == "chosen" else r for r in rows]
    write_csv(folder / "auto.csv", rows, (*COLUMNS, "holdout_gap", "stop_epoch",
                                          "train_acc_by_epoch"))  # fmt: skip
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto"]["settings"]["epochs"] = 2
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_report(folder)
    section = _section((folder / "report.html").read_text(encoding="utf-8"))
    assert "<th>holdout-gap (criterion)</th>" in section and "memorising" in section
    chosen = next(r for r in _rows(section) if "auto-chosen" in r)
    assert "<td>0.8100</td><td>2</td>" in chosen
    choice = read_auto(folder)
    assert choice.chosen_candidate.fit_curve == (0.7, 0.8, 0.9, 0.95)
    by_label = {line.get_label(): line for line in draw_auto(choice).axes[0].get_lines()}
    fit = by_label["chosen: accuracy on examples trained on"]
    assert fit.get_linestyle() == "--"
    np.testing.assert_allclose(fit.get_xydata()[:, 1], [0.7, 0.8, 0.9, 0.95])
    np.testing.assert_allclose(by_label["chosen epoch (2)"].get_xydata(), [[2.0, 0.8]])


def _canary_run(plain_run: Path, tmp_path: Path, criterion: str) -> Path:
    """A run folder whose fake search chose by a canary criterion, canary columns filled
    for the chosen candidate only."""
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    rows = _fake_auto(folder, criterion=criterion)
    canary = {"canary_recall": 0.9, "flagged_share": 0.25, "canary_f1": 0.8372}
    rows = [{**r, **canary} if r["status"] == "chosen" else r for r in rows]
    write_csv(folder / "auto.csv", rows, (*COLUMNS, "canary_recall", "flagged_share",
                                          "canary_f1"))  # fmt: skip
    return folder


def test_the_canary_criterion_shows_its_columns_only_where_there_were_canaries(
    plain_run, tmp_path
):
    folder = _canary_run(plain_run, tmp_path, "canary-f1")
    write_report(folder)
    section = _section((folder / "report.html").read_text(encoding="utf-8"))
    assert "<th>canary recall</th><th>flagged share</th><th>canary-f1 (criterion)</th>" in section
    assert "labels flipped on purpose" in section
    chosen = next(r for r in _rows(section) if "auto-chosen" in r)
    assert "<td>0.9000</td><td>0.2500</td><td>0.8372</td>" in chosen
    assert read_auto(folder).chosen_candidate.canary_f1 == 0.8372
    # a search without canaries keeps its table as it was
    _fake_auto(folder, criterion="holdout-acc")
    write_report(folder)
    assert "canary" not in _section((folder / "report.html").read_text(encoding="utf-8"))


def test_read_auto_errors_name_what_was_expected(plain_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(plain_run, folder)
    assert read_auto(folder) is None
    rows = _fake_auto(folder)
    write_csv(folder / "auto.csv", [{**rows[0], "status": "won"}], COLUMNS)
    with pytest.raises(ValueError, match=r"column `status` to be one of chosen, .*'won'"):
        read_auto(folder)
    write_csv(folder / "auto.csv", [{**rows[0], "holdout_acc_by_epoch": "0.7;x"}], COLUMNS)
    with pytest.raises(ValueError, match=r"';'-joined floats, but got '0.7;x'"):
        read_auto(folder)
    write_csv(folder / "auto.csv", [{**rows[0], "best_epoch": "2.5"}], COLUMNS)
    with pytest.raises(ValueError, match=r"`best_epoch` to be an integer or empty, but got '2.5'"):
        read_auto(folder)


def test_structured_canaries_say_where_their_classes_came_from(plain_run, tmp_path):
    folder = _canary_run(plain_run, tmp_path, "canary-f1-structured")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    note = "drawn from Confident Learning's joint on a cross-entropy probe of 2 epochs"
    config["auto"]["canary_note"] = note
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_report(folder)
    section = _section((folder / "report.html").read_text(encoding="utf-8"))
    assert "<th>canary-f1 (criterion)</th>" in section
    assert "the way the data's own wrong labels are" in section
    assert f"Canaries: {note.replace(chr(39), '&#x27;')}." in section
    assert read_auto(folder).canary_note == note
