"""Typed configs: frozen dataclasses loaded from YAML with ``key.sub=value`` overrides.

Every stage takes a config dataclass, never a dict. ``load_config`` reads a YAML file, applies
``--set`` overrides (values parsed as YAML scalars), and builds the dataclass tree with strict
type checks, so a typo'd key or a wrong type fails loudly with the dotted key in the message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, override or value that does not fit the typed config.

    The one config error of the project (a ``ValueError``, so ``except ValueError`` still
    catches it). Messages start with the dotted key (``pinclip.train.checkpoint_every: must be
    >= 1, got 0``); loaded from a YAML file they also name the file.
    """


def check(ok: bool, key: str, problem: str) -> None:
    """Raise ``ConfigError("key: problem")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: {problem}")


def check_min(section: str, cfg: object, low: float, *names: str) -> None:
    """Every field ``names`` of ``cfg`` is >= ``low`` (keys ``section.name``)."""
    for name in names:
        v = getattr(cfg, name)
        check(v >= low, f"{section}.{name}", f"must be >= {low}, got {v!r}")


def check_positive(section: str, cfg: object, *names: str) -> None:
    """Every field ``names`` of ``cfg`` is > 0."""
    for name in names:
        v = getattr(cfg, name)
        check(v > 0, f"{section}.{name}", f"must be > 0, got {v!r}")


def check_range(
    section: str, cfg: object, *names: str, lo: float = 0.0, hi: float = 1.0, hi_closed: bool = False
) -> None:
    """Every field ``names`` of ``cfg`` is in ``[lo, hi)`` (``[lo, hi]`` with ``hi_closed``)."""
    for name in names:
        v = getattr(cfg, name)
        ok = lo <= v <= hi if hi_closed else lo <= v < hi
        check(ok, f"{section}.{name}", f"must be in [{lo:g}, {hi:g}{']' if hi_closed else ')'}, got {v!r}")


def check_each(key: str, values: Sequence[float], low: float, *, strict: bool = False, empty: bool = False) -> None:
    """Every value of the list ``key`` is >= ``low`` (> ``low`` with ``strict``); non-empty unless ``empty``."""
    check(empty or len(values) > 0, key, "needs at least one value")
    ok = all(v > low if strict else v >= low for v in values)
    check(ok, key, f"every value must be {'>' if strict else '>='} {low}, got {list(values)}")


def check_choices(key: str, values: Sequence[Any] | Any, choices: Sequence[Any]) -> None:
    """``values`` (one value or a list) are all among ``choices``."""
    many = isinstance(values, (list, tuple))
    bad = [v for v in (values if many else [values]) if v not in choices]
    check(not bad, key, f"expected {'values among' if many else 'one of'} {list(choices)}, got {values!r}")


@contextlib.contextmanager
def config_source(path: str | Path | None) -> Iterator[None]:
    """Prefix a ConfigError raised inside with the config file it was loaded from."""
    try:
        yield
    except ConfigError as exc:
        if path is None or str(exc).startswith(f"config file {path}"):
            raise
        raise ConfigError(f"config file {path}: {exc}") from exc


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError("; ".join(errors))
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"config key '{key}': expected one of {list(choices)}, got {value!r}")
        return value
    if origin in (list, tuple, Sequence):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}': expected {len(args)} items, got {value!r}")
            return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-05 (no dot) as a string; JSON writes it so
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return value
    if tp is Path:
        return Path(value)
    raise ConfigError(f"config key '{key}': unsupported type {tp!r}")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types raise ConfigError."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section '{prefix or cls.__name__}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"section '{prefix}'" if prefix else cls.__name__
        raise ConfigError(f"unknown config key(s) {unknown} in {where}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) for YAML/JSON/MLflow."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (value parsed as YAML) to a nested dict, returning a copy."""
    result = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r}: empty key segment")
        node = result
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: '{part}' is not a section")
            node = nxt
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return result


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML config file's top-level mapping (empty file: ``{}``), or a one-line ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p}: invalid YAML: {' '.join(str(exc).split())}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {p}: top level must be a mapping")
    return loaded or {}


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Load ``cls`` from an optional YAML file plus overrides; defaults fill the rest."""
    data = read_yaml_mapping(path) if path is not None else {}
    with config_source(path):
        return from_dict(cls, apply_overrides(data, overrides))


def flag_overrides(**flags: Any) -> list[str]:
    """``key=value`` overrides for the CLI flags that were given (not None): explicit flags win
    over ``--config`` and ``--set`` because they are applied last."""
    return [f"{k.replace('__', '.')}={_yaml_value(v)}" for k, v in flags.items() if v is not None]


def _yaml_value(v: Any) -> str:
    if not isinstance(v, (bool, int, float, str)):
        v = str(v)
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def load_section(cls: type[T], path: str | Path | None, section: str, overrides: Sequence[str] = ()) -> T:
    """Load a stage config from a stage-only YAML, or from the ``section`` of a run config YAML.

    A file whose top level has the key ``section`` (e.g. ``pinclip:`` in
    experiments/configs/default.yaml) contributes that section; otherwise the whole file is the
    stage config. Overrides (``key=value``) are relative to the stage config. A run config's
    top-level ``seed`` becomes the stage's seed unless the section sets its own.
    """
    data: dict[str, Any] = {}
    if path is not None:
        loaded = read_yaml_mapping(path)
        node: Any = loaded
        parts = section.split(".")
        for part in parts:  # a dotted section (``data.synth``) is nested in a run config
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) or (len(parts) > 1 and parts[0] in loaded):
            data = dict(node or {})
            field_names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
            if "seed" in loaded and "seed" in field_names:
                data.setdefault("seed", loaded["seed"])
        else:
            data = loaded
    with config_source(path):
        return from_dict(cls, apply_overrides(data, overrides), prefix=section)
