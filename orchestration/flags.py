"""Command-line flags generated from a typed config (a frozen dataclass declared with
core/schema.py), and the config built back from the parsed flags by the same declarations.

A field gives its flag's name (``--`` + the name with dashes, or its ``flag`` metadata; a name
without dashes is a positional argument), type, default, help (``doc``, ``unit``, the default
and what is allowed) and, for a list, ``nargs``. The values are checked when the config is
built (``config_from_args``), so a bad one is the same error as in Python or a config file,
naming the flag: ``--pairs: got 0; allowed range: 1 .. 100000``.
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import types
import typing
from typing import Any

from lolpim.core import schema
from lolpim.core.errors import FlagError


def dest_of(cls: type, name: str) -> str:
    """The argparse destination of field ``name`` of ``cls`` (its flag without dashes)."""
    return schema.flag_of(cls, name).lstrip("-").replace("-", "_")


def _inner(tp: Any) -> Any:
    """``T`` for ``T | None``, else ``tp``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _converter(tp: Any):
    def convert(text: str):
        try:
            return schema.from_text(tp, text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {schema.describe(tp)}, got {text!r}") from None
    convert.__name__ = schema.describe(tp)   # argparse names the type in its own messages
    return convert


def help_text(f: dataclasses.Field, default: Any) -> str:
    """doc (unit) (default X; allowed ...) for field ``f``."""
    meta = f.metadata
    doc = meta.get("doc") or meta.get("help") or ""
    unit = meta.get("unit")
    parts = []
    if not (default is None or default is False or default is dataclasses.MISSING or default == ()) \
            and "(default" not in doc:
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else \
            default.value if isinstance(default, enum.Enum) else \
            f"{default:g}" if isinstance(default, float) else default
        parts.append(f"default {shown}")
    allowed = schema.allowed_text(meta)
    if allowed and "choices" not in meta:
        parts.append(allowed.replace("allowed range: ", "allowed "))
    text = doc + (f", {unit}" if unit and unit not in doc else "")
    if parts and text.endswith(")") and "(default" in text:   # one parenthesis: "(default 2; allowed 1 .. 4096)"
        return f"{text[:-1]}; {'; '.join(parts)})"
    return f"{text} ({'; '.join(parts)})" if parts else text


def add_config_flags(parser, cls: type, names=None, hidden: bool = False) -> None:
    """Add a flag for each field of ``cls`` (only ``names`` when given). Hidden flags are parsed
    but not shown, with no default: a command can then say which config a given one belongs to."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or (names is not None and f.name not in names):
            continue
        flag, tp = schema.flag_of(cls, f.name), hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else \
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        kwargs: dict[str, Any] = {"help": argparse.SUPPRESS if hidden else help_text(f, default)}
        base = _inner(tp)
        if base is bool:
            kwargs.update(action="store_true", default=None if hidden else False)
        else:
            origin = typing.get_origin(base)
            if origin in (list, tuple):
                elem = (typing.get_args(base) or (str,))[0]
                kwargs.update(nargs="+" if flag.startswith("-") else "*", type=_converter(elem))
                default = list(default) if isinstance(default, (list, tuple)) else default
            else:
                kwargs["type"] = _converter(base)
            choices = f.metadata.get("choices") or (tuple(m.value for m in base) if schema._is_enum(base) else None)
            if choices:
                kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
            kwargs["default"] = None if hidden else default
        if flag.startswith("-"):
            parser.add_argument(flag, dest=dest_of(cls, f.name), **kwargs)
        else:
            kwargs.pop("default", None) if kwargs.get("nargs") != "*" else None
            parser.add_argument(flag, **kwargs)


def config_from_args(cls: type, args, **fixed):
    """Build ``cls`` from the parsed flags (plus ``fixed`` values); a problem names the flag."""
    data = {f.name: getattr(args, dest_of(cls, f.name)) for f in dataclasses.fields(cls)
            if f.init and hasattr(args, dest_of(cls, f.name))}
    data.update(fixed)
    data = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    return schema.build(cls, data, name_of=lambda name: schema.flag_of(cls, name), error=FlagError)
