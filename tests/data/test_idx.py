"""IDX reader and writer: every element type, raw and gzip, and every kind of malformed file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from robustloss.data import DataError, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _idx_bytes(code: int, shape: tuple[int, ...], body: bytes) -> bytes:
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">i4").tobytes() + body


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_element_type(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, array)
    assert got.flags.writeable


def test_reads_hand_written_big_endian_int16(tmp_path):
    # 0x0B = int16, big-endian on disk: independent of write_idx
    body = np.array([1, -2, 300, -32768], dtype=">i2").tobytes()
    (tmp_path / "x").write_bytes(_idx_bytes(0x0B, (2, 2), body))
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [[1, -2], [300, -32768]])


def test_gzip_recognised_by_content_not_name(tmp_path):
    data = _idx_bytes(0x08, (3,), bytes([7, 8, 9]))
    (tmp_path / "plain-name").write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), [7, 8, 9])


def test_write_is_reproducible_and_leaves_no_temp_file(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    first = write_idx(tmp_path / "a.gz", a).read_bytes()
    second = write_idx(tmp_path / "a.gz", a).read_bytes()
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz"]


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "a", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="0"):
        write_idx(tmp_path / "a", np.uint8(3))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"\x00\x00", "truncated IDX header"),
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "bad IDX magic"),
        (b"\x00\x00\x0a\x01" + b"\x00\x00\x00\x01" + b"\x05", "unknown IDX element type 0x0A"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated IDX header"),
        (_idx_bytes(0x08, (2, 3), bytes(5)), r"truncated: shape \(2, 3\) .* needs 6 data bytes"),
        (_idx_bytes(0x08, (2, 3), bytes(7)), "dimensions disagree with the size"),
        (_idx_bytes(0x0C, (2,), bytes(7)), "needs 8 data bytes"),
        (b"\x00\x00\x08\x01\xff\xff\xff\xff", "negative dimension"),
        (_idx_bytes(0x08, (2**31 - 1, 2**31 - 1), bytes(4)), "truncated"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_files_raise_data_error_naming_the_file(tmp_path, content, match, compress):
    if compress and content == b"":
        match = "empty gzip content"
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(_idx_bytes(0x08, (1000,), bytes(range(256)) * 3 + bytes(232)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="broken gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupted_gzip_crc(tmp_path):
    data = bytearray(gzip.compress(_idx_bytes(0x08, (4,), bytes([1, 2, 3, 4]))))
    data[-8] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="broken gzip"):
        read_idx(path)


def test_gz_name_without_gzip_content(tmp_path):
    path = tmp_path / "fake.gz"
    path.write_bytes(_idx_bytes(0x08, (1,), b"\x01"))
    with pytest.raises(DataError, match="not a gzip file"):
        read_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.dtype(d) for d in DTYPES]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    st.booleans(),
)
def test_round_trip_property(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if compress else "a")
    got = read_idx(write_idx(path, array))
    assert got.shape == array.shape and got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)  # NaNs compare equal here
