"""``detect --executor dask``: the folds of a cv run (heads on ``--features``, CNNs on
images) as tasks on a real loopback Dask cluster (``dask scheduler`` + ``dask worker``
subprocesses), results equal to the in-process run; ``--executor local``; the protocols
whose folds cannot train apart refuse an executor."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, get_task_stream

import robustloss.cli as cli
import robustloss.cli.detect_scale as detect_scale
import robustloss.cli.run as run_cli
from features_fakes import write_pair
from robustloss.probs import protocols
from robustloss.probs.features import dask_fold_map
from robustloss.probs.folds import map_in_process
from robustloss.run.config import RunConfig
from robustloss.run.pipeline import detect_features, detect_own_data, train_config_for
from robustloss.sweeps.settings import SlurmSettings
from synthetic import synthetic_images

DASK = Path(sys.executable).with_name("dask")
CONFIG = {"protocol": "cv", "folds": 3, "head": "mlp", "epochs": 3, "batch_size": 64,
          "lr": 1e-2, "threads": 1}  # fmt: skip
#: CNN folds on 150 28x28 images: the tiny model, one epoch, one thread.
IMAGE_CONFIG = {"protocol": "cv", "folds": 3, "model": "tiny", "epochs": 1, "batch_size": 32,
                "lr": 1e-2, "threads": 1, "device": "cpu", "loss": "ce"}  # fmt: skip


def _image_npz(tmp_path: Path) -> Path:
    images, labels = synthetic_images(150, 3)
    labels[:6] = (labels[:6] + 1) % 3  # a few wrong labels to find
    path = tmp_path / "images.npz"
    np.savez(path, images=images, labels=labels)
    return path


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")}
            for row in history]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """tcp:// address of a scheduler with one single-threaded worker, torn down after."""
    if not DASK.is_file():
        pytest.fail(f"the dask command line is missing: {DASK}")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    s_log, w_log = (logs / "s.log").open("w"), (logs / "w.log").open("w")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=s_log, env=env,
    )]  # fmt: skip
    procs.append(subprocess.Popen(
        [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
         "--host", "127.0.0.1", "--local-directory", str(logs)],
        stdout=subprocess.DEVNULL, stderr=w_log, env=env,
    ))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(1, timeout=max(1, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        s_log.close()
        w_log.close()
        shutil.rmtree(logs, ignore_errors=True)


def test_folds_on_dask_workers_equal_the_in_process_run(tmp_path, scheduler):
    features, labels, _ = write_pair(tmp_path)
    local = detect_features(features, labels, CONFIG, tmp_path / "local", quiet=True)
    with Client(scheduler, timeout=10) as client:
        remote = detect_features(features, labels, CONFIG, tmp_path / "remote", quiet=True,
                                 fold_map=dask_fold_map(client))  # fmt: skip
        ran_on = client.run(os.getpid)
    assert len(ran_on) == 1 and os.getpid() not in ran_on.values()  # a worker process
    np.testing.assert_array_equal(np.load(tmp_path / "local" / "pred_probs.npy"),
                                  np.load(tmp_path / "remote" / "pred_probs.npy"))  # fmt: skip
    assert (tmp_path / "local" / "detections.csv").read_bytes() == (
        tmp_path / "remote" / "detections.csv"
    ).read_bytes()
    assert local.history == [
        {**row, "seconds": local.history[i]["seconds"],
         "samples_per_s": local.history[i]["samples_per_s"]}
        for i, row in enumerate(remote.history)
    ]  # fmt: skip


def test_cli_executor_dask(tmp_path, scheduler, capsys, monkeypatch):
    modules = tuple(dict.fromkeys((*cli.COMMAND_MODULES, "robustloss.cli.run")))
    monkeypatch.setattr(cli, "COMMAND_MODULES", modules)
    features, labels, _ = write_pair(tmp_path)
    flags = ["--features", str(features), "--labels", str(labels), "--folds", "3",
             "--epochs", "2", "--threads", "1", "--quiet", "--no-report"]  # fmt: skip
    assert cli.main(["detect", *flags, "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["detect", *flags, "--out", str(tmp_path / "b"), "--executor", "dask",
                     "--address", scheduler]) == 0  # fmt: skip
    capsys.readouterr()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "pred_probs.npy"),
                                  np.load(tmp_path / "b" / "pred_probs.npy"))  # fmt: skip
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert a["config"]["protocol"] == "cv" and a["flagged"] > 0


def test_image_folds_on_dask_workers_equal_the_in_process_run(tmp_path, scheduler):
    data = _image_npz(tmp_path)
    local = detect_own_data(data, IMAGE_CONFIG, tmp_path / "local", quiet=True)
    with Client(scheduler, timeout=10) as client, get_task_stream(client) as stream:
        remote = detect_own_data(data, IMAGE_CONFIG, tmp_path / "remote", quiet=True,
                                 fold_map=dask_fold_map(client))  # fmt: skip
        ran_on = set(client.run(os.getpid).values())
    folds = [t for t in stream.data if str(t["key"]).startswith("robustloss-fold-")]
    assert len(folds) == 3 and os.getpid() not in ran_on  # three tasks, on a worker process
    # Same seeds, same thread count, same machine: bitwise the in-process numbers.
    np.testing.assert_array_equal(np.load(tmp_path / "local" / "pred_probs.npy"),
                                  np.load(tmp_path / "remote" / "pred_probs.npy"))  # fmt: skip
    assert (tmp_path / "local" / "detections.csv").read_bytes() == (
        tmp_path / "remote" / "detections.csv"
    ).read_bytes()
    assert _without_timing(local.history) == _without_timing(remote.history)
    assert local.flagged == remote.flagged > 0 and remote.chosen_epochs == [1, 1, 1]


def test_image_fold_tasks_are_small_and_the_images_travel_once():
    images, labels = synthetic_images(150, 3)
    seen = []

    def recording_map(fn, tasks, /, *, shared=None):
        seen.append((list(tasks), shared))
        return map_in_process(fn, tasks, shared=shared)

    config = train_config_for(RunConfig.from_dict(IMAGE_CONFIG))
    kw = {"protocol": "cv", "folds": 3, "num_classes": 3, "quiet": True}
    mapped = protocols.predicted_probabilities(images, labels, config, fold_map=recording_map,
                                               **kw)  # fmt: skip
    [(tasks, shared)] = seen
    assert shared.images is images  # once, as the map's shared value
    assert all(len(pickle.dumps(t)) < images.nbytes // 20 for t in tasks)
    assert [t.config.seed for t in tasks] == mapped.seeds and len(set(mapped.seeds)) == 3
    assert all(next(m.parameters()).device.type == "cpu" for m in mapped.models)
    default = protocols.predicted_probabilities(images, labels, config, **kw)
    np.testing.assert_array_equal(default.pred_probs, mapped.pred_probs)
    np.testing.assert_array_equal(default.fold_of, mapped.fold_of)


@pytest.mark.parametrize("protocol", ["in-sample", "paper-cv"])
def test_protocols_whose_folds_cannot_train_apart_refuse_a_fold_map(protocol):
    images, labels = synthetic_images(30, 0)
    config = train_config_for(RunConfig.from_dict(IMAGE_CONFIG))
    reason = protocols.SERIAL_PROTOCOLS[protocol]
    with pytest.raises(ValueError, match=f"Expected protocol 'cv' with a `fold_map`.*{protocol!r}"
                       f", which {reason[:20]}"):  # fmt: skip
        protocols.predicted_probabilities(images, labels, config, protocol=protocol, folds=3,
                                          fold_map=map_in_process)  # fmt: skip


@pytest.mark.parametrize("protocol", ["in-sample", "paper-cv"])
def test_cli_executor_refuses_image_protocols_without_independent_folds(
    tmp_path, capsys, protocol
):
    # --data names no file: the refusal comes before anything is loaded or trained.
    argv = ["detect", "--data", str(tmp_path / "none.npz"), "--protocol", protocol,
            "--executor", "local", "--out", str(tmp_path / "x")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"--executor sends the folds of --protocol cv to Dask workers, but --protocol " \
        f"{protocol} {protocols.SERIAL_PROTOCOLS[protocol]}: use --protocol cv" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_cli_executor_refuses_a_presets_serial_protocol_before_a_cluster_starts(
    tmp_path, capsys, monkeypatch, dry_run
):
    # --preset paper sets --protocol paper-cv without the flag: refused all the same, before
    # a cluster (sbatch jobs, for slurm) starts, and a dry run says so too.
    monkeypatch.setattr(detect_scale, "make_client",
                        lambda *a, **k: pytest.fail("a cluster was started"))  # fmt: skip
    argv = ["detect", "--data", str(tmp_path / "none.npz"), "--preset", "paper",
            "--executor", "local", "--out", str(tmp_path / "x"),
            *(["--dry-run"] if dry_run else [])]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "but --protocol paper-cv (from --preset paper) carries one model from fold" in err
    assert not (tmp_path / "x").exists()


def test_library_refuses_a_fold_map_before_loading(tmp_path):
    with pytest.raises(ValueError, match="'paper-cv', which carries one model"):
        detect_own_data(tmp_path / "none.npz", {**IMAGE_CONFIG, "protocol": "paper-cv"},
                        fold_map=map_in_process)  # fmt: skip


@pytest.mark.slow
def test_cli_image_executor_local_and_dask(tmp_path, scheduler, capsys, monkeypatch):
    modules = tuple(dict.fromkeys((*cli.COMMAND_MODULES, "robustloss.cli.run")))
    monkeypatch.setattr(cli, "COMMAND_MODULES", modules)
    data = _image_npz(tmp_path)
    flags = ["--data", str(data), "--model", "tiny", "--loss", "ce", "--folds", "3", "--epochs",
             "1", "--batch-size", "32", "--threads", "1", "--device", "cpu", "--quiet",
             "--no-report"]  # fmt: skip
    assert cli.main(["detect", *flags, "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["detect", *flags, "--out", str(tmp_path / "b"), "--executor", "local",
                     "--workers", "1"]) == 0  # fmt: skip
    assert cli.main(["detect", *flags, "--out", str(tmp_path / "c"), "--executor", "dask",
                     "--address", scheduler]) == 0  # fmt: skip
    capsys.readouterr()
    a = np.load(tmp_path / "a" / "pred_probs.npy")
    for run in ("b", "c"):
        np.testing.assert_array_equal(a, np.load(tmp_path / run / "pred_probs.npy"))
        assert (tmp_path / "a" / "detections.csv").read_bytes() == (
            tmp_path / run / "detections.csv"
        ).read_bytes()
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["protocol"] == "cv" and summary["config"]["protocol"] == "cv"


@pytest.mark.parametrize(
    ("executor", "threads", "cores", "expected"),
    [
        ("local", None, None, None),  # the nanny's OMP_NUM_THREADS=1: one thread per fold
        ("slurm", None, 4, 4),  # a job's booked cores
        ("slurm", None, None, SlurmSettings().cores),
        ("dask", None, None, None),  # workers' machines unknown: torch's default there
        ("local", 2, None, 2),  # --threads given: kept
        (None, None, None, None),  # no executor: unchanged
    ],
)
def test_executor_sizes_fold_threads_when_threads_unset(executor, threads, cores, expected):
    cfg = RunConfig.from_dict({**IMAGE_CONFIG, "threads": threads})
    args = argparse.Namespace(executor=executor, cores=cores)
    assert run_cli._executor_threads(cfg, args).threads == expected
