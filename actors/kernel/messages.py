"""Message payloads: one frozen dataclass per message kind, used both to build a message and
to validate it on arrival, so sender and receiver cannot disagree about a field.

Example::

    from dataclasses import field
    from lolpim.actors.kernel.messages import message

    @message
    class Work:
        mb: int = field(metadata={"min": 0, "max": 2**20})
        round: int = field(metadata={"min": 0})
        sent_ps: int = field(metadata={"min": 0})
        tags: list[str] = field(default_factory=list, metadata={"max_len": 64})
        note: str | None = None

    class Stage(Actor):
        accepts = {"work": Work, "done": Empty}

        def handle(self, event, payload):      # payload is a Work (or Empty) instance
            ... self.send("next", "work", Work(mb=payload.mb, round=payload.round + 1, sent_ps=0)) ...

Field types: int, float (an int is accepted), str, bool, bytes, list[T] (any nesting of
these), and ``T | None``. Checks are exact: a bool is not an int, 1.0 is not an int.
Metadata (all optional): ``min`` / ``max`` (inclusive; for a list, every number in it; NaN
fails any bound; an int is always within the signed 64-bit range), ``max_len`` (length of a str,
bytes or the outer list), ``choices`` (the allowed values). Every field must be present on the
wire (defaults only help senders) and no other field may be. A bad message raises MessageError
naming the actor, the kind and the field, never another exception.

A value that is well-typed but wrong for the actor's state (an unknown request id, a
``done`` with nothing in service) is the actor's to refuse: ``raise MessageError(...)``,
or ``self.reject(event, field, problem)`` in an Actor.
"""
from __future__ import annotations

import dataclasses
import types
import typing

import msgpack

from lolpim.actors.kernel.codec import MessageError
from lolpim.core.compat import dataclass_transform

_T = typing.TypeVar("_T")

_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", bytes: "bytes", list: "list",
               dict: "dict", type(None): "nil"}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def message(cls: type[_T]) -> type[_T]:
    """Decorator: a frozen message dataclass whose schema is checked (and compiled) now."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    schema_of(cls)
    return cls


def is_message_class(obj) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def type_name(value) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# --- compiling a dataclass into checks ----------------------------------------------------
# A checker is check(value) -> None when fine, else the problem as text ("must be int, got str").

def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list[{_describe(typing.get_args(tp)[0])}]"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


INT64_MIN, INT64_MAX = -2**63, 2**63 - 1   # every int field lies in this range unless narrowed


def _range_check(meta: dict, where: str):
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if lo is None and hi is None and choices is None:
        return None
    choices = frozenset(choices) if choices is not None else None

    def check(v):
        # written as `not (v >= lo)` so NaN fails every bound
        if lo is not None and not (v >= lo):
            return f"{where}is {v!r}, below the minimum {lo}"
        if hi is not None and not (v <= hi):
            return f"{where}is {v!r}, above the maximum {hi}"
        if choices is not None and v not in choices:
            return f"{where}is {v!r}, not one of {sorted(choices, key=repr)}"
        return None
    return check


def _compile(tp, meta: dict, where: str = "", top: bool = True, nullable: bool = False):
    """The checker for annotation ``tp``. ``where`` prefixes problems inside lists."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"message field type {tp}: only 'T | None' unions are supported")
        check_inner = _compile(inner[0], meta, where, top, nullable=True)
        return lambda v: None if v is None else check_inner(v)
    max_len = meta.get("max_len") if top else None
    if origin is list:
        (elem_tp,) = typing.get_args(tp) or (None,)
        if elem_tp is None:
            raise TypeError("message field type list needs an element type, e.g. list[int]")
        elem = _compile(elem_tp, meta, "", top=False)
        desc = _describe(tp) + (" or nil" if nullable else "")

        def check_list(v):
            if type(v) is not list:
                return f"{where}must be {desc}, got {type_name(v)}"
            if max_len is not None and len(v) > max_len:
                return f"{where}has {len(v)} elements, over the limit of {max_len}"
            for i, x in enumerate(v):
                problem = elem(x)
                if problem is not None:
                    return f"{where}element [{i}] {problem}"
            return None
        return check_list
    if tp not in (int, float, str, bool, bytes):
        raise TypeError(f"message field type {tp!r} is not supported: use int, float, str, bool, bytes, "
                        "list[...] of them, or 'T | None'")
    ok = (int,) if tp is int else (float, int) if tp is float else (tp,)
    if tp is int:   # msgpack carries up to 2**64 - 1 and Python ints are unbounded; numpy indices are int64
        meta = {**meta, "min": max(meta.get("min", INT64_MIN), INT64_MIN),
                "max": min(meta.get("max", INT64_MAX), INT64_MAX)}
    rng = _range_check(meta, where) if tp in (int, float, str) else None
    desc = _describe(tp) + (" or nil" if nullable else "")

    def check_scalar(v):
        if type(v) not in ok:     # exact: bool is not int, 1.0 is not int (msgpack makes no subclasses)
            return f"{where}must be {desc}, got {type_name(v)}"
        if max_len is not None and len(v) > max_len:
            return f"{where}is {len(v)} long, over the limit of {max_len}"
        return None if rng is None else rng(v)
    if tp in (int, str, bytes) and max_len is None and rng is None:   # the hot path: plain fields
        return lambda v: None if type(v) is tp else f"{where}must be {desc}, got {type_name(v)}"
    return check_scalar


_SCHEMAS: dict[type, tuple] = {}


def schema_of(cls) -> tuple:
    """((field name, checker), ...) for a message dataclass, compiled once per class."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        if not is_message_class(cls):
            raise TypeError(f"{cls!r} is not a message dataclass")
        hints = typing.get_type_hints(cls)
        schema = tuple((f.name, _compile(hints[f.name], dict(f.metadata)))
                       for f in dataclasses.fields(cls))
        _SCHEMAS[cls] = schema
    return schema


# --- the wire -----------------------------------------------------------------------------

def unpack(actor: str, kind: str, data: bytes) -> dict:
    """msgpack bytes -> the payload map; anything unreadable is a MessageError."""
    try:
        payload = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:   # ExtraData, FormatError, StackError, UnicodeDecodeError, RecursionError...
        raise MessageError(actor, kind, "payload", f"is not valid msgpack ({type(exc).__name__})") from None
    if type(payload) is not dict:
        raise MessageError(actor, kind, "payload", f"must be a map, got {type_name(payload)}")
    return payload


def decode(actor: str, kind: str, cls, data: bytes):
    """Check ``data`` against message class ``cls`` and return an instance of it."""
    payload = unpack(actor, kind, data)
    schema = schema_of(cls)
    for name, check in schema:
        if name not in payload:
            raise MessageError(actor, kind, name, "is missing")
        problem = check(payload[name])
        if problem is not None:
            raise MessageError(actor, kind, name, problem)
    if len(payload) != len(schema):
        known = {name for name, _ in schema}
        extra = sorted((k for k in payload if k not in known), key=repr)
        raise MessageError(actor, kind, str(extra[0])[:80], "is not part of this message kind")
    try:
        return cls(**payload)
    except (TypeError, ValueError) as exc:   # a __post_init__ cross-field check
        raise MessageError(actor, kind, "payload", str(exc)) from None


def fields_of(payload) -> dict:
    """A message instance (or a plain dict, during the transition) as the map that goes on the wire."""
    if isinstance(payload, dict):
        return payload
    names = _FIELD_NAMES.get(type(payload))
    if names is None:
        schema = schema_of(type(payload))
        names = _FIELD_NAMES[type(payload)] = tuple(n for n, _ in schema)
    return {n: getattr(payload, n) for n in names}


_FIELD_NAMES: dict[type, tuple] = {}


def encode(payload) -> bytes:
    return msgpack.packb(fields_of(payload), use_bin_type=True)


@message
class Empty:
    """A message that carries nothing (timers, 'done' signals)."""
