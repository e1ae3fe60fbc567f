"""The run folder's one reader (robustloss.run.reader): typed records of every file, on the
committed old-format examples (tests/data_fixtures/README.md), and errors that name the file
and what was expected."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robustloss._io import write_csv
from robustloss.report.run.gallery import write_report
from robustloss.review.apply import apply_review
from robustloss.review.page import write_review
from robustloss.run.reader import (
    Detection,
    RunFolderError,
    read_auto,
    read_detections,
    read_meta,
    read_run,
    read_summary,
    read_suspect_images,
)
from robustloss.run.records import SUMMARY_ADDED, RunSummary
from robustloss.run.rundir import check_out_dir
from robustloss.run.tiles import read_sheet_meta, read_tiles

FIXTURES = Path(__file__).resolve().parents[1] / "data_fixtures"
OLDEST, AUTO = "run-86dd3e0", "run-db2ede5-auto"


@pytest.fixture
def fixtures(tmp_path, monkeypatch) -> Path:
    """A copy of the examples, the current folder set to it (their configs name the input
    ``tiny.npz`` relative to the folder they ran in)."""
    root = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, root)
    monkeypatch.chdir(root)
    return root


def _consistent(run) -> None:
    """The files of a ``run`` folder agree: summary, detections and corruption."""
    d = run.detections
    assert len(d) == run.summary.n == 60 and d.known
    assert [r.rank for r in d] == list(range(1, 61))
    assert all(isinstance(r, Detection) for r in d)
    assert sum(r.flagged for r in d) == run.summary.flagged
    c = run.corruption
    assert int(c.corrupted.sum()) == run.summary.corrupted
    by_index = d.by_index()
    assert [r.corrupted for r in by_index] == c.corrupted.tolist()
    assert [r.true_label for r in by_index] == c.true_labels.tolist()
    np.testing.assert_array_equal(c.noisy_labels, d.given_labels())
    assert sum(r.flagged and r.corrupted for r in d) == run.summary.correct
    assert run.class_names == ["bar", "dot", "ring"] == run.summary.class_names


def test_the_first_run_folder_format_opens(fixtures):
    run = read_run(OLDEST)
    assert run.meta.command == run.summary.command == "run"
    assert run.config_hash == run.summary.config_hash and run.config["loss"] == "blurry"
    assert run.meta.config_used is None and run.meta.auto is None and run.auto is None
    assert "train_config" in run.meta.other and run.meta.environment["torch"]
    for name in SUMMARY_ADDED:  # that version had none of them
        assert getattr(run.summary, name) is None
    assert run.detections.columns[-1] == "true_class" and "fold" not in run.detections.columns
    assert all(r.fold is None and r.path is None and r.id is None for r in run.detections)
    _consistent(run)
    images = read_suspect_images(OLDEST)
    assert images.indices.size == images.images.shape[0] == run.summary.flagged
    assert images.unexpected_indices.size == 0  # that gallery came later
    assert read_sheet_meta(OLDEST) is None and read_tiles(OLDEST, [0]) == {}


def test_the_first_format_gets_a_review_page_and_a_report(fixtures):
    written = write_review(OLDEST)  # the sheets from the input, loaded again
    run = read_run(OLDEST)
    flagged = run.detections.flagged()
    with np.load("tiny.npz") as npz:
        images = npz["images"]
    tiles = read_tiles(OLDEST, [0, len(flagged) - 1])
    np.testing.assert_array_equal(tiles[0], images[flagged[0].source_index])
    assert written["suspects"].is_file()
    report = write_report(OLDEST)
    page = report["report"].read_text(encoding="utf-8")
    assert "Detection scores" in page and "id='overview'" in page
    assert "Settings chosen without ground truth" not in page


def test_the_db2ede5_auto_folder_opens_with_its_search(fixtures):
    run = read_run(AUTO)
    _consistent(run)
    assert run.config["loss"] == "auto" and run.meta.config_used["loss"] == "blurry"
    choice = run.auto
    assert choice is not None and len(choice.candidates) == 8
    assert choice.criterion == run.meta.auto["criterion"] == "canary-f1-structured"
    assert choice.chosen == run.summary.auto["chosen"] == choice.chosen_candidate.name
    assert choice.plan["candidates"]  # config.json's record, with the plan
    assert read_auto(AUTO) == choice
    meta = read_sheet_meta(AUTO)
    assert meta.run == run.config_hash and meta.flagged == len(run.detections.flagged())
    with np.load("tiny.npz") as npz:
        first = npz["images"][run.detections.flagged()[0].source_index]
    np.testing.assert_array_equal(read_tiles(AUTO, [0])[0], first)
    page = write_report(AUTO)["report"].read_text(encoding="utf-8")
    assert "Settings chosen without ground truth" in page and choice.chosen in page


def test_a_review_of_the_db2ede5_folder_applies(fixtures):
    run = read_run(AUTO)
    top = run.detections.flagged()[0]
    review = write_csv(fixtures / "review.csv", [
        {"index": top.index, "given": top.given_class, "decision": "accept",
         "label": top.suggested_class, "run": run.config_hash},
    ], ["index", "given", "decision", "label", "run"])  # fmt: skip
    result = apply_review(AUTO, review, fixtures / "fixed.npz")
    assert (result.form, result.reviewed, result.changed, result.n) == ("npz", 1, 1, 60)
    with np.load(fixtures / "fixed.npz") as npz:
        assert npz["labels"][top.source_index] == top.suggested_label


def test_a_summary_of_any_version_reads(fixtures):
    data = json.loads((fixtures / AUTO / "summary.json").read_text(encoding="utf-8"))
    oldest = {k: v for k, v in data.items() if k not in (*SUMMARY_ADDED, "history")}
    summary = RunSummary.from_dict(oldest)
    assert summary.history == [] and summary.auto is None and summary.f1 == data["f1"]
    assert RunSummary.from_dict(data).to_dict() == data  # today's round-trips exactly
    with pytest.raises(ValueError, match=r"unknown keys \['surprise'\]"):
        RunSummary.from_dict({**data, "surprise": 1})
    with pytest.raises(ValueError, match=r"missing keys \['class_names'\]"):
        RunSummary.from_dict({k: v for k, v in data.items() if k != "class_names"})


def test_errors_name_the_file_and_what_was_expected(fixtures):
    folder = fixtures / AUTO
    with pytest.raises(RunFolderError, match="not a folder"):
        read_run(fixtures / "tiny.npz")
    (folder / "summary.json").rename(folder / "summary.moved")
    with pytest.raises(RunFolderError, match=r"summary\.json: missing; a run folder holds"):
        read_run(folder)
    (folder / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"summary\.json: expected the run's summary"):
        read_summary(folder)
    (folder / "summary.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"a JSON object\), but got list"):
        read_summary(folder)
    (folder / "config.json").write_text(json.dumps({"command": "run"}), encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"config\.json: .*config, config_hash missing"):
        read_meta(folder)


def test_detection_errors_name_the_line_and_column(fixtures):
    path = fixtures / AUTO / "detections.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    rows[2]["given_label"] = "two"
    write_csv(path, rows, header)
    with pytest.raises(RunFolderError, match=r"line 4: column `given_label`: expected an "
                       r"integer, but got 'two'"):  # fmt: skip
        read_detections(fixtures / AUTO)
    rows[2]["given_label"], rows[3]["flagged"] = "1", "yes"
    write_csv(path, rows, header)
    with pytest.raises(RunFolderError, match=r"line 5: column `flagged`: expected 0 or 1"):
        read_detections(fixtures / AUTO)
    write_csv(path, rows, [c for c in header if c != "rank_score"])
    with pytest.raises(RunFolderError, match=r"needs the columns .*rank_score missing"):
        read_detections(fixtures / AUTO)


def test_a_corruption_of_another_run_is_refused(fixtures):
    shutil.copy(fixtures / OLDEST / "corruption.json", fixtures / AUTO / "corruption.json")
    data = json.loads((fixtures / AUTO / "corruption.json").read_text(encoding="utf-8"))
    data["noisy_labels"] = [(y + 1) % 3 for y in data["noisy_labels"]]
    (fixtures / AUTO / "corruption.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"corruption\.json: expected .* matching "
                       r"detections\.csv, but .*not the given labels"):  # fmt: skip
        read_run(fixtures / AUTO)


def test_where_a_run_may_go_is_read_through_its_config(fixtures):
    run = read_meta(OLDEST)
    with pytest.raises(ValueError, match="already holds this finished run"):
        check_out_dir(Path(OLDEST), "run", run.config_hash, overwrite=False)
    with pytest.raises(ValueError, match="holds a different run"):
        check_out_dir(Path(OLDEST), "run", "f" * 64, overwrite=False)
    check_out_dir(Path(OLDEST), "run", "f" * 64, overwrite=True)
    (fixtures / OLDEST / "config.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a robustloss run folder"):
        check_out_dir(Path(OLDEST), "run", run.config_hash, overwrite=True)
