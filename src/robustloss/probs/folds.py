"""Where the K folds of one cv run train: a ``fold_map``.

``fold_map(fn, tasks)`` returns ``[fn(task) for task in tasks]`` in task order; with
``shared=`` (what every task needs and is too big to copy into each: an image run's N
images and labels) it returns ``[fn(task, shared) for task in tasks]``. The tasks are small
frozen records (a fold's rows, config and seed); ``shared`` travels once. Two maps:

:func:`map_in_process`
    The default: one fold after another in this process.
:func:`dask_fold_map`
    One Dask task per fold on a client's workers (``robustloss detect --executor``).
    ``shared`` goes to the cluster once (to one worker; the others fetch it from there when
    a fold lands on them), never copied into the K tasks of the graph. With no worker up
    yet (SLURM jobs still queued, an adaptive cluster at 0 jobs) it is one task of its own,
    queued with the folds, instead of a scatter, which would fail after the client's
    timeout ("No valid workers found") and give an adaptive cluster nothing to scale for.

Used by :func:`robustloss.probs.features.head_probabilities` (heads on
features: the tasks carry the feature matrix by path, no ``shared``) and
:func:`robustloss.probs.protocols.predicted_probabilities` (CNNs on images, the
images as ``shared``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import dask

__all__ = ["FoldMap", "dask_fold_map", "map_in_process"]


class FoldMap(Protocol):
    """``fold_map(fn, tasks, *, shared=None)``: ``fn`` over ``tasks``, results in task order
    (``fn(task, shared)`` when ``shared`` is given, else ``fn(task)``)."""

    def __call__(
        self, fn: Callable[..., Any], tasks: Sequence[Any], /, *, shared: Any = None
    ) -> Sequence[Any]: ...


def map_in_process(
    fn: Callable[..., Any], tasks: Sequence[Any], /, *, shared: Any = None
) -> list[Any]:
    """The folds one after another in this process (the default fold map)."""
    if shared is None:
        return [fn(t) for t in tasks]
    return [fn(t, shared) for t in tasks]


def dask_fold_map(client: Any) -> FoldMap:
    """A ``fold_map`` that runs each fold as one task on a Dask ``client``'s workers.

    Each task is named ``robustloss-fold-{k}-...`` and comes back as ``fn``'s record.
    ``shared`` goes to the cluster once (:func:`_shared_future`) and reaches every task as
    the same object on a worker. The same seeds and thread count give bitwise the results
    of the in-process run.
    """

    def fold_map(fn, tasks, /, *, shared=None):
        tasks = list(tasks)
        keys = [f"robustloss-fold-{t.k}-{uuid.uuid4().hex[:8]}" for t in tasks]
        if shared is None:
            futures = client.map(fn, tasks, key=keys)
        else:
            data = _shared_future(client, shared)
            futures = client.map(fn, tasks, [data] * len(tasks), key=keys)
        return client.gather(futures)

    return fold_map


def _shared_future(client: Any, shared: Any) -> Any:
    """``shared`` as one Dask future.

    Scattered to a worker when one is up (``hash=False``: no tokenizing pass over its
    arrays). With none yet, ``scatter`` would wait for one for the client's timeout and
    fail, and an adaptive cluster scales only for queued tasks: then ``shared`` is the
    argument of one task of its own (``robustloss-shared-...``), which waits in the queue
    like the folds; the scheduler keeps that copy until the folds are done. Dask's warning
    about a large graph is silenced for it (it is this one value, sent once).
    """
    if client.nthreads():
        return client.scatter(shared, hash=False)
    key = f"robustloss-shared-{uuid.uuid4().hex[:8]}"
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1PiB"}):
        return client.submit(_identity, shared, key=key, pure=False)


def _identity(value: Any) -> Any:
    return value
