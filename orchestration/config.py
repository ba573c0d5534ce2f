"""Loading frozen-dataclass configs from TOML files plus `--set key=value` overrides.

A config class is a frozen dataclass. Each field may carry metadata:
  ``min`` / ``max``  inclusive numeric bounds,
  ``choices``        the allowed values,
  ``help``           one line shown in error messages.
A field typed as an Enum (the str-valued choices of hardware/systems/config.py) takes the
member's string; anything else is refused naming the key and the allowed values.
Nested dataclass fields become TOML tables and dotted keys (``stage.service_s``).
Every problem is reported as a ConfigError naming the dotted key and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import enum
import math
import sys
import typing
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from lolpim.core import presets
from lolpim.core.errors import ConfigError, UserError
from lolpim.hardware.preset_kinds import PRESET_KINDS, PresetKind

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}

# A field that names a hardware preset says which kind (``metadata={"preset": "pim"}``,
# hardware/preset_kinds.py). Checked whenever a config is built, whether or not the chosen system
# uses the key: `prefill_gpu=nope` with prefill = "before", or `gpu.device=nope` with system =
# "lolpim", was otherwise accepted and silently ignored (issue 14); the loaders check only what
# they load. A `file:<path>.toml` value is loaded, so a user's own preset is checked as fully as a
# built-in one, before anything runs.


# keys that were renamed: the message says what to use instead
RENAMED_KEYS = {f"{table}.partitioning": f"renamed: a baseline's attention mapping is {table}.attention_mapping "
                                         "(token-centric, head-first, request-per-channel)"
                for table in ("cent", "neupims")}


# keys that were renamed and are still accepted under their old name, with a one-line notice on
# stderr (once per process): old dotted key -> (new dotted key, why)
DEPRECATED_KEYS = {"pim_capacity_gb": ("pim_capacity_gib", "the same number: PIM capacities have always been "
                                                           "GiB (2**30 bytes), and the key now says so")}
_noticed: set[str] = set()


def _take_deprecated(data: Mapping, prefix: str) -> dict:
    """``data`` with every deprecated key of this table moved to its new name (a notice each)."""
    out = dict(data)
    for old, (new, why) in DEPRECATED_KEYS.items():
        head, _, name = old.rpartition(".")
        if (head + "." if head else "") != prefix or name not in out:
            continue
        new_name = new.rpartition(".")[2]
        if new_name in out:
            raise ConfigError(old, f"give {new} only ({old} is its old name)")
        out[new_name] = out.pop(name)
        if old not in _noticed:
            _noticed.add(old)
            print(f"lolpim: '{old}' is now '{new}' ({why}); using it as {new}", file=sys.stderr)
    return out


def read_toml(path: str | Path, label: str = "config") -> dict:
    return presets.read_toml(path, label)   # one reader: unreadable, non-UTF-8, deep, huge -> one-line error


def parse_overrides(pairs: list[str] | None) -> dict:
    """Turn ['a.b=3', 'c=x'] into a nested dict of raw strings (typed later by field)."""
    nested: dict = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects key=value, got '{pair}'")
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise UserError(f"--set expects key=value, got '{pair}'")
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"--set key '{key}' conflicts with another --set")
        node[parts[-1]] = _RawString(value.strip())
    return nested


class _RawString(str):
    """A value typed on the command line; converted by the target field's type."""


def merge(base: Mapping, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build(cls: type, data: Mapping[str, Any], prefix: str = ""):
    """Construct dataclass ``cls`` from ``data``, validating every key."""
    if not isinstance(data, Mapping):
        raise ConfigError(prefix.rstrip(".") or "<root>", "expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    # a field with metadata "tables" (a function -> {table: config class}) holds tables that are
    # keys of this level themselves (RunConfig's system tables: `lolpim.kv_mode`, not `tables.lolpim...`)
    tables = {name: f.metadata["tables"]() for name, f in fields.items() if "tables" in f.metadata}
    keys = set(fields) - set(tables) | {t for classes in tables.values() for t in classes}
    data = _take_deprecated(data, prefix)
    unknown = sorted(set(data) - keys)
    if unknown:
        if prefix + unknown[0] in RENAMED_KEYS:
            raise ConfigError(prefix + unknown[0], RENAMED_KEYS[prefix + unknown[0]])
        allowed = ", ".join(sorted(keys))
        raise ConfigError(prefix + unknown[0], f"unknown key; allowed keys here: {allowed}")
    kwargs = {}
    for name, field in fields.items():
        key = prefix + name
        if name in tables:
            kwargs[name] = hints[name]({t: build(c, data[t], f"{prefix}{t}.") for t, c in tables[name].items()
                                        if t in data})
            continue
        if name not in data:
            continue
        ftype = hints[name]
        if isinstance(ftype, type) and dataclasses.is_dataclass(ftype):
            kwargs[name] = build(ftype, data[name], key + ".")
        else:
            kwargs[name] = _coerce(key, data[name], ftype, field.metadata)
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except TypeError as exc:  # missing required field
        raise ConfigError(prefix.rstrip(".") or "<root>", str(exc)) from None
    validate_fields(obj, prefix)
    return obj


def validate_fields(obj, prefix: str = "") -> None:
    """Check metadata bounds/choices on an already constructed dataclass."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        meta = field.metadata
        key = prefix + field.name
        if dataclasses.is_dataclass(value):
            continue
        if "choices" in meta and value not in meta["choices"]:
            allowed = ", ".join(repr(c) for c in meta["choices"])
            raise ConfigError(key, f"got {value!r}; allowed values: {allowed}")
        # NaN compares False with every bound and inf passes a lower one: neither is a setting
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"got {value!r}; must be a finite number")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and value < lo or hi is not None and value > hi:
            raise ConfigError(key, f"got {value!r}; allowed range: {_range_text(lo, hi)}")
        if "preset" in meta:
            _check_preset_value(key, value, PRESET_KINDS[meta["preset"]])


def _check_preset_value(key: str, value, kind: PresetKind) -> None:
    """``value`` names a preset of ``kind`` (or is a loadable file:<path>.toml), or a ConfigError."""
    if presets.is_file_reference(value):
        try:
            kind.load(value)
        except UserError as exc:   # the loader names the preset's key and the file
            raise ConfigError(key, str(exc)) from None
        return
    allowed = kind.names()
    if value not in allowed:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(key, f"unknown {kind.label} preset {shown}; allowed: {', '.join(allowed)} "
                               "(or file:<path>.toml)")


def field_range(cls: type, name: str) -> tuple:
    """(min, max) of dataclass ``cls``'s field ``name`` as its metadata declares them: a command
    flag that stands for a config key takes the key's range from here, not a copy of it."""
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return meta["min"], meta["max"]


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"{lo} .. {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def _coerce(key: str, value: Any, ftype: Any, meta: Mapping) -> Any:
    origin = typing.get_origin(ftype)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(ftype) or (Any,)
        if isinstance(value, _RawString):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        # a list of enum members stays text here: the config class checks the whole list at once
        inner = str if _is_enum(inner) else inner
        return tuple(_coerce(f"{key}[{i}]", v, inner, {}) for i, v in enumerate(value))
    if _is_enum(ftype):
        return _enum_member(key, value, ftype)
    if isinstance(value, _RawString):
        return _from_text(key, str(value), ftype)
    if ftype is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if ftype in _TYPE_NAMES and (not isinstance(value, ftype) or (ftype is int and isinstance(value, bool))):
        raise ConfigError(key, f"expected {_TYPE_NAMES[ftype]}, got {value!r}")
    return value


def _is_enum(ftype: Any) -> bool:
    return isinstance(ftype, type) and issubclass(ftype, enum.Enum)


def _enum_member(key: str, value: Any, ftype: type[enum.Enum]):
    try:
        return ftype(str(value) if isinstance(value, _RawString) else value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in ftype)
        raise ConfigError(key, f"got {str(value) if isinstance(value, _RawString) else value!r}; "
                               f"allowed values: {allowed}") from None


def _from_text(key: str, text: str, ftype: Any) -> Any:
    try:
        if ftype is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if ftype is int:
            return int(text.replace("_", ""))
        if ftype is float:
            return float(text)
        return text
    except ValueError:
        raise ConfigError(key, f"expected {_TYPE_NAMES.get(ftype, ftype)}, got {text!r}") from None


def load(cls: type, path: str | Path | None = None, overrides: list[str] | None = None,
         defaults: Mapping | None = None):
    """defaults (dict) <- TOML file <- --set overrides, then validated into ``cls``."""
    data = dict(defaults or {})
    if path is not None:
        data = merge(data, read_toml(path))
    data = merge(data, parse_overrides(overrides))
    return build(cls, data)


def to_dict(obj) -> dict:
    """A config as plain data (JSON), each table of a "tables" field at its own key."""
    out: dict = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if "tables" in f.metadata:
            out.update((table, to_dict(sub)) for table, sub in value.items())
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        else:
            out[f.name] = copy.deepcopy(value)
    return out
