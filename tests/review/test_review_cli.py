"""End to end through the CLI: detect -> review.csv -> apply-review -> detect on the result.

Tiny model, 90 synthetic images (9 of them mislabelled on purpose), one epoch in-sample: a
few seconds per ``detect``. The review.csv is written here the way the review page exports
it (the browser half is tests/review/test_review_browser.py).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import robustloss.cli as cli
from robustloss._io import write_csv
from synthetic import synthetic_images

TINY = ["--model", "tiny", "--epochs", "1", "--protocol", "in-sample", "--batch-size", "32",
        "--lr", "0.01", "--threads", "1", "--device", "cpu"]  # fmt: skip
NAMES = ["bar", "dot", "ring"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_input(tmp_path: Path, kind: str) -> Path:
    """90 images as an image folder or a manifest with ids; 9 labels wrong on purpose."""
    images, labels = synthetic_images(90, 7)
    given = labels.copy()
    given[:9] = (labels[:9] + 1) % 3
    root = tmp_path / "images"
    entries = []
    for i, img in enumerate(images):
        rel = Path(NAMES[given[i]]) / f"img{i:03d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)
        entries.append({"path": rel.as_posix(), "label": NAMES[given[i]], "id": f"ex-{i}"})
    if kind == "folder":
        return root
    return write_csv(root / "manifest.csv", entries, ["path", "label", "id"])


def _detect(data: Path, out: Path, capsys) -> dict:
    code = cli.main(["detect", "--data", str(data), *TINY, "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("kind", ["folder", "manifest"])
def test_detect_review_apply_detect_again(tmp_path, kind, capsys):
    data = _write_input(tmp_path, kind)
    run = tmp_path / "det"
    summary = _detect(data, run, capsys)
    assert summary["flagged"] >= 4

    # detect wrote the review page and the report's overview beside the detections
    assert (run / "review.html").is_file() and (run / "review" / "suspects.js").is_file()
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "id='overview'" in report and "href='review.html'" in report
    rows = _rows(run / "detections.csv")
    assert ("id" in rows[0]) == (kind == "manifest")
    flagged = [r for r in rows if r["flagged"] == "1"]
    if kind == "manifest":
        assert all(r["id"] == f"ex-{r['source_index']}" for r in rows)
        assert f'"ex-{flagged[0]["index"]}"' in (run / "review" / "suspects.js").read_text()

    # the review, as the page exports it: accept, relabel, keep, unsure
    first, second, third, fourth = flagged[:4]
    other = next(n for n in NAMES if n not in (second["given_class"], second["suggested_class"]))
    decisions = [(first, "accept", first["suggested_class"]), (second, "relabel", other),
                 (third, "keep", third["given_class"]), (fourth, "unsure", "")]  # fmt: skip
    cols = ["index", "given", "decision", "label", "path", *(["id"] if kind == "manifest" else [])]
    review = [
        {"index": r["index"], "given": r["given_class"], "decision": d, "label": label,
         "path": r["path"], "id": r.get("id"), "note": "ignored"}
        for r, d, label in decisions
    ]  # fmt: skip
    review_csv = write_csv(tmp_path / "review.csv", review, [*cols, "note"])

    # a bad row: exit 2, one line naming the row, nothing written
    bad = [dict(review[0]), {**review[1], "label": "zebra"}]
    bad_csv = write_csv(tmp_path / "bad.csv", bad, cols)
    out = tmp_path / "relabel.csv"
    assert cli.main(["apply-review", str(run), str(bad_csv), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustloss apply-review: error:")
    assert "row 3: label 'zebra' is not one of the run's classes" in err
    assert not out.exists()

    assert cli.main(["apply-review", str(run), str(review_csv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    expected_changes = int(first["suggested_class"] != first["given_class"]) + 1
    assert "4 decisions (accept 1, keep 1, relabel 1, unsure 1)" in printed
    assert f"{expected_changes} labels changed" in printed
    root = data if data.is_dir() else data.parent
    assert sorted(p.name for p in root.rglob("*.png")) == sorted(
        f"img{i:03d}.png" for i in range(90)
    )  # the user's files stay where they were

    # a second detect reads the corrected labels
    again = tmp_path / "det2"
    _detect(out, again, capsys)
    by_index = {r["index"]: r for r in _rows(again / "detections.csv")}
    assert by_index[first["index"]]["given_class"] == first["suggested_class"]
    assert by_index[second["index"]]["given_class"] == other
    for r in (third, fourth):
        assert by_index[r["index"]]["given_class"] == r["given_class"]
    n_changed = sum(by_index[r["index"]]["given_class"] != r["given_class"] for r in rows)
    assert n_changed == expected_changes
    if kind == "manifest":
        assert by_index[first["index"]]["id"] == first["id"]  # ids survive the round trip
    labels = np.array([NAMES.index(r["label"]) for r in _rows(out)])
    assert labels.shape == (90,)
