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

Fields are declared, and checked, by the one validation layer (core/schema.py) that also
checks configs, presets and command flags. Field types: int, float (an int is accepted), str,
bool, bytes, list[T] (any nesting of these), and ``T | None``. Checks are exact: a bool is not
an int, 1.0 is not an int. Metadata (all optional): ``min`` / ``max`` / ``gt`` (for a list,
every number in it; NaN fails any bound; an int is always within the signed 64-bit range),
``finite`` (default True: a float must be finite), ``max_len`` (length of a str, bytes or the
outer list), ``choices`` (the allowed values). Every field must be present on the wire (defaults only help
senders) and no other field may be. A bad message raises MessageError naming the actor,
the kind and the field, never another exception.

A value that is well-typed but wrong for the actor's state (an unknown request id, a
``done`` with nothing in service) is the actor's to refuse: ``raise MessageError(...)``,
or ``self.reject(event, field, problem)`` in an Actor.
"""
from __future__ import annotations

import dataclasses
import typing

import msgpack
from lolpim.actors.kernel.codec import MessageError
from lolpim.core import schema as _schema
from lolpim.core.compat import dataclass_transform

_T = typing.TypeVar("_T")

_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", bytes: "bytes", list: "list",
               dict: "dict", type(None): "nil"}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, _schema.field))
def message(cls: type[_T]) -> type[_T]:
    """Decorator: a frozen message dataclass whose schema is checked (and compiled) now."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    schema_of(cls)
    return cls


def is_message_class(obj) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def type_name(value) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def schema_of(cls) -> tuple:
    """((field name, checker), ...) for a message dataclass, compiled once per class by the one
    validation layer (core/schema.py) in its exact mode: msgpack makes no subclasses, so a bool
    is not an int and 1.0 is not an int; an unsupported field type is a TypeError now."""
    found = _SCHEMAS.get(cls)
    if found is None:
        if not is_message_class(cls):
            raise TypeError(f"{cls!r} is not a message dataclass")
        found = _SCHEMAS[cls] = _schema.checkers(cls, exact=True)
    return found


_SCHEMAS: dict[type, tuple] = {}


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
