"""The shared atomic-write and JSON helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from robustloss._io import atomic_open, atomic_write_bytes, atomic_write_text, json_text


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    atomic_write_text(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "b.bin"
    atomic_write_bytes(path, b"first")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path, "wb") as fh:
        fh.write(b"half of the second")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin"]


def test_atomic_open_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "c", "ab"):
        pass


def test_json_text_is_strict_json():
    obj = {"nan": float("nan"), "inf": np.float32("inf"), "n": np.int64(3),
           "a": np.array([0.5, np.nan]), "p": Path("/x/y")}
    text = json_text(obj)
    assert json.loads(text) == {"nan": None, "inf": None, "n": 3, "a": [0.5, None], "p": "/x/y"}



def test_write_csv_header_missing_none_nan_and_extra_keys(tmp_path):
    import csv

    from robustloss._io import write_csv

    path = write_csv(
        tmp_path / "t.csv",
        [{"a": 1, "b": None, "extra": "x"}, {"a": float("nan"), "b": 0.1}, {}],
        ["a", "b"],
    )
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["a", "b"], ["1", ""], ["", "0.1"], ["", ""]]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
