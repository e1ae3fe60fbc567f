"""Loading embeddings, labels and probabilities (robustloss.data.user.features and .labels):
formats, every bad input with its message, and reading in bounded blocks."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

from features_fakes import NAMES, mixture
from robustloss.data import DataError
from robustloss.data.user.features import (
    FeatureMatrix,
    check_finite,
    load_features,
    load_pred_probs,
    open_features,
)
from robustloss.data.user.labels import load_labels
from robustloss.train.head_training import HeadConfig, feature_stats, predict_head, train_head


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_open_features_reads_rows_exactly(tmp_path, dtype):
    x = np.random.default_rng(0).normal(size=(37, 5)).astype(dtype)
    np.save(tmp_path / "f.npy", x)
    m = open_features(tmp_path / "f.npy")
    assert m.shape == (37, 5) and m.dtype == dtype
    np.testing.assert_array_equal(m.read(3, 11), x[3:11])
    np.testing.assert_array_equal(np.concatenate([b for _, b in m.blocks(4)]), x)
    np.testing.assert_array_equal(m.take(np.array([2, 5, 30])), x[[2, 5, 30]])
    assert m.read(40, 50).shape == (0, 5)


def test_nan_and_inf_rows_are_listed(tmp_path):
    x = np.zeros((50, 3), np.float32)
    x[[4, 17, 18], 1] = np.nan
    x[33, 0] = np.inf
    np.save(tmp_path / "f.npy", x)
    with pytest.raises(DataError, match=r"f\.npy: 4 row\(s\) .* NaN or inf: rows 4, 17, 18, 33"):
        open_features(tmp_path / "f.npy")
    many = np.zeros((100, 2), np.float32)
    many[::5] = np.nan  # 20 bad rows, in several blocks
    with pytest.raises(DataError, match=r"20 row\(s\).*rows 0, 5, 10, .* and 10 more"):
        check_finite(FeatureMatrix.from_array(many))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(10, np.float32), r"1-D shape \(10,\).*reshape\(-1, 1\)"),
        (np.zeros((4, 2, 2), np.float32), r"3-D shape"),
        (np.zeros((4, 3), np.int32), r"dtype float16, float32, float64, but got int32"),
        (np.zeros((0, 3), np.float32), r"at least 1 row"),
    ],
)
def test_bad_feature_arrays(tmp_path, array, message):
    np.save(tmp_path / "f.npy", array)
    np.save(tmp_path / "l.npy", np.zeros(len(array), np.int64))
    with pytest.raises(DataError, match=message):
        load_features(tmp_path / "f.npy", tmp_path / "l.npy")


def test_fortran_order_and_truncated_files(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((6, 3), np.float32)))
    with pytest.raises(DataError, match="Fortran"):
        open_features(tmp_path / "f.npy")
    np.save(tmp_path / "t.npy", np.zeros((100, 4), np.float32))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-16])
    with pytest.raises(DataError, match="truncated"):
        open_features(tmp_path / "t.npy")
    with pytest.raises(DataError, match="no such file"):
        open_features(tmp_path / "missing.npy")


def test_lengths_must_match(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((10, 2), np.float32))
    np.save(tmp_path / "l.npy", np.zeros(9, np.int64))
    with pytest.raises(DataError, match=r"f\.npy has 10 rows but .*l\.npy has 9 labels"):
        load_features(tmp_path / "f.npy", tmp_path / "l.npy")


def test_labels_formats(tmp_path):
    (tmp_path / "names.txt").write_text("moth\nant\n\nbee\n".replace("\n\n", "\nant\n"))
    got = load_labels(tmp_path / "names.txt")
    assert got.class_names == ["ant", "bee", "moth"]
    np.testing.assert_array_equal(got.labels, [2, 0, 0, 1])
    (tmp_path / "m.csv").write_text("path,label\na.png,dog\nb.png,cat\n")
    got = load_labels(tmp_path / "m.csv")
    assert got.class_names == ["cat", "dog"] and got.labels.tolist() == [1, 0]
    (tmp_path / "c.csv").write_text("file,species\na,bee\nb,ant\n")
    assert load_labels(tmp_path / "c.csv", column="species").labels.tolist() == [1, 0]
    with pytest.raises(DataError, match=r"needs a 'label' column .*\['file', 'species'\]"):
        load_labels(tmp_path / "c.csv")
    with pytest.raises(DataError, match="no column 'kind'"):
        load_labels(tmp_path / "c.csv", column="kind")
    (tmp_path / "ints.txt").write_text("2\n0\n10\n")
    got = load_labels(tmp_path / "ints.txt")  # integers as text are class indices
    assert got.labels.tolist() == [2, 0, 10] and len(got.class_names) == 11
    np.save(tmp_path / "s.npy", np.array(["b", "a", "b"]))
    assert load_labels(tmp_path / "s.npy").labels.tolist() == [1, 0, 1]


def test_bad_labels(tmp_path):
    (tmp_path / "gap.txt").write_text("ant\n\nbee\n")
    with pytest.raises(DataError, match=r"1 empty label\(s\) at lines 2"):
        load_labels(tmp_path / "gap.txt")
    np.save(tmp_path / "neg.npy", np.array([0, -1, 2]))
    with pytest.raises(DataError, match=r">= 0, but 1 are negative: rows 1"):
        load_labels(tmp_path / "neg.npy")
    np.save(tmp_path / "frac.npy", np.array([0.0, 1.5]))
    with pytest.raises(DataError, match="not whole numbers: rows 1"):
        load_labels(tmp_path / "frac.npy")
    np.save(tmp_path / "b.npy", np.array([True, False]))
    with pytest.raises(DataError, match="dtype bool"):
        load_labels(tmp_path / "b.npy")


def test_empty_labels_files_say_so(tmp_path):
    """No labels at all (an empty file, blank lines, a CSV header alone, an empty array) is a
    DataError naming the file and the rows expected; was numpy's "zero-size array" error."""
    np.save(tmp_path / "f.npy", np.zeros((10, 2), np.float32))
    np.save(tmp_path / "p.npy", _probs())
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n \n")
    (tmp_path / "header.csv").write_text("path,label\n")
    (tmp_path / "column.csv").write_text("file,species\n")
    np.save(tmp_path / "none.npy", np.array([], dtype="<U3"))
    np.save(tmp_path / "zero.npy", np.array([], dtype=np.int64))
    cases = [
        ("empty.txt", {}, r"the file is empty"),
        ("blank.txt", {}, r"the file holds only blank lines"),
        ("header.csv", {}, r"only the header row \['path', 'label'\]"),
        ("column.csv", {"labels_column": "species"}, r"only the header row"),
        ("none.npy", {}, r"an empty array of shape \(0,\)"),
        ("zero.npy", {}, r"an empty array of shape \(0,\)"),
    ]
    for name, options, why in cases:
        where = re.escape(str(tmp_path / name))
        with pytest.raises(DataError, match=rf"{where}: holds no labels \({why}"):
            load_labels(tmp_path / name, column=options.get("labels_column"))
        features = re.escape(str(tmp_path / "f.npy"))
        with pytest.raises(DataError, match=rf"{where}: holds no labels \({why}.*\); "
                           rf"{features} has 10 rows, so 10 labels were expected"):  # fmt: skip
            load_features(tmp_path / "f.npy", tmp_path / name, **options)
    with pytest.raises(DataError, match=r"empty\.txt: holds no labels .*p\.npy has 20 rows"):
        load_pred_probs(tmp_path / "p.npy", tmp_path / "empty.txt")
    x = np.zeros((4, 2), np.float32)
    np.savez(tmp_path / "e.npz", features=x, labels=np.array([], dtype="<U3"))
    with pytest.raises(DataError, match=r"\['labels'\]: holds no labels .*e\.npz has 4 rows"):
        load_features(tmp_path / "e.npz")


def test_npz_features_carry_labels_and_names(tmp_path):
    x, y, _ = mixture(40)
    np.savez(tmp_path / "e.npz", features=x, labels=y, class_names=np.array(NAMES))
    fs = load_features(tmp_path / "e.npz")
    assert fs.class_names == list(NAMES) and fs.features.shape == (40, 8)
    np.testing.assert_array_equal(fs.features.read(0, 40), x)
    np.savez(tmp_path / "bad.npz", embeddings=x)
    with pytest.raises(DataError, match=r"needs an array 'features'.*\['embeddings'\]"):
        load_features(tmp_path / "bad.npz")


def _probs(n=20, k=3, seed=0):
    p = np.random.default_rng(seed).random((n, k))
    return p / p.sum(1, keepdims=True)


def test_pred_probs_checks(tmp_path):
    labels = tmp_path / "l.npy"
    np.save(labels, np.arange(20) % 3)
    p = _probs()
    np.save(tmp_path / "ok.npy", p.astype(np.float32))
    got = load_pred_probs(tmp_path / "ok.npy", labels)
    np.testing.assert_allclose(got.pred_probs.sum(1), 1.0, rtol=0, atol=1e-12)
    bad = p.copy()
    bad[[3, 7]] *= 0.5
    np.save(tmp_path / "sum.npy", bad)
    with pytest.raises(DataError, match=r"2 row\(s\) do not sum to 1 .*rows 3, 7 .*row 3 sums "
                       r"to 0\.5"):  # fmt: skip
        load_pred_probs(tmp_path / "sum.npy", labels)
    bad = p.copy()
    bad[5, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=r"NaN or inf: rows 5"):
        load_pred_probs(tmp_path / "nan.npy", labels)
    np.save(tmp_path / "out.npy", np.arange(20) % 4)
    with pytest.raises(DataError, match=r"5 label\(s\) name a class not among the 3 columns .*"
                       r"rows 3, 7, 11, 15, 19 \(label 3 at row 3\)"):  # fmt: skip
        load_pred_probs(tmp_path / "ok.npy", tmp_path / "out.npy")
    np.save(tmp_path / "short.npy", np.zeros(19, np.int64))
    with pytest.raises(DataError, match=r"has 20 rows but .* has 19 labels"):
        load_pred_probs(tmp_path / "ok.npy", tmp_path / "short.npy")
    np.save(tmp_path / "oned.npy", p[:, 0])
    with pytest.raises(DataError, match=r"shape \(N, K\) with K >= 2"):
        load_pred_probs(tmp_path / "oned.npy", labels)


def test_pred_probs_with_class_names(tmp_path):
    p = _probs(4)
    np.savez(tmp_path / "p.npz", pred_probs=p, class_names=np.array(["cat", "dog", "owl"]))
    (tmp_path / "l.txt").write_text("dog\nowl\ncat\ndog\n")
    got = load_pred_probs(tmp_path / "p.npz", tmp_path / "l.txt")
    assert got.labels.tolist() == [1, 2, 0, 1] and got.class_names == ["cat", "dog", "owl"]
    (tmp_path / "bad.txt").write_text("dog\nemu\ncat\nyak\n")
    with pytest.raises(DataError, match=r"2 label\(s\) name a class not among the columns .*"
                       r"rows 1, 3 \(e\.g\. 'emu'\)"):  # fmt: skip
        load_pred_probs(tmp_path / "p.npz", tmp_path / "bad.txt")
    np.save(tmp_path / "p.npy", p)
    (tmp_path / "two.txt").write_text("dog\nowl\ndog\nowl\n")
    with pytest.raises(DataError, match=r"name 2 classes but .* has 3 columns"):
        load_pred_probs(tmp_path / "p.npy", tmp_path / "two.txt")


class _CountingMatrix(FeatureMatrix):
    """A file-backed matrix that records the size of every read."""

    def __init__(self, inner: FeatureMatrix):
        super().__init__(shape=inner.shape, dtype=inner.dtype, path=inner.path,
                         offset=inner.offset)  # fmt: skip
        self.reads: list[int] = []

    def read(self, start, stop):
        out = super().read(start, stop)
        self.reads.append(out.shape[0])
        return out


def test_training_and_prediction_never_load_the_file_whole(tmp_path):
    n, d, block = 40_000, 32, 2_000
    x, y, _ = mixture(n, d, 4, seed=1)
    np.save(tmp_path / "f.npy", x)  # 5 MB
    matrix = _CountingMatrix(open_features(tmp_path / "f.npy"))
    config = HeadConfig(epochs=1, batch_size=500, block_rows=block, threads=1)
    rows = np.flatnonzero(np.arange(n) % 5 != 0)  # a fold's training rows
    train_head(config, FeatureMatrix.from_array(x[:600]), y[:600])  # imports and warm-up
    tracemalloc.start()
    try:
        result = train_head(config, matrix, y, rows=rows, num_classes=4)
        probs = predict_head(result.model, matrix, np.flatnonzero(np.arange(n) % 5 == 0),
                             block_rows=block)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert probs.shape == (n // 5, 4)
    assert max(matrix.reads) <= block  # every read spans at most one block of rows
    assert sum(matrix.reads) >= 2 * rows.size  # the stats pass and the epoch read it all
    assert peak < x.nbytes / 4  # numpy never held more than a few blocks
    mean, std = feature_stats(matrix, rows, block_rows=777)
    np.testing.assert_allclose(mean, x[rows].mean(0, dtype=np.float64), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(std, x[rows].std(0, dtype=np.float64), rtol=1e-6)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def test_blocks_are_copied_once(tmp_path):
    """take() of scattered rows and the float64 stats pass allocate one block, not two."""
    x = np.random.default_rng(0).normal(size=(4_000, 64))  # float64, 2 MB
    rows = np.arange(0, 4_000, 2)
    in_memory = FeatureMatrix.from_array(x)
    got, peak = _peak(lambda: in_memory.take(rows))
    np.testing.assert_array_equal(got, x[rows])
    assert not np.shares_memory(got, x)
    assert peak < 1.5 * got.nbytes  # was the span's copy, then the rows' copy
    np.save(tmp_path / "f.npy", x)
    on_disk = open_features(tmp_path / "f.npy")
    np.testing.assert_array_equal(on_disk.take(rows), x[rows])
    (mean, std), peak = _peak(lambda: feature_stats(on_disk, block_rows=4_000))
    assert peak < 1.5 * x.nbytes  # was the block, then its float64 copy
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, x.std(0), rtol=1e-10)


def test_label_texts_are_indices_only_in_ascii_digits(tmp_path):
    (tmp_path / "ints.txt").write_text(" 3\n007\n0\n")  # stripped; leading zeros are fine
    got = load_labels(tmp_path / "ints.txt")
    assert got.labels.tolist() == [3, 7, 0] and got.class_names == [str(k) for k in range(8)]
    (tmp_path / "sup.txt").write_text("²\n³\n²\n")  # str.isdigit holds, int("²") fails
    got = load_labels(tmp_path / "sup.txt")
    assert got.class_names == ["²", "³"] and got.labels.tolist() == [0, 1, 0]
    (tmp_path / "arabic.txt").write_text("٣\n١\n")  # int("٣") == 3: still names
    got = load_labels(tmp_path / "arabic.txt")
    assert got.class_names == ["١", "٣"] and got.labels.tolist() == [1, 0]
    np.save(tmp_path / "mixed.npy", np.array(["1", "²", "1"]))
    got = load_labels(tmp_path / "mixed.npy")
    assert got.class_names == ["1", "²"] and got.labels.tolist() == [0, 1, 0]
    (tmp_path / "names.txt").write_text("cat\n-1\n")  # not all integers: names
    assert load_labels(tmp_path / "names.txt").class_names == ["-1", "cat"]


def test_signed_integer_labels_are_refused(tmp_path):
    (tmp_path / "neg.txt").write_text("0\n-1\n2\n")
    with pytest.raises(DataError, match=r"neg\.txt: the labels are integers, so class indices, "
                       r"but 1 carry a sign: lines 2 \(line 2 holds '-1'\); expected whole "
                       r"numbers >= 0"):  # fmt: skip
        load_labels(tmp_path / "neg.txt")
    (tmp_path / "neg.csv").write_text("path,label\na,1\nb,0\nc,+3\n")
    with pytest.raises(DataError, match=r"lines 4 \(line 4 holds '\+3'\)"):
        load_labels(tmp_path / "neg.csv")
    np.save(tmp_path / "neg.npy", np.array(["0", "1", "-2", "-1"]))
    with pytest.raises(DataError, match=r"2 carry a sign: rows 2, 3 \(row 2 holds '-2'\)"):
        load_labels(tmp_path / "neg.npy")


def test_npz_string_labels_follow_class_names_order(tmp_path):
    """Features and images: string labels index the .npz's class_names, in its order."""
    from robustloss.data import load_npz

    names = np.array(["owl", "dog", "cat"])  # deliberately not sorted
    words = np.array(["dog", "cat", "owl", "dog"])
    x = np.zeros((4, 2), np.float32)
    images = np.zeros((4, 5, 5), np.uint8)
    np.savez(tmp_path / "f.npz", features=x, labels=words, class_names=names)
    np.savez(tmp_path / "i.npz", images=images, labels=words, class_names=names)
    fs, im = load_features(tmp_path / "f.npz"), load_npz(tmp_path / "i.npz")
    for got in (fs, im):
        assert got.class_names == ["owl", "dog", "cat"] and got.labels.tolist() == [1, 2, 0, 1]
        assert got.labels.dtype == np.int64
    bad = np.array(["dog", "cat", "emu", "yak"])
    np.savez(tmp_path / "fb.npz", features=x, labels=bad, class_names=names)
    np.savez(tmp_path / "ib.npz", images=images, labels=bad, class_names=names)
    message = (r"\['labels'\]: 2 label\(s\) not among the 3 class_names \['owl', 'dog', 'cat'\]: "
               r"rows 2, 3 \('emu' at row 2\)")  # fmt: skip
    with pytest.raises(DataError, match=message):
        load_features(tmp_path / "fb.npz")
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "ib.npz")
    twice = np.array(["dog", "cat", "dog"])
    np.savez(tmp_path / "fd.npz", features=x, labels=words, class_names=twice)
    with pytest.raises(DataError, match=r"class_names must be distinct .* \['dog'\] appear"):
        load_features(tmp_path / "fd.npz")
    np.savez(tmp_path / "in.npz", images=images, labels=words)  # no class_names: refused
    with pytest.raises(DataError, match=r"expected integers \(class names as labels need a "
                       r"class_names array\)"):  # fmt: skip
        load_npz(tmp_path / "in.npz")
    np.savez(tmp_path / "fn.npz", features=x, labels=words)  # no class_names: sorted names
    assert load_features(tmp_path / "fn.npz").class_names == ["cat", "dog", "owl"]


def test_bytes_labels_and_class_names_are_utf8_text(tmp_path):
    """Bytes (dtype S) labels and class_names read as the UTF-8 text they hold, as the image
    reader's class_names do; they came out as "b'cat'". Bytes that are not UTF-8 are a
    DataError naming the row."""
    from robustloss.data import load_npz

    np.save(tmp_path / "b.npy", np.array([b"cat", "chat\u00e9".encode(), b"cat"]))
    got = load_labels(tmp_path / "b.npy")
    assert got.class_names == ["cat", "chat\u00e9"] and got.labels.tolist() == [0, 1, 0]
    x, y, _ = mixture(40)
    names = np.array([n.encode() for n in NAMES])  # dtype S4
    np.savez(tmp_path / "i.npz", features=x, labels=y, class_names=names)
    assert load_features(tmp_path / "i.npz").class_names == list(NAMES)
    words = np.array([NAMES[j].encode() for j in y])
    np.savez(tmp_path / "s.npz", features=x, labels=words, class_names=names)
    fs = load_features(tmp_path / "s.npz")
    assert fs.class_names == list(NAMES) and fs.labels.tolist() == y.tolist()
    p = _probs(4)
    np.savez(tmp_path / "p.npz", pred_probs=p, class_names=np.array([b"cat", b"dog", b"owl"]))
    (tmp_path / "l.txt").write_text("dog\nowl\ncat\ndog\n")
    got = load_pred_probs(tmp_path / "p.npz", tmp_path / "l.txt")
    assert got.class_names == ["cat", "dog", "owl"] and got.labels.tolist() == [1, 2, 0, 1]

    np.save(tmp_path / "bad.npy", np.array([b"cat", b"dog", b"\xffowl", b"\xe9"]))
    with pytest.raises(DataError, match=r"bad\.npy: 2 value\(s\) are bytes that are not UTF-8 "
                       r"text: rows 2, 3 \(row 2 holds b'\\xffowl'\)"):  # fmt: skip
        load_labels(tmp_path / "bad.npy")
    bad_names = np.array([b"ant", b"\xff", b"fly", b"moth"])
    np.savez(tmp_path / "bn.npz", features=x, labels=y, class_names=bad_names)
    with pytest.raises(DataError, match=r"\['class_names'\]: 1 value\(s\) .* rows 1 "):
        load_features(tmp_path / "bn.npz")
    bad_words = words.copy()
    bad_words[7] = b"\xff"
    np.savez(tmp_path / "bw.npz", features=x, labels=bad_words, class_names=names)
    images = np.zeros((40, 5, 5), np.uint8)
    np.savez(tmp_path / "im.npz", images=images, labels=bad_words, class_names=names)
    for load, file in ((load_features, "bw.npz"), (load_npz, "im.npz")):
        with pytest.raises(DataError, match=r"\['labels'\]: 1 value\(s\) .* rows 7 "):
            load(tmp_path / file)
