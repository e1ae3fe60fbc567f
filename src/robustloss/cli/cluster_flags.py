"""The flags that say where Dask tasks run, shared by ``robustloss sweep`` (its trials) and
``robustloss detect --executor`` (the folds of a cv run): ``--executor``, ``--address``,
``--workers`` and the SLURM group, one flag per
:class:`~robustloss.sweeps.settings.SlurmSettings` field that names one.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from robustloss.sweeps.settings import EXECUTORS, SlurmSettings

__all__ = ["add_cluster_flags", "add_slurm_flags", "check_counts", "slurm_flags_given"]


def add_cluster_flags(g: argparse._ArgumentGroup, *, executor_help: str) -> None:
    """``--executor``, ``--address`` and ``--workers``: where Dask tasks run (``sweep``'s
    trials, ``detect``'s cv folds)."""
    g.add_argument("--executor", choices=EXECUTORS, help=executor_help)
    g.add_argument("--address", metavar="tcp://HOST:PORT", help="scheduler of --executor dask")
    g.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: cores / --threads)")


def add_slurm_flags(p: argparse.ArgumentParser) -> None:
    """The "SLURM (--executor slurm)" group: one flag per :func:`_slurm_flag_fields` field."""
    g = p.add_argument_group("SLURM (--executor slurm)")
    for f in _slurm_flag_fields():
        _add_slurm_flag(g, f)


def slurm_flags_given(args: argparse.Namespace) -> dict[str, Any]:
    """The SLURM flags that were given, as :class:`SlurmSettings` field values."""
    given = {}
    for f in _slurm_flag_fields():
        value = getattr(args, f.name, None)
        if value is not None:
            given[f.name] = tuple(value) if isinstance(value, list) else value
    return given


def check_counts(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Each of the count flags ``names`` that was given is >= 1."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ValueError(f"Expected --{name.replace('_', '-')} >= 1, but got {value}")


def _slurm_flag_fields() -> list[dataclasses.Field]:
    """The :class:`SlurmSettings` fields that are ``robustloss sweep`` flags."""
    return [f for f in dataclasses.fields(SlurmSettings) if f.metadata.get("flag")]


def _add_slurm_flag(g: argparse._ArgumentGroup, f: dataclasses.Field) -> None:
    """One flag from a SlurmSettings field: its metadata, type and default (``None``
    means not given: the spec's setting stays)."""
    flag, help_text = f.metadata["flag"], f.metadata["help"].format(default=f.default)
    if f.type == "bool":
        g.add_argument(flag, dest=f.name, action="store_true", default=None, help=help_text)
    elif str(f.type).startswith("tuple["):
        g.add_argument(flag, dest=f.name, action="append", metavar=f.metadata["metavar"],
                       help=help_text)
    else:
        g.add_argument(flag, dest=f.name, type=int if f.type == "int" else None,
                       metavar=f.metadata["metavar"], help=help_text)
