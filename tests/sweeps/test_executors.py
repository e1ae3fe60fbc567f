"""The three executors, for real, on two cheap trials each (bounded in time)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustloss.sweeps.executors import (
    close_client,
    make_client,
    slurm_job_script,
    trial_threads,
    worker_count,
)
from robustloss.sweeps.spec import parse_spec
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.sweep import run_sweep

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # workers import sweep_fakes from here too

from sweep_fakes import fake_summary, fake_trial  # noqa: E402

TWO = """
dataset = "mnist"
loss = "ce"
epochs = 2
[sweep]
name = "two"
seeds = [0, 1]
"""


def _two_spec():
    return parse_spec(TWO)


def _check_two_done(db: Path) -> set[str]:
    spec = _two_spec()
    with ResultStore(db, readonly=True) as store:
        trials = store.trials(sweep="two")
        assert [t.status for t in trials] == ["done", "done"]
        for trial, config in zip(trials, spec.trials(), strict=True):
            assert trial.summary.f1 == fake_summary(config)["f1"]
            assert len(store.history(trial.hash)) == 2
        return {t.worker for t in trials}


@pytest.mark.timeout(60)
def test_local_cluster_runs_trials_in_worker_processes(tmp_path):
    client = make_client("local", n_workers=2)
    try:
        assert worker_count(client) == 2
        result = run_sweep(_two_spec(), db_path=tmp_path / "r.db", client=client,
                           trial_fn=fake_trial, progress=False)
    finally:
        close_client(client)
    assert (result.done, result.failed) == (2, 0)
    workers = _check_two_done(tmp_path / "r.db")
    assert all(int(w.split(":")[1]) != os.getpid() for w in workers)  # not the driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]


@pytest.mark.timeout(90)
def test_existing_dask_cluster_reached_by_address(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    pythonpath = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath}
    procs = []
    try:
        procs.append(subprocess.Popen(
            [*_dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        ))
        procs.append(subprocess.Popen(
            [*_dask_cli(), "worker", address, "--nworkers", "1", "--nthreads", "1",
             "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        ))
        client = make_client("dask", address=address, timeout=30)
        try:
            client.wait_for_workers(1, timeout=30)
            result = run_sweep(_two_spec(), db_path=tmp_path / "r.db", client=client,
                               trial_fn=fake_trial, progress=False)
        finally:
            close_client(client)
        assert (result.done, result.failed) == (2, 0)
        workers = _check_two_done(tmp_path / "r.db")
        worker_pids = {int(w.split(":")[1]) for w in workers}
        assert os.getpid() not in worker_pids
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def test_dask_executor_needs_an_address():
    with pytest.raises(ValueError, match="needs --address"):
        make_client("dask")
    with pytest.raises(ValueError, match="one of"):
        make_client("kubernetes")
    with pytest.raises(ValueError, match="n_workers"):
        make_client("local", n_workers=0)


@pytest.mark.timeout(60)
def test_slurm_job_script_without_submitting():
    script = slurm_job_script(
        account="lab42",
        queue="cpu",
        walltime="02:30:00",
        memory="6GB",
        cores=4,
        job_extra=["--gres=gpu:1"],
        prologue=["source /home/me/robustloss/.venv/bin/activate"],
        job_name="rl-test",
    )
    lines = script.splitlines()
    assert lines[0].startswith("#!")
    for directive in ("-J rl-test", "-A lab42", "-p cpu", "--cpus-per-task=4", "-t 02:30:00",
                      "--gres=gpu:1"):
        assert f"#SBATCH {directive}" in lines, directive
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    assert "source /home/me/robustloss/.venv/bin/activate" in lines
    worker = next(line for line in lines if "dask_worker" in line or "dask-worker" in line)
    assert "--nthreads 1" in worker  # one trial at a time per job
    assert "tcp://" in worker  # it connects back to this driver's scheduler
    assert trial_threads("slurm", threads=1, cores=4) == 4
    assert trial_threads("local", threads=1, cores=4) == 1


@pytest.mark.timeout(60)
def test_slurm_client_adapts_from_zero_jobs_without_submitting():
    # adapt: no job is submitted until work is queued, so this runs without SLURM.
    client = make_client("slurm", account="lab42", cores=2, max_jobs=3, adapt=True)
    try:
        assert worker_count(client) == 0
        assert type(client.cluster).__name__ == "SLURMCluster"
        assert "#SBATCH --cpus-per-task=2" in client.cluster.job_script()
    finally:
        close_client(client)
    assert client.status == "closed"
