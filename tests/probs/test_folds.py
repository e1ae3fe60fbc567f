"""``robustloss.probs.folds``: a fold map's ``shared`` value on a Dask cluster whose
workers are not up yet (SLURM jobs still queued, an adaptive cluster at 0 jobs)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from distributed import Client, LocalCluster

from robustloss.probs.folds import dask_fold_map, map_in_process


@dataclasses.dataclass(frozen=True)
class _Task:
    k: int


def _fold(task: _Task, shared: np.ndarray) -> float:
    return float(shared[task.k :].sum())


@pytest.fixture
def empty_cluster(monkeypatch):
    """A client (1 s timeout) of an in-process cluster with no worker yet, and the list of
    its ``scatter`` calls."""
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        Client(cluster, timeout=1) as client,
    ):
        scatters = []
        scatter = client.scatter

        def spy(data, **kw):
            scatters.append(data)
            return scatter(data, **kw)

        monkeypatch.setattr(client, "scatter", spy)
        yield cluster, client, scatters


def test_shared_value_waits_for_a_worker_that_joins_after_the_client_timeout(empty_cluster):
    cluster, client, scatters = empty_cluster
    tasks, shared = [_Task(k) for k in range(3)], np.arange(10.0)
    out: dict[str, object] = {}

    def run():
        try:
            out["result"] = dask_fold_map(client)(_fold, tasks, shared=shared)
        except Exception as exc:  # re-raised below, in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(2.5)  # past the client's 1 s timeout: a plain scatter has failed by now
    assert "error" not in out, out.get("error")
    cluster.scale(1)
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in out:
        raise out["error"]
    assert out["result"] == map_in_process(_fold, tasks, shared=shared) == [45.0, 45.0, 44.0]
    assert scatters == []  # sent as one task's argument instead


def test_shared_value_is_scattered_when_a_worker_is_up(empty_cluster):
    cluster, client, scatters = empty_cluster
    cluster.scale(1)
    client.wait_for_workers(1, timeout=30)
    tasks, shared = [_Task(k) for k in range(2)], np.arange(4.0)
    assert dask_fold_map(client)(_fold, tasks, shared=shared) == [6.0, 6.0]
    assert len(scatters) == 1 and scatters[0] is shared  # once, not per task
