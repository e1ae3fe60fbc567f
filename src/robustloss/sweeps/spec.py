"""Sweep specifications: a TOML file that names a grid of ``robustloss run`` settings.

A spec's top-level keys are :class:`~robustloss.run.pipeline.RunConfig` field names
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

from robustloss.run.config import RunConfig, config_hash
from robustloss.sweeps.settings import (
    EXECUTORS,
    POSITIVE_SETTINGS,
    SLURM_KEYS,
    SLURM_LIST_KEYS,
    SlurmSettings,
    SweepSettings,
    toml_types,
)

__all__ = [
    "EXECUTORS",  # re-exported from robustloss.sweeps.settings, as the next two
    "SlurmSettings",
    "SweepSettings",
    "SweepSpec",
    "expand_spec",
    "list_specs",
    "load_spec",
    "parse_spec",
    "run_config_fields",
    "trial_hash",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: The keys of ``[sweep]``: the spec's own, then :class:`SweepSettings`'s fields.
_SWEEP_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "seeds": (list,),
    **{
        f.name: (dict,) if f.name == "slurm" else toml_types(str(f.type))
        for f in dataclasses.fields(SweepSettings)
    },
}


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

    def trials(self) -> list[RunConfig]:
        """The resolved trial configs, duplicates removed (:func:`expand_spec`)."""
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
    _check_table(table, where, SLURM_KEYS)
    for key in SLURM_LIST_KEYS:
        bad = [v for v in table.get(key, []) if not isinstance(v, str)]
        if bad:
            raise ValueError(f"{where}: key {key!r} must list strings, but got {bad[0]!r}")
    for key in POSITIVE_SETTINGS:
        _positive(table.get(key), where, key)
    values = {k: tuple(v) if k in SLURM_LIST_KEYS else v for k, v in table.items()}
    return SlurmSettings(**values)


def _parse_settings(table: dict[str, Any], where: str) -> SweepSettings:
    values = {k: v for k, v in table.items() if k not in ("name", "description", "seeds")}
    slurm = values.pop("slurm", {})
    executor = values.get("executor", "local")
    if executor not in EXECUTORS:
        raise ValueError(
            f"{where}: key 'executor' must be one of {EXECUTORS}, but got {executor!r}"
        )
    for key in POSITIVE_SETTINGS:
        _positive(values.get(key), where, key)
    return SweepSettings(**values, slurm=_parse_slurm(slurm, f"{where}.slurm"))


def _split_tables(data: dict[str, Any], source: str) -> tuple[dict[str, Any], list[Any]]:
    """Take ``[sweep]`` and ``[[group]]`` out of ``data`` (what is left: the top level)."""
    sweep = data.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise ValueError(f"{source}: 'sweep' must be a table ([sweep]), but got {sweep!r}")
    groups = data.pop("group", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ValueError(f"{source}: 'group' must be an array of tables ([[group]])")
    _check_table(sweep, f"{source} [sweep]", _SWEEP_KEYS)
    return sweep, groups


def _parse_base(data: dict[str, Any], seeds: Any, source: str) -> dict[str, Any]:
    """The top-level trial settings, with ``[sweep] seeds`` as the ``seed`` axis."""
    fields, types = run_config_fields(), _field_types()
    base = dict(data)
    _check_settings(base, f"{source} (top level)", fields, types)
    if seeds is not None:
        if "seed" in base:
            raise ValueError(f"{source}: give seeds either as [sweep] seeds or as seed, not both")
        _check_settings({"seed": seeds}, f"{source} [sweep] seeds", fields, types)
        base["seed"] = list(seeds)
    return base


def _parse_groups(groups: list[dict[str, Any]], source: str) -> tuple[dict[str, Any], ...]:
    fields, types = run_config_fields(), _field_types()
    parsed = []
    for i, group in enumerate(groups):
        group = dict(group)
        label = group.pop("name", f"group-{i + 1}")
        if not isinstance(label, str):
            raise ValueError(f"{source} [[group]] #{i + 1}: 'name' must be a string")
        _check_settings(group, f"{source} [[group]] {label!r}", fields, types)
        parsed.append({"name": label, **group})
    names = [g["name"] for g in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: two [[group]] tables share a name: {names}")
    return tuple(parsed)


def _spec_name(sweep: dict[str, Any], source: str, fallback: str | None) -> str:
    name = sweep.get("name") or fallback or (
        Path(source).stem if source != "<string>" else "sweep"
    )
    if not _NAME_RE.match(name):
        raise ValueError(
            f"{source} [sweep]: key 'name' must be letters, digits, '.', '_' or '-' (it names "
            f"the results folder runs/<name>/), but got {name!r}"
        )
    return name


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
    sweep, groups = _split_tables(data, source)
    base = _parse_base(data, sweep.get("seeds"), source)
    parsed_groups = _parse_groups(groups, source)
    spec = SweepSpec(
        name=_spec_name(sweep, source, name),
        description=sweep.get("description", ""),
        base=base,
        groups=parsed_groups,
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


def expand_spec(spec: SweepSpec) -> list[RunConfig]:
    """The trials of ``spec``: one :class:`RunConfig` per distinct config (hash).

    Each group (or the top level alone when there are none) is the cartesian product of
    its lists; order follows the spec (groups in order, later keys varying fastest).
    """
    groups = spec.groups or ({"name": None},)
    seen: set[str] = set()
    trials: list[RunConfig] = []
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
                trials.append(config)
    return trials


def trial_hash(config: RunConfig | dict[str, Any]) -> str:
    """The results-database key of a trial config (:func:`config_hash` of it)."""
    return config_hash(config)


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
