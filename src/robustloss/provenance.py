"""Where a result came from: interpreter, machine and library versions, for every run record.

Import-light on purpose: versions are read from package metadata, so nothing here imports
cleanlab, scikit-learn, dask or matplotlib; torch and numpy are read from their modules when
they are already imported (they always are when training).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

# Distribution names as installed (scikit-learn's import name is sklearn).
_LIBRARIES: dict[str, str] = {
    "robustloss": "robustloss",
    "torch": "torch",
    "numpy": "numpy",
    "cleanlab": "cleanlab",
    "sklearn": "scikit-learn",
    "dask": "dask",
    "matplotlib": "matplotlib",
}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def environment_info() -> dict[str, Any]:
    """A JSON-ready record of the interpreter, machine and library versions.

    Keys: ``python``, ``implementation``, ``platform``, ``machine``, ``processor``,
    ``cpu_count`` (logical CPUs in the machine), ``cpus_available`` (this process's
    affinity), one key per library in ``robustloss, torch, numpy, cleanlab, sklearn, dask,
    matplotlib`` (version string, or None when not installed), and when torch is installed
    ``torch_threads``, ``torch_cpu_capability``, ``cuda_available``, ``cuda_version`` and
    ``cuda_devices`` (device names).
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
    }
    for key, distribution in _LIBRARIES.items():
        module = sys.modules.get(key)
        info[key] = getattr(module, "__version__", None) or _version(distribution)
    if info["torch"] is not None:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        capability = getattr(torch.backends.cpu, "get_cpu_capability", None)
        info["torch_cpu_capability"] = capability() if capability is not None else None
        info["cuda_available"] = torch.cuda.is_available()
        info["cuda_version"] = torch.version.cuda
        info["cuda_devices"] = (
            [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if info["cuda_available"]
            else []
        )
    return info
