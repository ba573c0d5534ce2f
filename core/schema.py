"""The one validation layer: a dataclass field declares its constraint once, and the same
declaration checks a config key, a preset file entry, a decoded message field and a CLI flag.

Declare a field with ``field`` (or ``dataclasses.field(metadata={...})`` with the same keys)::

    @dataclass(frozen=True)
    class StdpRun:
        pairs: int = field(default=60, min=1, max=100_000, doc="pre-post pairs per delta t")
        frequency_hz: float = field(default=1.0, min=0.01, max=1000.0, unit="Hz", flag="--frequency")

Metadata keys (all optional):
  ``min`` / ``max``  inclusive bounds; ``gt`` / ``lt`` exclusive ones (``gt=0``: "> 0");
                     for a list, every number in it; NaN fails every bound
  ``finite``         a float must be finite (default True: NaN and inf are never a setting)
  ``choices``        the allowed values
  ``max_len``        longest str, bytes or outer list
  ``unit``, ``doc``  what the value means (``help`` is read as ``doc``): CLI help, docs
  ``flag``           the CLI flag, when it is not ``--`` + the name with dashes

Supported types: int, float (an int is accepted), str, bool, bytes, Enum subclasses, list[T],
tuple[T, ...], ``T | None``, nested dataclasses (``build``). Other annotations are not
type-checked (their bounds still are), except in ``exact`` mode (messages), where they are an
error when the class is defined.

Every problem is one text in one style: what was given and what is allowed
("got 0; allowed range: 1 .. 100000", "got 'statc'; allowed values: 'dynamic', 'static'",
"expected an integer, got 'x'"). The caller puts in front what names the value: a config key,
a preset file's entry, a message field or a flag (``build``'s ``name_of`` and ``error``).
"""
from __future__ import annotations

import builtins
import dataclasses
import enum
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from lolpim.core.compat import dataclass_transform
from lolpim.core.errors import ParameterError

Checker = Callable[[Any], "str | None"]      # value -> None when fine, else the problem as text
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1     # an exact (message) int lies here unless narrowed
# "preset": the field names a hardware preset of that kind (checked by orchestration/config.py,
# which knows the presets); "tables": a function -> {key: dataclass}, tables held by this field
# that are keys of its own level (RunConfig's system tables: `lolpim.kv_mode`, not `tables.lolpim...`)
_KEYS = frozenset({"min", "max", "gt", "lt", "finite", "choices", "max_len", "unit", "doc", "help", "flag", "preset",
                   "tables"})


# `default` is keyword-only: type checkers (PEP 681 field specifiers) see a default only as `default=`
def field(*, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
          min: float | None = None, max: float | None = None, gt: float | None = None, lt: float | None = None,
          finite: bool = True, choices: Any = None, max_len: int | None = None, unit: str = "",
          doc: str = "", flag: str | None = None, init: bool = True) -> Any:
    """A dataclass field with its constraint declared once (see the module docstring)."""
    meta: dict[str, Any] = {k: v for k, v in (("min", min), ("max", max), ("gt", gt), ("lt", lt),
                                               ("choices", choices),
                                               ("max_len", max_len), ("flag", flag)) if v is not None}
    if not finite:
        meta["finite"] = False
    if unit:
        meta["unit"] = unit
    if doc:
        meta["doc"] = doc
    return dataclasses.field(default=default, default_factory=default_factory, init=init, metadata=meta)


class Text(str):
    """A value typed as text (``--set key=value``, a command-line flag): converted by the field's type."""


class FieldProblem(ParameterError):
    """A problem of one field, raised by a dataclass's own cross-field checks (``__post_init__``).

    ``problem`` may name other fields as ``{name}``: ``build`` writes them as the caller names
    them (a config key, a flag), a direct construction as 'name'."""

    def __init__(self, name: str, problem: str):
        self.problem = problem
        super().__init__(name, re.sub(r"\{(\w+)\}", r"'\1'", problem))


# --- describing types and values ----------------------------------------------------------

_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", bytes: "bytes"}


def describe(tp: Any) -> str:
    """'an integer', 'a list of numbers', 'a string or nothing', ..."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("nothing" if a is type(None) else describe(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        inner = typing.get_args(tp)[:1] or (Any,)
        return f"a list of {_plural(describe(inner[0]))}"
    if _is_enum(tp):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _plural(text: str) -> str:
    return {"an integer": "integers", "a number": "numbers", "a string": "strings",
            "true or false": "booleans"}.get(text, text)


def shown(value: Any) -> str:
    """A value as an error shows it: short scalars as written, anything else by its kind."""
    if isinstance(value, (bool, int, float, str, bytes, enum.Enum)) or value is None:
        text = repr(value.value if isinstance(value, enum.Enum) else value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def range_text(meta: Mapping) -> str:
    lo, hi, gt, lt = meta.get("min"), meta.get("max"), meta.get("gt"), meta.get("lt")
    low = f"> {gt}" if gt is not None else f">= {lo}" if lo is not None else ""
    high = f"< {lt}" if lt is not None else f"<= {hi}" if hi is not None else ""
    if not high:
        return low
    if lo is not None and hi is not None and gt is None and lt is None:
        return f"{lo} .. {hi}"
    return f"{low} and {high}" if low else high


def allowed_text(meta: Mapping) -> str:
    """What a field allows, for help texts: 'allowed range: 1 .. 100000', ..."""
    if "choices" in meta:
        return "allowed values: " + ", ".join(repr(c) for c in meta["choices"])
    text = range_text(meta)
    return f"allowed range: {text}" if text else ""


# --- compiling a field into one checker -----------------------------------------------------

def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _value_check(meta: Mapping, is_float: bool) -> Checker | None:
    lo, hi, gt, lt, choices = meta.get("min"), meta.get("max"), meta.get("gt"), meta.get("lt"), meta.get("choices")
    finite = is_float and meta.get("finite", True)
    if lo is None and hi is None and gt is None and lt is None and choices is None and not finite:
        return None
    choices = tuple(choices) if choices is not None else None
    text = range_text(meta)

    def check(v):
        if finite and not math.isfinite(v):
            return f"got {v!r}; must be a finite number"
        # written as `not (v >= lo)` so NaN fails every bound
        if (lo is not None and not v >= lo) or (gt is not None and not v > gt) or (hi is not None and not v <= hi) \
                or (lt is not None and not v < lt):
            return f"got {shown(v)}; allowed range: {text}"
        if choices is not None and v not in choices:
            return f"got {shown(v)}; allowed values: " + ", ".join(repr(c) for c in choices)
        return None
    return check


def checker(tp: Any, meta: Mapping | None = None, exact: bool = False, _top: bool = True) -> Checker:
    """The checker for annotation ``tp`` with field metadata ``meta``.

    ``exact`` (messages): types are matched exactly (msgpack makes no subclasses: a bool is not
    an int, 1.0 is not an int), ints lie in the signed 64-bit range, and an unsupported
    annotation is a TypeError now. Otherwise numbers are matched by kind (numpy scalars pass)."""
    meta = dict(meta or {})
    unknown = set(meta) - _KEYS
    if unknown and _top:
        raise TypeError(f"unknown field metadata {sorted(unknown)}; known: {sorted(_KEYS)}")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            if exact:
                raise TypeError(f"field type {tp}: only 'T | None' unions are supported")
            return lambda v: None
        check_inner = checker(inner[0], meta, exact, _top)
        desc = describe(tp)

        def check_optional(v):
            if v is None:
                return None
            problem = check_inner(v)
            return problem.replace(f"expected {describe(inner[0])},", f"expected {desc},", 1) if problem else None
        return check_optional
    max_len = meta.get("max_len") if _top else None
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            if exact:
                raise TypeError(f"field type {tp}: give an element type, e.g. list[int]")
            return lambda v: None if isinstance(v, (list, tuple)) else f"expected a list, got {shown(v)}"
        elem = checker(args[0], meta, exact, _top=False)
        desc = describe(tp)

        def slow(v):
            for i, x in enumerate(v):
                problem = elem(x)
                if problem is not None:
                    return f"element [{i}]: {problem}"
            return None
        if exact and args[0] is int and meta.get("choices") is None and meta.get("gt") is None \
                and meta.get("lt") is None:
            # the hot path: a list of ints (ids, contexts) is checked by C loops (type set, min,
            # max); only a list that fails is walked element by element, to name the element
            lo = INT64_MIN if meta.get("min") is None else builtins.max(meta["min"], INT64_MIN)
            hi = INT64_MAX if meta.get("max") is None else builtins.min(meta["max"], INT64_MAX)
            only_int = {int}

            def check_int_list(v):
                if type(v) is not origin:
                    return f"expected {desc}, got {shown(v)}"
                if max_len is not None and len(v) > max_len:
                    return f"got {len(v)} elements; allowed at most {max_len}"
                if v and not (set(map(type, v)) <= only_int and lo <= builtins.min(v) and builtins.max(v) <= hi):
                    return slow(v)
                return None
            return check_int_list
        kinds = (origin,) if exact else (list, tuple)

        def check_list(v):
            if type(v) not in kinds and not (not exact and isinstance(v, kinds)):
                return f"expected {desc}, got {shown(v)}"
            if max_len is not None and len(v) > max_len:
                return f"got {len(v)} elements; allowed at most {max_len}"
            return slow(v)
        return check_list
    if _is_enum(tp):
        members = tuple(tp)
        desc = describe(tp)
        return lambda v: None if v in members else f"got {shown(v)}; allowed values: {desc[7:]}"
    if tp not in _NAMES:
        if exact:
            raise TypeError(f"field type {tp!r} is not supported: use int, float, str, bool, bytes, "
                            "list[...] of them, or 'T | None'")
        rest = _value_check(meta, False)
        return rest if rest is not None else (lambda v: None)
    desc = _NAMES[tp]
    if exact and tp in (int, str) and meta.get("choices") is not None and max_len is None:
        allowed = frozenset(meta["choices"])
        full = checker(tp, {k: v for k, v in meta.items() if k != "choices"}, exact, _top)
        listed = ", ".join(repr(c) for c in meta["choices"])

        def check_choice(v):   # the hot path of a kind tag: one type test, one set lookup
            if type(v) is tp and v in allowed:
                return None
            return full(v) or f"got {shown(v)}; allowed values: {listed}"
        return check_choice
    if exact and tp is int and meta.get("choices") is None and meta.get("gt") is None and meta.get("lt") is None \
            and max_len is None:
        lo = INT64_MIN if meta.get("min") is None else builtins.max(meta["min"], INT64_MIN)
        hi = INT64_MAX if meta.get("max") is None else builtins.min(meta["max"], INT64_MAX)
        declared = range_text({"min": meta.get("min"), "max": meta.get("max")})

        def out_of_range(v):
            if declared and not (meta.get("min") is None or v >= meta["min"]) or \
                    not (meta.get("max") is None or v <= meta["max"]):
                return f"got {v!r}; allowed range: {declared}"
            return f"got {v!r}; allowed range: {INT64_MIN} .. {INT64_MAX} (a signed 64-bit integer)"

        def check_int(v):   # the hot path: an int has no NaN, so one chained comparison
            if type(v) is not int:
                return f"expected {desc}, got {shown(v)}"
            return None if lo <= v <= hi else out_of_range(v)
        return check_int
    if exact and tp is int:
        meta["min"] = INT64_MIN if meta.get("min") is None else builtins.max(meta["min"], INT64_MIN)
        meta["max"] = INT64_MAX if meta.get("max") is None else builtins.min(meta["max"], INT64_MAX)
    rest = _value_check(meta, tp is float) if tp in (int, float, str) else None
    if exact:
        ok: tuple = (int,) if tp is int else (float, int) if tp is float else (tp,)
        if tp in (str, bytes) and max_len is None and rest is None:   # the hot path: plain fields
            return lambda v: None if type(v) is tp else f"expected {desc}, got {shown(v)}"
        is_type = lambda v: type(v) in ok
    else:
        kind = {int: numbers.Integral, float: numbers.Real}.get(tp, tp)
        is_type = lambda v: isinstance(v, kind) and (tp is bool or not isinstance(v, bool))

    def check_scalar(v):
        if not is_type(v):
            return f"expected {desc}, got {shown(v)}"
        if max_len is not None and len(v) > max_len:
            return f"got {len(v)} characters; allowed at most {max_len}"
        return None if rest is None else rest(v)
    return check_scalar


_CHECKERS: dict[tuple[type, bool], tuple] = {}


def checkers(cls: type, exact: bool = False) -> tuple:
    """((field name, checker), ...) of dataclass ``cls``, compiled once per class."""
    key = (cls, exact)
    found = _CHECKERS.get(key)
    if found is None:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"{cls!r} is not a dataclass")
        hints = typing.get_type_hints(cls)
        found = tuple((f.name, checker(hints[f.name], f.metadata, exact)) for f in dataclasses.fields(cls)
                      if f.init and not (dataclasses.is_dataclass(hints[f.name]) and not exact))
        _CHECKERS[key] = found
    return found


def check(obj: Any, key_prefix: str = "") -> None:
    """Check every field of a constructed dataclass against its declaration (call it from
    ``__post_init__``); a problem is a FieldProblem naming the field (as ``key_prefix`` + name)."""
    for name, check_one in checkers(type(obj)):
        problem = check_one(getattr(obj, name))
        if problem is not None:
            raise FieldProblem(key_prefix + name, problem)


# --- building from data (TOML tables, --set texts, flags) -----------------------------------

def from_text(tp: Any, text: str) -> Any:
    """A text typed by a user as the value of a field of type ``tp``; ValueError when it is not one."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_text(inner[0], text) if len(inner) == 1 else text
    if origin in (list, tuple):
        inner = (typing.get_args(tp) or (str,))[0]
        return tuple(from_text(inner, part.strip()) for part in text.split(",") if part.strip())
    if tp is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(text)
    if tp is int:
        return int(text.replace("_", ""))
    if tp is float:
        return float(text)
    if _is_enum(tp):
        return tp(text)
    return text


def coerce(tp: Any, value: Any) -> Any:
    """``value`` from a file or the command line in the field's own type: text converted, an int
    for a float field made a float, a list for a tuple field a tuple, a string for an Enum field
    its member. Returns ``value`` unchanged when it cannot be converted (the checker says why)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return coerce(inner[0], value) if len(inner) == 1 and value is not None else value
    if origin in (list, tuple):
        if isinstance(value, Text):    # comma-separated on the command line
            value = [Text(part.strip()) for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            inner = (typing.get_args(tp) or (Any,))[0]
            items = [coerce(inner, v) for v in value]
            return tuple(items) if origin is tuple else items
        return value
    if isinstance(value, Text):
        try:
            return from_text(tp, str(value))
        except ValueError:
            return str(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if _is_enum(tp) and not isinstance(value, tp):
        try:
            return tp(value)
        except (ValueError, TypeError):
            return value
    return value


def _type_problem(tp: Any, value: Any) -> str | None:
    """The problem of a text that did not convert: 'expected an integer, got 'x''."""
    if isinstance(value, str) and not isinstance(value, Text) and typing.get_origin(tp) is None \
            and tp in (int, float, bool):
        return f"expected {describe(tp)}, got {shown(value)}"
    return None


def build(cls: type, data: Mapping[str, Any], name_of: Callable[[str], str] | None = None,
          error: Callable[[str, str], Exception] = ParameterError, unknown_hint: Callable | None = None,
          prepare: Callable[[Any, str], Any] | None = None):
    """Construct dataclass ``cls`` from ``data`` (a TOML table, ``--set`` texts, flags), checking
    every key; nested dataclass fields are tables. A problem raises ``error(name, problem)``,
    where ``name_of(field path)`` names the value as the user wrote it (default: the path).
    ``unknown_hint(path)`` may explain an unknown key (a renamed one); ``prepare(table, prefix)``
    may rewrite a table first (deprecated keys)."""
    # another field named inside a problem: as the caller names fields, else quoted as in 'name'
    ref_of = name_of or (lambda path: f"'{path}'")
    name_of = name_of or (lambda path: path)
    return _build(cls, data, "", (name_of, ref_of), error, unknown_hint, prepare or (lambda table, _prefix: table))


def _build(cls, data, prefix, namers, error, unknown_hint, prepare):
    name_of, ref_of = namers
    data = prepare(data, prefix)
    if not isinstance(data, Mapping):
        raise error(name_of(prefix.rstrip(".")) if prefix else "<root>", f"expected a table, got {shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    tables = {name: f.metadata["tables"]() for name, f in fields.items() if "tables" in f.metadata}
    keys = set(fields) - set(tables) | {t for classes in tables.values() for t in classes}
    unknown = sorted((k for k in data if k not in keys), key=str)
    if unknown:
        hint = unknown_hint(prefix + str(unknown[0])) if unknown_hint else None
        raise error(name_of(prefix + str(unknown[0])),
                    hint or f"unknown key; allowed keys here: {', '.join(sorted(keys))}")
    kwargs = {}
    for name, f in fields.items():
        if name in tables:   # the field's type takes {key: built table}
            kwargs[name] = hints[name]({t: _build(c, data[t], f"{prefix}{t}.", namers, error, unknown_hint, prepare)
                                        for t, c in tables[name].items() if t in data})
            continue
        if name not in data:
            continue
        tp, value = hints[name], data[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{prefix}{name}.", namers, error, unknown_hint, prepare)
            continue
        value = coerce(tp, value)
        problem = _type_problem(tp, value) or checker(tp, f.metadata)(value)
        if problem is not None:
            raise error(name_of(prefix + name), problem)
        kwargs[name] = value
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise error(name_of(prefix + missing[0]), "is missing")
    try:
        return cls(**kwargs)
    except FieldProblem as exc:
        names = {n: ref_of(prefix + n) for n in fields}
        problem = re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), exc.problem)
        raise error(name_of(prefix + exc.field) if exc.field in fields else exc.field, problem) from None


def flag_of(cls: type, name: str) -> str:
    """The command-line flag of field ``name`` of ``cls``: its ``flag`` metadata, else --name-with-dashes."""
    f = {f.name: f for f in dataclasses.fields(cls)}.get(name)
    return (f.metadata.get("flag") if f is not None else None) or "--" + name.replace("_", "-")


T = typing.TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, field))
def frozen(cls: type[T] | None = None, /, *, kw_only: bool = False, key_prefix: str = "") -> Any:
    """Decorator: a frozen dataclass whose fields are checked against their declarations
    whenever it is constructed (then its own ``__post_init__`` runs, for cross-field checks).

    ``key_prefix``: the class is written as prefixed keys of a flat table (``meta_tau_s`` for
    ``Metaplasticity.tau_s``); every FieldProblem, its own checks' too, names the prefixed key."""
    def wrap(cls):
        own_post_init = getattr(cls, "__post_init__", None)

        def __post_init__(self):
            check(self, key_prefix)
            if own_post_init is not None:
                try:
                    own_post_init(self)
                except FieldProblem as exc:
                    if not key_prefix or exc.field.startswith(key_prefix):
                        raise
                    raise FieldProblem(key_prefix + exc.field, exc.problem) from None
        cls.__post_init__ = __post_init__   # before dataclass() writes __init__, which calls it
        return dataclasses.dataclass(frozen=True, kw_only=kw_only)(cls)
    return wrap if cls is None else wrap(cls)
