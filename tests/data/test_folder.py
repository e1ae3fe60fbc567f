"""Bring-your-own data: image folders and .npz files, written by the tests with PIL/numpy."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from robustloss.data import DataError, ImageSet, load_folder, load_npz, load_path


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def _gray(value, h=8, w=8):
    return np.full((h, w), value, dtype=np.uint8)


def _rgb(rgb, h=8, w=8):
    return np.tile(np.array(rgb, dtype=np.uint8), (h, w, 1))


@pytest.fixture
def gray_folder(tmp_path):
    root = tmp_path / "gray"
    _save(root / "cat" / "b.png", _gray(10))
    _save(root / "cat" / "a.png", _gray(20))
    _save(root / "dog" / "x.bmp", _gray(30))
    _save(root / "dog" / "nested" / "y.png", _gray(40))
    _save(root / "ant" / "z.pgm", _gray(50))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("ignored: files directly in the root")
    _save(root / ".hidden" / "h.png", _gray(99))
    _save(root / "cat" / ".thumb.png", _gray(99))
    return root


def test_gray_folder_labels_classes_paths(gray_folder):
    s = load_folder(gray_folder)
    assert isinstance(s, ImageSet)
    assert s.class_names == ["ant", "cat", "dog"]  # sorted, hidden folder ignored
    assert s.images.dtype == np.uint8 and s.images.shape == (5, 8, 8)
    np.testing.assert_array_equal(s.labels, [0, 1, 1, 2, 2])
    assert s.labels.dtype == np.int64
    names = [os.path.relpath(p, gray_folder) for p in s.paths]
    assert names == ["ant/z.pgm", "cat/a.png", "cat/b.png", "dog/nested/y.png", "dog/x.bmp"]
    np.testing.assert_array_equal(s.images[:, 0, 0], [50, 20, 10, 40, 30])
    assert s.num_classes == 3 and len(s) == 5


def test_rgb_folder(tmp_path):
    _save(tmp_path / "r" / "1.png", _rgb((255, 0, 0)))
    _save(tmp_path / "g" / "1.jpg", _rgb((0, 255, 0)))
    _save(tmp_path / "b" / "1.png", _rgb((0, 0, 255)))
    s = load_folder(tmp_path)
    assert s.images.shape == (3, 8, 8, 3)
    assert s.class_names == ["b", "g", "r"]
    np.testing.assert_array_equal(s.images[0, 0, 0], [0, 0, 255])
    np.testing.assert_allclose(s.images[1, 0, 0], [0, 255, 0], atol=3)  # JPEG


def test_mixed_gray_and_rgb_becomes_rgb(tmp_path):
    _save(tmp_path / "a" / "1.png", _gray(77))
    _save(tmp_path / "b" / "1.png", _rgb((1, 2, 3)))
    s = load_folder(tmp_path)
    assert s.images.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(s.images[0, 0, 0], [77, 77, 77])
    np.testing.assert_array_equal(s.images[1, 0, 0], [1, 2, 3])


def test_alpha_dropped_and_16_bit_scaled(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0
    _save(tmp_path / "a" / "1.png", rgba)
    Image.fromarray(np.full((4, 4), 0xAB12, dtype=np.uint16)).save(tmp_path / "b.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b.png").rename(tmp_path / "b" / "1.png")
    s = load_folder(tmp_path)
    np.testing.assert_array_equal(s.images[0, 0, 0], [200, 0, 0])
    np.testing.assert_array_equal(s.images[1, 0, 0], [0xAB, 0xAB, 0xAB])


def test_gray_palette_counts_as_gray(tmp_path):
    _save(tmp_path / "a" / "1.png", _gray(5))
    Image.fromarray(_gray(9)).convert("P").save(tmp_path / "p.gif")
    (tmp_path / "b").mkdir()
    (tmp_path / "p.gif").rename(tmp_path / "b" / "1.gif")
    s = load_folder(tmp_path)
    assert s.images.shape == (2, 8, 8)
    assert s.images[1, 0, 0] == 9


def test_mixed_sizes_resized_to_most_common(tmp_path):
    for i in range(3):
        _save(tmp_path / "a" / f"{i}.png", _gray(100, 10, 12))
    big = np.zeros((20, 24), dtype=np.uint8)
    big[:, 12:] = 255  # left half black, right half white
    _save(tmp_path / "b" / "big.png", big)
    s = load_folder(tmp_path)
    assert s.images.shape == (4, 10, 12)
    resized = s.images[3]
    assert resized[5, 0] == 0 and resized[5, -1] == 255  # aspect kept here, content stretched
    np.testing.assert_array_equal(s.images[0], _gray(100, 10, 12))  # untouched


def test_explicit_image_size(tmp_path):
    _save(tmp_path / "a" / "1.png", _gray(100, 10, 12))
    _save(tmp_path / "b" / "1.png", _gray(50, 30, 30))
    assert load_folder(tmp_path, image_size=16).images.shape == (2, 16, 16)
    s = load_folder(tmp_path, image_size=(6, 9))
    assert s.images.shape == (2, 6, 9)
    np.testing.assert_array_equal(s.images[1], _gray(50, 6, 9))


def test_tie_in_sizes_goes_to_larger_area(tmp_path):
    _save(tmp_path / "a" / "1.png", _gray(1, 4, 4))
    _save(tmp_path / "b" / "1.png", _gray(1, 6, 6))
    assert load_folder(tmp_path).images.shape == (2, 6, 6)


@pytest.mark.parametrize("bad", [0, -3, (4,), (4, 0), 2.5, True, "8"])
def test_bad_image_size(gray_folder, bad):
    with pytest.raises(ValueError, match="image_size must be"):
        load_folder(gray_folder, image_size=bad)


def test_all_corrupted_files_reported_by_name(gray_folder):
    (gray_folder / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    good = gray_folder / "dog" / "x.bmp"
    (gray_folder / "dog" / "truncated.bmp").write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataError) as info:
        load_folder(gray_folder)
    msg = str(info.value)
    assert "2 problem(s)" in msg
    assert "broken.png" in msg and "truncated.bmp" in msg
    assert "unreadable image" in msg


def test_symlink_file_escaping_folder_refused(tmp_path):
    outside = tmp_path / "outside.png"
    _save(outside, _gray(1))
    root = tmp_path / "data"
    _save(root / "a" / "1.png", _gray(2))
    _save(root / "b" / "1.png", _gray(3))
    (root / "b" / "evil.png").symlink_to(outside)
    with pytest.raises(DataError, match="outside the folder: refused") as info:
        load_folder(root)
    assert "evil.png" in str(info.value)


def test_symlink_folder_escaping_refused(tmp_path):
    _save(tmp_path / "elsewhere" / "1.png", _gray(1))
    root = tmp_path / "data"
    _save(root / "a" / "1.png", _gray(2))
    _save(root / "b" / "1.png", _gray(3))
    (root / "b" / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "c").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(DataError) as info:
        load_folder(root)
    msg = str(info.value)
    assert "2 problem(s)" in msg and "b/sub" in msg and f"{root / 'c'}:" in msg


def test_symlinks_inside_folder_allowed_and_cycles_terminate(tmp_path):
    root = tmp_path / "data"
    _save(root / "a" / "1.png", _gray(2))
    _save(root / "b" / "1.png", _gray(3))
    (root / "b" / "link.png").symlink_to(root / "a" / "1.png")
    (root / "b" / "loop").symlink_to(root / "b", target_is_directory=True)
    s = load_folder(root)
    np.testing.assert_array_equal(s.labels, [0, 1, 1])
    assert s.images[2, 0, 0] == 2


def test_broken_symlink_reported(tmp_path):
    root = tmp_path / "data"
    _save(root / "a" / "1.png", _gray(2))
    _save(root / "b" / "1.png", _gray(3))
    (root / "b" / "gone.png").symlink_to(root / "b" / "missing.png")
    with pytest.raises(DataError, match=r"gone\.png"):
        load_folder(root)


def test_one_class_is_an_error(tmp_path):
    _save(tmp_path / "only" / "1.png", _gray(1))
    with pytest.raises(DataError, match=r"found 1 class subfolders \(only\), need at least 2"):
        load_folder(tmp_path)


def test_images_without_class_folders(tmp_path):
    _save(tmp_path / "1.png", _gray(1))
    with pytest.raises(DataError, match="found 0 class subfolders"):
        load_folder(tmp_path)


def test_empty_class_is_an_error(tmp_path):
    _save(tmp_path / "a" / "1.png", _gray(1))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="class folder has no image files"):
        load_folder(tmp_path)


def test_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_folder(tmp_path / "missing")


# ---------------------------------------------------------------------------- npz


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_gray_with_class_names(tmp_path):
    images = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    p = _npz(
        tmp_path / "d.npz",
        images=images,
        labels=np.array([0, 2, 1, 2]),
        class_names=np.array(["x", "y", "z"]),
    )
    s = load_npz(p)
    np.testing.assert_array_equal(s.images, images)
    np.testing.assert_array_equal(s.labels, [0, 2, 1, 2])
    assert s.labels.dtype == np.int64
    assert s.class_names == ["x", "y", "z"] and s.paths is None


def test_npz_defaults_class_names_and_converts(tmp_path):
    images = np.full((3, 4, 4, 1), 255, dtype=np.int32)
    p = _npz(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 3], dtype=np.uint16))
    s = load_npz(p)
    assert s.images.dtype == np.uint8 and s.images.shape == (3, 4, 4)
    assert s.class_names == ["0", "1", "2", "3"]
    p = _npz(tmp_path / "f.npz", images=np.full((2, 4, 4, 3), 7.0), labels=np.array([0, 1]))
    s = load_npz(p)
    assert s.images.shape == (2, 4, 4, 3) and s.images.dtype == np.uint8 and s.images.max() == 7


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"labels": np.array([0, 1])}, "missing key"),
        ({"images": np.zeros((2, 4, 4), np.uint8)}, r"missing key\(s\) labels"),
        ({"images": np.zeros((2, 4), np.uint8), "labels": np.array([0, 1])}, r"shape \(2, 4\)"),
        ({"images": np.zeros((2, 4, 4, 2), np.uint8), "labels": np.array([0, 1])}, "shape"),
        ({"images": np.zeros((0, 4, 4), np.uint8), "labels": np.zeros(0, int)}, "empty"),
        (
            {"images": np.full((2, 4, 4), 0.5), "labels": np.array([0, 1])},
            r"values in \[0.5, 0.5\]",
        ),
        ({"images": np.full((2, 4, 4), 300), "labels": np.array([0, 1])}, "300"),
        ({"images": np.full((2, 4, 4), np.nan), "labels": np.array([0, 1])}, "uint8"),
        ({"images": np.zeros((2, 4, 4), bool), "labels": np.array([0, 1])}, "dtype bool"),
        (
            {"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0, 1, 1])},
            r"expected \(2,\)",
        ),
        ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0.0, 1.0])}, "integers"),
        ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0, -1])}, "minimum -1"),
        ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0, 0])}, "need at least 2"),
        (
            {
                "images": np.zeros((2, 4, 4), np.uint8),
                "labels": np.array([0, 2]),
                "class_names": np.array(["a", "b"]),
            },
            r"in \[0, 2\) for 2 class_names, got maximum 2",
        ),
        (
            {
                "images": np.zeros((2, 4, 4), np.uint8),
                "labels": np.array([0, 1]),
                "class_names": np.array(["a", "a"]),
            },
            "duplicate class names",
        ),
        (
            {
                "images": np.zeros((2, 4, 4), np.uint8),
                "labels": np.array([0, 1]),
                "class_names": np.array([1, 2]),
            },
            "strings",
        ),
    ],
)
def test_npz_bad(tmp_path, arrays, match):
    p = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match) as info:
        load_npz(p)
    assert str(p) in str(info.value)


def test_npz_object_array_not_unpickled(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, images=np.array([object()], dtype=object), labels=np.array([0]))
    with pytest.raises(DataError, match=r"cannot read as \.npz"):
        load_npz(p)


def test_npz_garbage_and_npy(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        load_npz(tmp_path / "g.npz")
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"single \.npy"):
        load_npz(tmp_path / "a.npy")


def test_load_path_dispatch(tmp_path, gray_folder):
    p = _npz(tmp_path / "d.npz", images=np.zeros((2, 3, 3), np.uint8), labels=np.array([0, 1]))
    assert load_path(p).images.shape == (2, 3, 3)
    assert load_path(gray_folder).class_names == ["ant", "cat", "dog"]
    assert load_path(gray_folder, image_size=4).images.shape == (5, 4, 4)
    with pytest.raises(ValueError, match="image folders only"):
        load_path(p, image_size=4)
    with pytest.raises(DataError, match="does not exist"):
        load_path(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(DataError, match=r"folder of class subfolders, an \.npz file or a \.csv"):
        load_path(tmp_path / "x.txt")
    (tmp_path / "x.csv").write_text("1,2")  # a .csv is read as a manifest
    with pytest.raises(DataError, match="a manifest needs the columns"):
        load_path(tmp_path / "x.csv")


def test_imageset_checks_lengths():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ImageSet(np.zeros((3, 2, 2), np.uint8), np.zeros(2, np.int64), ["a", "b"])


def test_npz_class_names_that_are_not_utf8_are_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.array([0, 1, 0, 1]),
             class_names=np.array([b"cat", b"\xffowl"]))  # fmt: skip
    with pytest.raises(DataError, match=r"class_names.*not UTF-8.*row 1"):
        load_npz(path)
