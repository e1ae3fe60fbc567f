"""The review page's files, the report overview, the manifest reader and apply-review."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustloss._io import write_csv
from robustloss.data import DataError, load_npz
from robustloss.data.user.manifest import load_manifest
from robustloss.report.run.overview import confusion_counts, overview_html
from robustloss.review import apply as ar
from robustloss.review import decisions
from robustloss.review import page as rv
from robustloss.run.reader import read_run
from robustloss.run.rundir import detection_table
from robustloss.run.tiles import read_tiles

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review_fakes import fake_run, review_rows

REVIEW_COLS = ["index", "given", "decision", "label", "path", "run"]


def _suspects(run: Path) -> dict:
    text = (run / "review" / "suspects.js").read_text()
    prefix = "window.ROBUSTLOSS_REVIEW = "
    assert text.startswith(prefix)
    return json.loads(text[len(prefix) :].rstrip().rstrip(";"))


def _write_review(path: Path, rows: list[dict], cols=REVIEW_COLS) -> Path:
    write_csv(path, rows, cols)
    return path


# ---------------------------------------------------------------------------- review page


def test_review_page_files_and_table(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=260, k=4, flagged=205)
    written = rv.write_review(run, images=made["images"])
    assert written["review"] == run / "review.html"
    page = written["review"].read_text()
    assert "<script src='review/suspects.js'>" in page
    assert "http://" not in page and "https://" not in page  # no CDN, no network
    sheets = sorted((run / "review").glob("sheet-*.png"))
    assert [s.name for s in sheets] == ["sheet-00000.png", "sheet-00001.png", "sheet-00002.png"]
    table = _suspects(run)
    assert table["run"] == made["hash"]
    assert table["classes"] == made["names"]
    assert [r[0] for r in table["rows"]] == made["flagged"].tolist()  # most suspect first
    assert [r[1] for r in table["rows"]] == made["labels"][made["flagged"]].tolist()
    # tile k of the sheets is the image of the k-th suspect
    tiles = read_tiles(run, [0, 99, 100, 204])
    for pos, tile in tiles.items():
        np.testing.assert_array_equal(tile, made["images"][made["flagged"][pos]])
    assert sorted(tiles) == [0, 99, 100, 204]


def test_review_reuses_sheets_and_reloads_images_from_the_input(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=40, k=3, flagged=12)
    rv.write_review(run)  # no images given: read back from the run's .npz input
    np.testing.assert_array_equal(read_tiles(run, [3])[3], made["images"][made["flagged"][3]])
    sheet = run / "review" / "sheet-00000.png"
    mtime = sheet.stat().st_mtime_ns
    os.remove(made["data"])  # a second call reuses the sheets: the input is not needed
    rv.write_review(run)
    assert sheet.stat().st_mtime_ns == mtime


def _without_images(run: Path) -> None:
    """Make a fake run folder look like a run on embeddings (no dataset, no data)."""
    meta = json.loads((run / "config.json").read_text())
    meta["config"].update({"data": None, "features": "emb.npy"})
    (run / "config.json").write_text(json.dumps(meta))


def test_review_of_a_run_without_images(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=6, write_input=False)
    _without_images(run)
    rv.write_review(run)
    table = _suspects(run)
    assert table["tile"] is None and [r[0] for r in table["rows"]] == made["flagged"].tolist()
    assert not list((run / "review").glob("sheet-*.png"))
    assert read_tiles(run, [0]) == {}


def test_large_images_are_shrunk_to_tiles(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=20, k=2, flagged=5)
    big = np.repeat(np.repeat(made["images"], 30, axis=1), 30, axis=2)  # 360 x 360
    rv.write_review(run, images=big)
    tile = read_tiles(run, [0])[0]
    assert max(tile.shape) == rv.MAX_TILE


def test_paths_travel_into_the_table(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=6, input_kind="folder")
    rv.write_review(run, images=made["images"])
    table = _suspects(run)
    assert table["paths"] == [made["paths"][i] for i in made["flagged"]]


def test_ids_travel_into_the_table(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=6, input_kind="manifest")
    rv.write_review(run, images=made["images"])
    table = _suspects(run)
    assert table["ids"] == [f"id{i}" for i in made["flagged"]]
    assert table["paths"] == [made["paths"][i] for i in made["flagged"]]


def test_detection_table_has_an_id_column_only_with_ids():
    labels = np.array([0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    common = dict(class_names=["a", "b"], source_index=np.array([3, 2, 1, 0]),
                  fold_of=np.full(4, -1), corrupted=None, true_labels=None)  # fmt: skip
    table = detection_table(labels, probs, np.array([1]), probs[np.arange(4), labels],
                            paths=["p0", "p1", "p2", "p3"], ids=["i0", "i1", "i2", "i3"],
                            **common)  # fmt: skip
    assert table.columns[-2:] == ("path", "id")
    first = table.rows[0]
    assert (first["index"], first["path"], first["id"]) == (1, "p2", "i2")  # by source row
    plain = detection_table(labels, probs, np.array([1]), probs[np.arange(4), labels],
                            paths=None, **common)  # fmt: skip
    assert "id" not in plain.columns and "path" not in plain.columns


def test_decisions_are_defined_once():
    assert ar.DECISIONS is rv.DECISIONS is decisions.DECISIONS
    assert decisions.DECISIONS == ("accept", "keep", "relabel", "unsure")


# ---------------------------------------------------------------------------- overview


def test_confusion_counts_and_overview_links(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=80, k=4, flagged=30)
    rv.write_review(run, images=made["images"])
    folder = read_run(run)
    counts = confusion_counts(folder.detections, 4)
    g = made["labels"][made["flagged"]]
    assert counts.sum() == 30
    for c in range(4):
        assert counts[c, (c + 1) % 4] == (g == c).sum()
    page = overview_html(folder)
    for c in range(4):
        s = (c + 1) % 4
        n = int(counts[c, s])
        assert f"href='#gallery-{c}-{s}'" in page and f"id='gallery-{c}-{s}'" in page
        assert f">{n}</a>" in page
        assert f"id='gallery-{c}'" in page
    # each confusion's gallery shows at most CELL_GALLERY of its examples, as images
    assert page.count("<img width=") == sum(min(8, int(v)) for v in counts.ravel())


# ---------------------------------------------------------------------------- manifest


def _png(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6), value, dtype=np.uint8)).save(path)


def test_manifest_reads_rows_in_order(tmp_path):
    _png(tmp_path / "a" / "1.png", 10)
    _png(tmp_path / "b" / "2.png", 20)
    _png(tmp_path / "elsewhere.png", 30)
    csv_path = tmp_path / "m.csv"
    write_csv(
        csv_path,
        [{"path": "b/2.png", "label": "dog"}, {"path": "a/1.png", "label": "cat"},
         {"path": str(tmp_path / "elsewhere.png"), "label": "dog"}],
        ["path", "label"],
    )
    s = load_manifest(csv_path)
    assert s.class_names == ["cat", "dog"]
    assert s.labels.tolist() == [1, 0, 1]
    assert s.images[:, 0, 0].tolist() == [20, 10, 30]
    assert s.ids is None
    csv_path.write_text("path,label,id\nb/2.png,dog,x-2\na/1.png,cat, x-1 \n")
    assert load_manifest(csv_path).ids == ["x-2", "x-1"]


def test_manifest_ids_must_be_unique_and_non_empty(tmp_path):
    for name in ("1", "2", "3"):
        _png(tmp_path / f"{name}.png")
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,id\n1.png,a,k7\n2.png,b,\n3.png,b,k7\n")
    with pytest.raises(DataError) as err:
        load_manifest(csv_path)
    assert "row 3: empty id" in str(err.value)
    assert "row 4: id 'k7' duplicated (first in row 2)" in str(err.value)


def test_manifest_problems_listed_by_row(tmp_path):
    _png(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    _png(outside)
    (tmp_path / "m").mkdir()
    os.symlink(outside, tmp_path / "m" / "link.png")
    _png(tmp_path / "m" / "ok.png")
    csv_path = tmp_path / "m" / "list.csv"
    write_csv(
        csv_path,
        [{"path": "ok.png", "label": "a"}, {"path": "missing.png", "label": "b"},
         {"path": "link.png", "label": "a"}, {"path": "ok.png", "label": "b"},
         {"path": "", "label": "a"}],
        ["path", "label"],
    )
    with pytest.raises(DataError) as err:
        load_manifest(csv_path)
    msg = str(err.value)
    assert "row 3: missing.png: no such file" in msg
    assert "row 4: link.png: symlink" in msg and "refused" in msg
    assert "row 5: ok.png: listed more than once" in msg
    assert "row 6: empty path" in msg
    csv_path.write_text("path,label\n../bad.png,a\nok.png,b\n")
    with pytest.raises(DataError, match=r"row 2: .*bad.png: unreadable image"):
        load_manifest(csv_path)
    csv_path.write_text("file,label\nok.png,a\n")
    with pytest.raises(DataError, match="needs the columns"):
        load_manifest(csv_path)


# ---------------------------------------------------------------------------- apply-review


@pytest.fixture
def npz_run(tmp_path):
    run = tmp_path / "run"
    return run, fake_run(run, n=60, k=4, flagged=15)


def test_apply_review_npz_round_trip(npz_run, tmp_path):
    run, made = npz_run
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None), (2, "relabel", "c3"),
                              (3, "unsure", None)])  # fmt: skip
    review = _write_review(tmp_path / "review.csv", rows)
    result = ar.apply_review(run, review, tmp_path / "fixed.npz")
    assert result.decisions == {"accept": 1, "keep": 1, "relabel": 1, "unsure": 1}
    expected = made["labels"].copy()
    i0, i2 = made["flagged"][0], made["flagged"][2]
    expected[i0] = (expected[i0] + 1) % 4
    expected[i2] = 3
    with np.load(tmp_path / "fixed.npz") as npz:
        np.testing.assert_array_equal(npz["labels"], expected)
        np.testing.assert_array_equal(npz["images"], made["images"])
        assert npz["class_names"].tolist() == made["names"]
    assert result.changed == int((expected != made["labels"]).sum())
    assert sum(result.changes.values()) == result.changed
    ar.apply_review(run, review, tmp_path / "fixed.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "fixed.npy"), expected)
    with np.load(made["data"]) as npz:  # the input itself is untouched
        np.testing.assert_array_equal(npz["labels"], made["labels"])


def test_apply_review_dataset_writes_labels_npy(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=5, input_kind="dataset")
    review = _write_review(tmp_path / "r.csv", review_rows(made, [(0, "accept", None)]))
    with pytest.raises(ValueError, match=r"end in \.npy"):
        ar.apply_review(run, review, tmp_path / "labels.csv")
    ar.apply_review(run, review, tmp_path / "labels.npy")
    labels = np.load(tmp_path / "labels.npy")
    assert labels.dtype == np.int64
    i = made["flagged"][0]
    assert labels[i] == (made["labels"][i] + 1) % 3
    assert (np.delete(labels, i) == np.delete(made["labels"], i)).all()


def test_apply_review_dataset_npz_is_what_detect_reads(tmp_path, monkeypatch):
    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=5, input_kind="dataset")
    # the fake run's "training set" stands in for MNIST's (no real data in unit tests)
    monkeypatch.setattr(ar, "load_dataset", lambda name, split: (made["images"], made["labels"]))
    review = _write_review(tmp_path / "r.csv", review_rows(made, [(0, "accept", None)]))
    result = ar.apply_review(run, review, tmp_path / "fixed.npz")
    assert (result.form, result.changed) == ("dataset-npz", 1)
    again = load_npz(tmp_path / "fixed.npz")
    i = made["flagged"][0]
    assert again.labels[i] == (made["labels"][i] + 1) % 3 and again.class_names == made["names"]
    np.testing.assert_array_equal(again.images, made["images"])


def test_apply_review_folder_relabel_list_is_a_manifest(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=24, k=3, flagged=6, input_kind="folder")
    files_before = sorted(p.name for p in Path(made["data"]).rglob("*"))
    review = _write_review(
        tmp_path / "r.csv", review_rows(made, [(0, "accept", None), (1, "relabel", "c0")])
    )
    out = tmp_path / "out" / "relabel.csv"
    out.parent.mkdir()
    result = ar.apply_review(run, review, out)
    assert result.form == "relabel-csv"
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "label_original"]
    assert not Path(rows[0]["path"]).is_absolute()
    again = load_manifest(out)  # what `detect --data relabel.csv` reads
    expected = made["labels"].copy()
    expected[made["flagged"][0]] = (expected[made["flagged"][0]] + 1) % 3
    expected[made["flagged"][1]] = 0
    np.testing.assert_array_equal(again.labels, expected)
    np.testing.assert_array_equal(again.images, made["images"])
    assert sorted(p.name for p in Path(made["data"]).rglob("*")) == files_before  # nothing moved


def test_apply_review_manifest_gets_label_original(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=24, k=3, flagged=6, input_kind="manifest")
    review = _write_review(tmp_path / "r.csv", review_rows(made, [(0, "accept", None)]))
    out = tmp_path / "fixed.csv"
    ar.apply_review(run, review, out)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "id", "label_original"]
    i = int(made["flagged"][0])
    assert rows[i]["label_original"] == made["names"][made["labels"][i]]
    assert rows[i]["label"] == made["names"][(made["labels"][i] + 1) % 3]
    assert rows[i]["id"] == f"id{i}"
    again = load_manifest(out)  # relative paths were rewritten for out's folder
    assert again.labels[i] == (made["labels"][i] + 1) % 3
    np.testing.assert_array_equal(again.images, made["images"])


def _bad(npz_run, tmp_path, rows, cols=REVIEW_COLS):
    run, _ = npz_run
    out = tmp_path / "fixed.npz"
    review = _write_review(tmp_path / "review.csv", rows, cols)
    with pytest.raises(ar.ReviewError) as err:
        ar.apply_review(run, review, out)
    assert not out.exists()  # nothing written
    assert not list(tmp_path.glob(".fixed*"))  # not even a temporary file
    return str(err.value)


def test_unknown_index_named_by_row(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None)])
    rows[1]["index"] = 60
    msg = _bad(npz_run, tmp_path, rows)
    assert "row 3: unknown index 60" in msg and "nothing written" in msg
    rows[1]["index"] = "x7"
    assert "row 3: index 'x7' is not an integer" in _bad(npz_run, tmp_path, rows)


def test_unknown_class_named_by_row(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "relabel", "c9"), (1, "keep", None)])
    assert "row 2: label 'c9' is not one of the run's classes" in _bad(npz_run, tmp_path, rows)


def test_duplicated_rows(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None), (0, "keep", None)])
    msg = _bad(npz_run, tmp_path, rows)
    assert f"row 4: index {made['flagged'][0]} duplicated (first in row 2)" in msg


def test_review_from_another_run(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None)])
    for r in rows:
        r["run"] = "f" * 64
    msg = _bad(npz_run, tmp_path, rows)
    assert "row 2: from another run" in msg and "row 3: from another run" in msg


def test_given_must_match_the_run(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "keep", None)])
    true_given = rows[0]["given"]
    rows[0]["given"] = "c9" if true_given != "c9" else "c0"
    msg = _bad(npz_run, tmp_path, rows)
    assert f"row 2: given {rows[0]['given']!r} but the run's given class" in msg
    assert repr(true_given) in msg


def test_inconsistent_decisions(npz_run, tmp_path):
    _, made = npz_run
    names, labels, k = made["names"], made["labels"], 4
    i1 = made["flagged"][1]
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None), (2, "unsure", None),
                              (3, "maybe", "c0")])  # fmt: skip
    rows[0]["label"] = names[labels[made["flagged"][0]]]  # accept, but the given class
    rows[1]["label"] = names[(labels[i1] + 2) % k]  # keep, but another class
    rows[2]["label"] = "c1"  # unsure with a label
    msg = _bad(npz_run, tmp_path, rows)
    assert "row 2: accept means the suggested class" in msg
    assert "row 3: keep means the given class" in msg
    assert "row 4: decision unsure needs an empty label" in msg
    assert "row 5: decision 'maybe' is not one of" in msg


def test_path_and_id_must_be_the_runs(tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=24, k=3, flagged=6, input_kind="manifest")
    rows = review_rows(made, [(0, "accept", None), (1, "keep", None)])
    assert rows[0]["id"] == f"id{made['flagged'][0]}"
    rows[0]["id"] = "someone-else"
    rows[1]["path"] = "elsewhere.png"
    cols = [*REVIEW_COLS, "id"]
    out = tmp_path / "fixed.csv"
    with pytest.raises(ar.ReviewError) as err:
        ar.apply_review(run, _write_review(tmp_path / "r.csv", rows, cols), out)
    msg = str(err.value)
    i0, i1 = made["flagged"][:2]
    assert f"row 2: id 'someone-else' but the run's id of index {i0} is 'id{i0}'" in msg
    assert f"row 3: path 'elsewhere.png' but the run's path of index {i1}" in msg
    assert not out.exists()


def test_missing_column_and_extra_columns(npz_run, tmp_path):
    _, made = npz_run
    rows = review_rows(made, [(0, "accept", None)])
    msg = _bad(npz_run, tmp_path, rows, ["index", "given", "label", "run"])
    assert "a review.csv needs the columns" in msg and "but decision missing" in msg
    run, _ = npz_run
    for r in rows:
        r["note"] = "looks like a 7"
    review = _write_review(tmp_path / "extra.csv", rows, [*REVIEW_COLS, "note"])
    assert ar.apply_review(run, review, tmp_path / "ok.npz").reviewed == 1  # ignored


def test_out_must_not_be_the_input_or_exist(npz_run, tmp_path):
    run, made = npz_run
    review = _write_review(tmp_path / "r.csv", review_rows(made, [(0, "accept", None)]))
    with pytest.raises(ValueError, match="the run's input itself"):
        ar.apply_review(run, review, made["data"], overwrite=True)
    (tmp_path / "x.npz").write_bytes(b"keep me")
    with pytest.raises(ValueError, match="exists"):
        ar.apply_review(run, review, tmp_path / "x.npz")
    assert (tmp_path / "x.npz").read_bytes() == b"keep me"
