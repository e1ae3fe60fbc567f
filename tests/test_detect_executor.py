"""``detect --features --executor dask``: the folds as tasks on a real loopback Dask cluster
(``dask scheduler`` + ``dask worker`` subprocesses), results equal to the in-process run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import Client

import robustloss.cli as cli
from features_fakes import write_pair
from robustloss.experiments.feature_protocols import dask_fold_map
from robustloss.experiments.pipeline import detect_features

DASK = Path(sys.executable).with_name("dask")
CONFIG = {"protocol": "cv", "folds": 3, "head": "mlp", "epochs": 3, "batch_size": 64,
          "lr": 1e-2, "threads": 1}  # fmt: skip


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
