"""Named parameter sets kept as tables of one TOML file (one table per published set)."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml


def set_names(path: Path) -> list[str]:
    return list(read_toml(path, "params"))


def read_set(path: Path, name: str, what: str, field: str = "params") -> dict:
    """Table ``name`` of ``path`` as a dict; an unknown name names ``field`` and the allowed ones."""
    table = read_toml(path, field)
    if name not in table:
        raise ParameterError(field, f"unknown {what} set {name!r}; allowed: {sorted(table)}")
    return dict(table[name])


def load_set(path: Path, cls, name: str, what: str, overrides: dict):
    """Build ``cls`` from table ``name`` of ``path``, with field overrides checked by name."""
    table = read_set(path, name, what)
    known = {f.name for f in fields(cls)}
    for key in overrides:
        if key not in known:
            raise ParameterError(key, f"not a {what} parameter; allowed: {sorted(known)}")
    return cls(**dict(table, name=name, **overrides))
