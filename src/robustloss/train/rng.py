"""The random generators a run draws from, and their states for checkpoints.

torch's global generators (initial weights, dropout) are seeded with ``seed`` inside
:func:`forked_rng`, which restores them on exit; the per-epoch permutations come from a
dedicated ``torch.Generator`` seeded with :func:`permutation_seed` ``(seed)``. numpy's
random state is not used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from robustloss.seeds import PERMUTATION_STREAM  # the batch order's stream id


def permutation_seed(seed: int) -> int:
    """The 63-bit seed of the batch-order generator: numpy ``SeedSequence([seed,
    PERMUTATION_STREAM])`` (:mod:`robustloss.seeds`)."""
    words = np.random.SeedSequence([int(seed), PERMUTATION_STREAM]).generate_state(2)
    return int((int(words[0]) << 31) ^ int(words[1]))  # < 2**63


def seed_run(seed: int, device: torch.device) -> torch.Generator:
    """Seed torch's global generators (CPU and ``device``); return the permutation generator.

    Call it inside :func:`forked_rng`, so that the caller's global state is left as found.
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif device.type == "mps":
        torch.mps.manual_seed(seed)
    return torch.Generator().manual_seed(permutation_seed(seed))


@contextlib.contextmanager
def forked_rng(device: torch.device) -> Iterator[None]:
    """Restore torch's global CPU generator (and ``device``'s) on exit."""
    cpu_state = torch.get_rng_state()
    device_state = get_device_rng_state(device)
    try:
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if device_state is not None:
            set_device_rng_state(device, device_state)


@contextlib.contextmanager
def isolated_run(device: torch.device, *, threads: int | None) -> Iterator[None]:
    """A training's torch state, restored on exit: ``threads`` intra-op threads (None: left
    as they are) and :func:`forked_rng` ``(device)``. What seeding and the thread count
    change inside stays inside (CNNs in :mod:`.engine`, heads in :mod:`.heads`)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with forked_rng(device):
            yield
    finally:
        torch.set_num_threads(previous)


def get_device_rng_state(device: torch.device) -> Tensor | None:
    """The state of ``device``'s global generator; None on a CPU (torch's CPU one is global)."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def set_device_rng_state(device: torch.device, state: Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)
