"""msgpack wire format for batches of events, with a versioned schema and strict checks.

A batch is ``{"v": SCHEMA_VERSION, "events": [[time_ps, dst, src, seq, kind, payload], ...]}``.
Nothing malformed is ever dropped silently: every check raises MessageError naming the
actor, the kind and the field at fault.
"""
from __future__ import annotations

import msgpack

from lolpim.actors.kernel.events import Event

SCHEMA_VERSION = 1
DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
# The kernel's time horizon: 2**62 ps (~53 days of simulated time; runs last seconds to hours).
# An event past it is refused, so a time plus any delay an actor adds stays a signed 64-bit
# integer, which msgpack and numpy carry (a time of 2**64 - 1 was accepted, and its reply
# could not be encoded); and a forged far-future event cannot make an actor integrate for ages.
HORIZON_PS = 2**62

_EVENT_FIELDS = (("time_ps", int), ("dst", str), ("src", str), ("seq", int), ("kind", str),
                 ("payload", bytes))


class MessageError(Exception):
    """A message that breaks the schema. Names the actor, the kind and the field."""

    def __init__(self, actor: str, kind: str, field: str, problem: str):
        self.actor, self.kind, self.field = actor, kind, field
        super().__init__(f"actor '{actor}' rejected message kind '{kind}': field '{field}' {problem}")


def pack_payload(payload: dict) -> bytes:
    return msgpack.packb(payload, use_bin_type=True)


def unpack_payload(data: bytes) -> dict:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def encode_batch(events) -> bytes:
    return msgpack.packb({"v": SCHEMA_VERSION, "events": [list(e) for e in events]}, use_bin_type=True)


def decode_batch(data: bytes, receiver: str = "?") -> list[Event]:
    """Decode and structurally check a batch addressed to actors hosted by ``receiver``."""
    try:
        batch = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise MessageError(receiver, "?", "batch", f"is not valid msgpack ({exc})") from None
    if not isinstance(batch, dict) or "v" not in batch:
        raise MessageError(receiver, "?", "v", "is missing: not a lolpim message batch")
    if type(batch["v"]) is not int or batch["v"] != SCHEMA_VERSION:   # True == 1 == 1.0: exact int only
        raise MessageError(receiver, "?", "v", f"has unknown schema version {batch['v']!r}; "
                                               f"this build speaks version {SCHEMA_VERSION}")
    raw_events = batch.get("events")
    if not isinstance(raw_events, list):
        raise MessageError(receiver, "?", "events", "must be a list")
    out = []
    for raw in raw_events:
        if not isinstance(raw, list) or len(raw) != len(_EVENT_FIELDS):
            raise MessageError(receiver, "?", "event", f"must have {len(_EVENT_FIELDS)} fields, got {raw!r:.80}")
        kind = raw[4] if isinstance(raw[4], str) else "?"
        dst = raw[1] if isinstance(raw[1], str) else receiver
        for (name, typ), value in zip(_EVENT_FIELDS, raw):
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise MessageError(dst, kind, name, f"must be {typ.__name__}, got {type(value).__name__}")
        if not 0 <= raw[0] <= HORIZON_PS:
            raise MessageError(dst, kind, "time_ps", f"is {raw[0]}: outside the kernel's horizon 0 .. {HORIZON_PS} ps")
        if not 0 <= raw[3] < 2**63:
            raise MessageError(dst, kind, "seq", f"is {raw[3]}: outside 0 .. 2**63 - 1")
        out.append(Event(*raw))
    return out
