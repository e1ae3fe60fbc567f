"""Sweep specifications: a TOML file that names a grid of ``robustloss run`` settings.

A spec's top-level keys are :class:`~robustloss.experiments.pipeline.RunConfig` field names
(``robustloss run``'s flags in snake_case). A scalar is a fixed setting; a list is a sweep
axis, and the trials are the cartesian product of all axes. ``[[group]]`` tables add
per-loss settings: each group overrides the top-level keys (scalars or lists) and expands on
its own, so ``gamma`` can sweep for Blurry Loss while ``cutoff`` sweeps for Piecewise-zero
Loss. Without groups the top level alone is expanded. The ``[sweep]`` table holds metadata
and executor settings, never trial settings::

    dataset = "mnist"              # fixed
    noise = [0.1, 0.2]             # axis: every group runs at both rates
    epochs = 10

    [sweep]
    name = "my-grid"
    description = "Blurry vs Piecewise-zero on MNIST"
    seeds = [0, 1, 2]              # shorthand for a top-level `seed = [0, 1, 2]`
    executor = "local"             # local | dask | slurm (command-line flags override)

    [sweep.slurm]                  # used by --executor slurm
    account = "my-account"
    walltime = "04:00:00"

    [[group]]
    name = "ce"
    loss = "ce"

    [[group]]
    name = "blurry"
    loss = "blurry"
    gamma = [0.2, 0.3, 0.4]

TOML must list the top-level keys before the first table (``[sweep]``, ``[[group]]``).
Trials with the same resolved configuration (same :func:`config_hash`) are kept once.
Bundled specs live in ``robustloss/specs/*.toml``: :func:`list_specs` names them and
:func:`load_spec` takes a bundled name or a file path.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from robustloss.experiments.config import RunConfig, config_hash

EXECUTORS: tuple[str, ...] = ("local", "dask", "slurm")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_SWEEP_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "seeds": (list,),
    "executor": (str,),
    "address": (str,),
    "workers": (int,),
    "threads": (int,),
    "shared_warmup": (bool,),
    "warmup_dir": (str,),
    "slurm": (dict,),
}

_SLURM_KEYS: dict[str, tuple[type, ...]] = {
    "account": (str,),
    "queue": (str,),
    "walltime": (str,),
    "memory": (str,),
    "cores": (int,),
    "max_jobs": (int,),
    "adapt": (bool,),
    "job_extra": (list,),
    "prologue": (list,),
    "python": (str,),
    "local_directory": (str,),
    "log_directory": (str,),
    "interface": (str,),
}


@dataclass(frozen=True)
class SlurmSettings:
    """dask-jobqueue ``SLURMCluster`` settings: each Dask worker is one sbatch job.

    A job books ``cores`` CPUs and ``memory``, runs one trial at a time with ``cores`` torch
    threads, and lives at most ``walltime``; ``max_jobs`` jobs at most (``adapt=True``
    scales between 0 and ``max_jobs`` with the queue of trials instead of holding
    ``max_jobs`` jobs for the whole sweep). ``job_extra`` are extra ``#SBATCH`` options
    (e.g. ``"--gres=gpu:1"``), ``prologue`` shell lines run before the worker starts
    (e.g. ``"source .venv/bin/activate"``).
    """

    account: str | None = None
    queue: str | None = None
    walltime: str = "04:00:00"
    memory: str = "8GB"
    cores: int = 1
    max_jobs: int = 4
    adapt: bool = False
    job_extra: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    python: str | None = None
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep runs (never what it computes: these do not enter a trial's config hash).

    ``threads``: torch threads per trial on the ``local`` and ``dask`` executors (the local
    cluster runs ``workers`` worker processes, by default one per ``threads`` cores; a SLURM
    trial uses its job's ``cores``). ``shared_warmup``: train the cross-entropy warm-up once
    for trials that differ only from their delay on. ``warmup_dir``: where warm-up
    checkpoints go (every worker must see it; defaults to a folder beside the results
    database).
    """

    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    threads: int = 1
    shared_warmup: bool = True
    warmup_dir: str | None = None
    slurm: SlurmSettings = field(default_factory=SlurmSettings)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: ``base`` top-level settings, ``groups`` overrides, ``settings``.

    ``source`` is the file it came from (or ``"<string>"``); ``text`` its TOML, kept so a
    results database can record exactly what was asked.
    """

    name: str
    description: str = ""
    base: dict[str, Any] = field(default_factory=dict)
    groups: tuple[dict[str, Any], ...] = ()
    settings: SweepSettings = field(default_factory=SweepSettings)
    source: str = "<string>"
    text: str = ""

    def trials(self) -> list[dict[str, Any]]:
        """The resolved trial configs (``RunConfig.to_dict()``), duplicates removed."""
        return expand_spec(self)


def run_config_fields() -> tuple[str, ...]:
    """The keys a spec may set: :class:`RunConfig`'s field names."""
    return tuple(f.name for f in dataclasses.fields(RunConfig))


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join({list: "list", dict: "table"}.get(t, t.__name__) for t in types)


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    # TOML booleans are Python bools, which are ints: never accept one for the other.
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _field_types() -> dict[str, tuple[type, ...]]:
    """Scalar types each RunConfig field accepts, read from its annotation (None = any)."""
    names = {"int": int, "float": float, "str": str, "bool": bool}
    out: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(RunConfig):
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        parts = [p.strip() for p in str(annotation).replace("Optional[", "").split("|")]
        types = tuple(names[p] for p in parts if p in names)
        if types and all(p in names or p == "None" for p in parts):
            out[f.name] = types
    return out


def _check_settings(
    table: dict[str, Any], where: str, fields: tuple[str, ...], types: dict[str, tuple[type, ...]]
) -> None:
    """Unknown keys, empty or nested lists and wrong scalar types, with the place named."""
    for key, value in table.items():
        if key not in fields:
            raise ValueError(
                f"{where}: unknown key {key!r}; a trial setting must be one of "
                f"{', '.join(sorted(fields))}"
            )
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list):
            if not value:
                raise ValueError(f"{where}: key {key!r} is an empty list; an axis needs values")
            if len(set(map(repr, value))) != len(value):
                raise ValueError(f"{where}: key {key!r} lists a value twice: {value!r}")
        for item in values:
            if isinstance(item, (list, dict)):
                raise ValueError(
                    f"{where}: key {key!r} must be a scalar or a list of scalars, "
                    f"but got {value!r}"
                )
            expected = types.get(key)
            if expected is not None and not _is_instance(item, expected):
                raise ValueError(
                    f"{where}: key {key!r} expects {_type_name(expected)}, "
                    f"but got {item!r} ({type(item).__name__})"
                )


def _check_table(table: dict[str, Any], where: str, keys: dict[str, tuple[type, ...]]) -> None:
    for key, value in table.items():
        if key not in keys:
            raise ValueError(
                f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(keys))}"
            )
        if not _is_instance(value, keys[key]):
            raise ValueError(
                f"{where}: key {key!r} expects {_type_name(keys[key])}, "
                f"but got {value!r} ({type(value).__name__})"
            )


def _positive(value: Any, where: str, key: str) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{where}: key {key!r} must be >= 1, but got {value}")


def _parse_slurm(table: dict[str, Any], where: str) -> SlurmSettings:
    _check_table(table, where, _SLURM_KEYS)
    for key in ("job_extra", "prologue"):
        bad = [v for v in table.get(key, []) if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{where}: key {key!r} must list strings, but got {bad[0]!r}")
    for key in ("cores", "max_jobs"):
        _positive(table.get(key), where, key)
    values = dict(table)
    for key in ("job_extra", "prologue"):
        if key in values:
            values[key] = tuple(values[key])
    return SlurmSettings(**values)


def _parse_settings(table: dict[str, Any], where: str) -> SweepSettings:
    values = {k: v for k, v in table.items() if k not in ("name", "description", "seeds")}
    slurm = values.pop("slurm", {})
    executor = values.get("executor", "local")
    if executor not in EXECUTORS:
        raise ValueError(
            f"{where}: key 'executor' must be one of {EXECUTORS}, but got {executor!r}"
        )
    for key in ("workers", "threads"):
        _positive(values.get(key), where, key)
    return SweepSettings(**values, slurm=_parse_slurm(slurm, f"{where}.slurm"))


def parse_spec(text: str, *, source: str = "<string>", name: str | None = None) -> SweepSpec:
    """Parse spec TOML ``text``; ``source`` names it in errors, ``name`` is the fallback name.

    Raises:
        ValueError: invalid TOML, an unknown key, a wrong type, an empty list, or a trial
            that :meth:`RunConfig.from_dict` rejects; the message names ``source`` and the key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: invalid TOML: {exc}") from exc
    sweep = data.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise ValueError(f"{source}: 'sweep' must be a table ([sweep]), but got {sweep!r}")
    groups = data.pop("group", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ValueError(f"{source}: 'group' must be an array of tables ([[group]])")
    _check_table(sweep, f"{source} [sweep]", _SWEEP_KEYS)

    fields = run_config_fields()
    types = _field_types()
    base = dict(data)
    _check_settings(base, f"{source} (top level)", fields, types)
    seeds = sweep.get("seeds")
    if seeds is not None:
        if "seed" in base:
            raise ValueError(f"{source}: give seeds either as [sweep] seeds or as seed, not both")
        _check_settings({"seed": seeds}, f"{source} [sweep] seeds", fields, types)
        base["seed"] = list(seeds)

    parsed_groups = []
    for i, group in enumerate(groups):
        group = dict(group)
        label = group.pop("name", f"group-{i + 1}")
        if not isinstance(label, str):
            raise ValueError(f"{source} [[group]] #{i + 1}: 'name' must be a string")
        _check_settings(group, f"{source} [[group]] {label!r}", fields, types)
        parsed_groups.append({"name": label, **group})
    names = [g["name"] for g in parsed_groups]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: two [[group]] tables share a name: {names}")

    spec_name = sweep.get("name") or name or (
        Path(source).stem if source != "<string>" else "sweep"
    )
    if not _NAME_RE.match(spec_name):
        raise ValueError(
            f"{source} [sweep]: key 'name' must be letters, digits, '.', '_' or '-' (it names "
            f"the results folder runs/<name>/), but got {spec_name!r}"
        )
    spec = SweepSpec(
        name=spec_name,
        description=sweep.get("description", ""),
        base=base,
        groups=tuple(parsed_groups),
        settings=_parse_settings(sweep, f"{source} [sweep]"),
        source=source,
        text=text,
    )
    expand_spec(spec)  # every trial must be a valid RunConfig: fail at load, not mid-sweep
    return spec


def _product(settings: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(settings)
    axes = [v if isinstance(v, list) else [v] for v in settings.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def expand_spec(spec: SweepSpec) -> list[dict[str, Any]]:
    """The trials of ``spec``: one resolved ``RunConfig.to_dict()`` per distinct config.

    Each group (or the top level alone when there are none) is the cartesian product of
    its lists; order follows the spec (groups in order, later keys varying fastest).
    """
    groups = spec.groups or ({"name": None},)
    seen: set[str] = set()
    trials: list[dict[str, Any]] = []
    for group in groups:
        overrides = {k: v for k, v in group.items() if k != "name"}
        where = f"{spec.source} [[group]] {group['name']!r}" if group["name"] else spec.source
        for raw in _product({**spec.base, **overrides}):
            try:
                config = RunConfig.from_dict(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: invalid trial {raw}: {exc}") from exc
            key = config_hash(config)
            if key not in seen:
                seen.add(key)
                trials.append(config.to_dict())
    return trials


def trial_hash(config: dict[str, Any]) -> str:
    """The results-database key of a trial config dict (:func:`config_hash` of it)."""
    return config_hash(RunConfig.from_dict(config))


def _bundled() -> dict[str, Any]:
    folder = resources.files("robustloss") / "specs"
    return {
        p.name[: -len(".toml")]: p
        for p in folder.iterdir()
        if p.name.endswith(".toml")
    }


def list_specs() -> list[str]:
    """Names of the specs bundled with the package (``robustloss/specs/*.toml``)."""
    return sorted(_bundled())


def load_spec(name_or_path: str | Path) -> SweepSpec:
    """Load a bundled spec by name (``"paper-table1"``) or a spec file by path.

    Raises:
        ValueError: neither a bundled name nor an existing ``.toml`` file, or an invalid spec.
    """
    bundled = _bundled()
    if str(name_or_path) in bundled:
        resource = bundled[str(name_or_path)]
        return parse_spec(
            resource.read_text(encoding="utf-8"),
            source=f"robustloss/specs/{resource.name}",
            name=str(name_or_path),
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"spec {str(name_or_path)!r} is neither a bundled spec "
            f"({', '.join(sorted(bundled))}) nor an existing file"
        )
    return parse_spec(path.read_text(encoding="utf-8"), source=str(path), name=path.stem)
