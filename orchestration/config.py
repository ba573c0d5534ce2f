"""Loading frozen-dataclass configs from TOML files plus `--set key=value` overrides.

A config class is a frozen dataclass whose fields declare their constraints with the one
validation layer (core/schema.py: ``min``/``max``/``gt``, ``choices``, ``unit``, ``doc``...).
A field typed as an Enum (the str-valued choices of hardware/systems/config.py) takes the
member's string; anything else is refused naming the key and the allowed values.
Nested dataclass fields become TOML tables and dotted keys (``stage.service_s``); a field with
metadata ``tables`` (RunConfig's system tables, one per registered kind) holds tables that are
keys of its own level (``lolpim.kv_mode``), as core/schema.py builds them.
Every problem is reported as a ConfigError naming the dotted key and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lolpim.core import presets, schema
from lolpim.core.errors import ConfigError, UserError
from lolpim.hardware.preset_kinds import PRESET_KINDS, PresetKind

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
        node[parts[-1]] = schema.Text(value.strip())
    return nested


def merge(base: Mapping, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build(cls: type, data: Mapping[str, Any], prefix: str = ""):
    """Construct dataclass ``cls`` from ``data``, validating every key (core/schema.py: the
    fields' declarations), then the hardware preset names (fields with metadata ``preset``)."""
    def prepare(table, where):
        return _take_deprecated(table, prefix + where) if isinstance(table, Mapping) else table
    obj = schema.build(cls, data, name_of=lambda path: prefix + path, error=ConfigError,
                       unknown_hint=lambda path: RENAMED_KEYS.get(prefix + path), prepare=prepare)
    validate_fields(obj, prefix)
    return obj


def validate_fields(obj, prefix: str = "") -> None:
    """Check an already constructed config (nested tables and system tables too) against its
    fields' declarations and the hardware preset names."""
    for name, check in schema.checkers(type(obj)):
        problem = check(getattr(obj, name))
        if problem is not None:
            raise ConfigError(prefix + name, problem)
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        if "tables" in f.metadata:
            for table, sub in value.items():
                validate_fields(sub, f"{prefix}{table}.")
        elif dataclasses.is_dataclass(value):
            validate_fields(value, key + ".")
        elif "preset" in f.metadata:
            _check_preset_value(key, value, PRESET_KINDS[f.metadata["preset"]])


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
