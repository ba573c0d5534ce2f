"""Named parameter sets kept as tables of one TOML file (one table per published set)."""
from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from lolpim.core.errors import ParameterError


def set_names(path: Path) -> list[str]:
    with path.open("rb") as fh:
        return list(tomllib.load(fh))


def read_set(path: Path, name: str, what: str, field: str = "params") -> dict:
    """Table ``name`` of ``path`` as a dict; an unknown name names ``field`` and the allowed ones."""
    with path.open("rb") as fh:
        table = tomllib.load(fh)
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
