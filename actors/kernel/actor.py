"""The actor contract shared by every simulated component, and the one function that
delivers an event to an actor (used by both executors, so they cannot drift apart).

A subclass declares:
  ``accepts``      {kind: PayloadClass}: the messages it understands, each a frozen dataclass
                   (actors/kernel/messages.py); ``handle`` receives an instance of it. The old
                   form {kind: {field: type}} (handle gets a dict) is accepted during the transition;
  ``lookahead_ps`` the smallest delay of anything it sends to *another* actor (> 0);
  ``peer_names``   optionally, the only actors it ever sends to (None: any). The Ray executor
                   lets a process whose actors send only to each other run past the window
                   bound its lookahead would set (actors/kernel/ray_executor.py);
                   when either depends on params, override the classmethods
                   ``lookahead_for(params)`` / ``peers_for(name, params)``, which the Ray
                   driver reads without building the actor (deliver checks they agree);
  ``Params``       the frozen dataclass of its parameters (None: it has none); the
                   constructor is ``__init__(name, seed, params)``;
  ``state_fields`` every attribute that changes during a run. Snapshots (Ray recovery)
                   carry exactly these, so ``state()`` / ``load_state()`` derive from the
                   declaration and a field cannot be forgotten (tests/kernel/test_actor_state.py
                   checks that nothing outside it changes);
and implements ``handle(event, payload) -> list[Event]`` (build outputs with ``send``),
optionally ``start()`` and ``result()``.
Self-addressed events (timers) may use any delay >= 0: they never cross a window.
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Any, NoReturn

import numpy as np

from lolpim.actors.kernel import messages
from lolpim.actors.kernel.codec import (DEFAULT_MAX_PAYLOAD_BYTES, HORIZON_PS, MessageError, pack_payload,
                                        unpack_payload)
from lolpim.actors.kernel.events import Event


class KernelError(Exception):
    """An actor broke the kernel's rules (causality, lookahead). A bug in that actor."""


def actor_seed(seed: int, name: str) -> np.random.SeedSequence:
    """Each actor's random stream depends only on (run seed, actor name), never on placement."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, int.from_bytes(digest, "little")])


class Actor:
    accepts: dict[str, Any] = {}
    lookahead_ps: int = 1
    peer_names: frozenset | None = None
    timers: frozenset = frozenset()   # message kinds only the actor itself may send (its clocks)
    Params: type | None = None
    state_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        # a bad message declaration fails at import, not on the first message
        super().__init_subclass__(**kwargs)
        for kind, schema in cls.accepts.items():
            if messages.is_message_class(schema):
                messages.schema_of(schema)
            elif not isinstance(schema, dict):
                raise TypeError(f"{cls.__name__}.accepts['{kind}'] must be a message dataclass, got {schema!r}")

    def __init__(self, name: str, seed: int = 0):
        self.name = name
        self.now_ps = 0
        self._seq = 0
        self.events_processed = 0   # delivered events; reported as lolpim_events_processed_total
        self.rng = np.random.Generator(np.random.PCG64(actor_seed(seed, name)))

    # --- declared without building the actor (the Ray executor reads these on the driver) ----
    @classmethod
    def lookahead_for(cls, params) -> int:
        """The lookahead an actor built with ``params`` will have. Override when it depends on params."""
        return cls.lookahead_ps

    @classmethod
    def peers_for(cls, name: str, params) -> frozenset | None:
        """The peers an actor ``name`` built with ``params`` will declare (None: any actor)."""
        return cls.peer_names

    # --- to implement -----------------------------------------------------------
    def start(self) -> list[Event]:
        return []

    def handle(self, event: Event, payload: Any) -> list[Event]:
        """``payload``: an instance of the kind's @message class, or a dict for a dict schema."""
        raise NotImplementedError

    def result(self) -> dict:
        return {}

    def state(self) -> dict:
        """The declared state (``state_fields``) as msgpack-friendly values."""
        return {f: encode_state(getattr(self, f)) for f in self.state_fields}

    def load_state(self, state: dict) -> None:
        missing = set(self.state_fields) - set(state)
        if missing:
            raise KernelError(f"actor '{self.name}': snapshot lacks declared state {sorted(missing)}")
        for f in self.state_fields:
            setattr(self, f, decode_state(state[f]))

    def send_horizon_ps(self, pending: list[Event]) -> int:
        """The earliest time this actor could send to another actor, given the events already
        queued for it and assuming nothing else arrives (the Ray executor adds one lookahead
        to anything still in flight). The default is safe for any actor; an actor that knows
        more (a busy pipeline stage knows when its queue drains) may return a later time,
        which widens the executor's safe windows."""
        return min(ev.time_ps for ev in pending) + self.lookahead_ps

    def metrics(self) -> dict[str, float]:
        """Counters and gauges reported with each window reply (name -> value)."""
        return {}

    # --- helpers ----------------------------------------------------------------
    def reject(self, event: Event, field: str, problem: str) -> NoReturn:
        """Refuse a well-typed message that is wrong for this actor's state (raises MessageError)."""
        raise MessageError(self.name, event.kind, field, problem)

    def send(self, dst: str, kind: str, payload, delay_ps: int = 0) -> Event:
        """``payload``: a message dataclass instance (or, during the transition, a dict)."""
        if dst != self.name and delay_ps < self.lookahead_ps:
            raise KernelError(f"actor '{self.name}' sent '{kind}' to '{dst}' with delay {delay_ps} ps, "
                              f"below its declared lookahead {self.lookahead_ps} ps")
        if delay_ps < 0:
            raise KernelError(f"actor '{self.name}' scheduled '{kind}' in the past ({delay_ps} ps)")
        if self.peer_names is not None and dst != self.name and dst not in self.peer_names:
            raise KernelError(f"actor '{self.name}' sent '{kind}' to '{dst}', which is not among its declared "
                              f"peers ({', '.join(sorted(self.peer_names))})")
        self._seq += 1
        return Event(self.now_ps + int(delay_ps), dst, self.name, self._seq, kind, messages.encode(payload))

    def snapshot(self) -> dict:
        bitgen = self.rng.bit_generator.state
        return {"now_ps": self.now_ps, "seq": self._seq, "events": self.events_processed,
                "rng": pack_payload(_ints_to_text(bitgen)), "state": self.state()}

    def restore(self, snap: dict) -> None:
        self.now_ps, self._seq = snap["now_ps"], snap["seq"]
        self.events_processed = snap.get("events", 0)
        self.rng.bit_generator.state = _text_to_ints(unpack_payload(snap["rng"]))
        self.load_state(snap["state"])


def encode_state(value):
    """A state value as msgpack data that ``decode_state`` turns back into an equal value of the
    same type: numpy arrays keep dtype and shape, tuples, sets and non-text dict keys survive."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": [value.dtype.str, list(value.shape), np.ascontiguousarray(value).tobytes()]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bool, str, bytes, float)) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else {"__bigint__": str(value)}
    if isinstance(value, list):
        return [encode_state(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_state(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [encode_state(v) for v in sorted(value)]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode_state(v) for k, v in value.items()}
        return {"__map__": [[encode_state(k), encode_state(v)] for k, v in value.items()]}
    raise TypeError(f"state value of type {type(value).__name__} cannot be snapshotted; keep actor state "
                    "to numbers, text, bytes, numpy arrays and lists/tuples/sets/dicts of them")


def decode_state(data):
    if isinstance(data, list):
        return [decode_state(v) for v in data]
    if isinstance(data, dict):
        if len(data) == 1:
            (tag, body), = data.items()
            if tag == "__ndarray__":
                dtype, shape, raw = body
                return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
            if tag == "__bigint__":
                return int(body)
            if tag == "__tuple__":
                return tuple(decode_state(v) for v in body)
            if tag == "__set__":
                return {decode_state(v) for v in body}
            if tag == "__map__":
                return {_hashable(decode_state(k)): decode_state(v) for k, v in body}
        return {k: decode_state(v) for k, v in data.items()}
    return data


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def _ints_to_text(obj):
    # PCG64 state holds 128-bit integers, which msgpack cannot carry; write them as text.
    if isinstance(obj, dict):
        return {k: _ints_to_text(v) for k, v in obj.items()}
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) >= 2**63:
        return {"__bigint__": str(obj)}
    return obj


def _text_to_ints(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__bigint__"}:
            return int(obj["__bigint__"])
        return {k: _text_to_ints(v) for k, v in obj.items()}
    return obj


_SCALARS = {int: "int", float: "float", str: "str", bool: "bool", bytes: "bytes", list: "list",
            dict: "dict", type(None): "nil"}


def _type_ok(value, expected) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    for t in types:
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t is float and isinstance(value, (float, int)) and not isinstance(value, bool):
            return True
        if t not in (int, float) and isinstance(value, t):
            return True
    return False


def check_payload(actor: Actor, event: Event, max_payload_bytes: int):
    """Validate an incoming event against the receiving actor's declared schema; returns the
    payload as an instance of the declared message class (a dict for old dict schemas).
    Anything malformed raises MessageError, never another exception."""
    schema = actor.accepts.get(event.kind)
    if schema is None:
        allowed = ", ".join(sorted(actor.accepts)) or "none"
        raise MessageError(actor.name, event.kind, "kind", f"is unknown to this actor; it accepts: {allowed}")
    if event.kind in actor.timers and event.src != actor.name:
        raise MessageError(actor.name, event.kind, "src", f"is '{event.src}': '{event.kind}' is this actor's own "
                                                          "timer, sent only by itself")
    if len(event.payload) > max_payload_bytes:
        raise MessageError(actor.name, event.kind, "payload",
                           f"is {len(event.payload)} bytes, over the limit of {max_payload_bytes} bytes")
    if not isinstance(schema, dict):
        return messages.decode(actor.name, event.kind, schema, event.payload)
    payload = messages.unpack(actor.name, event.kind, event.payload)
    for field, expected in schema.items():
        if field not in payload:
            raise MessageError(actor.name, event.kind, field, "is missing")
        if not _type_ok(payload[field], expected):
            expected_types = expected if isinstance(expected, tuple) else (expected,)
            names = "/".join(_SCALARS.get(t, t.__name__) for t in expected_types)
            got = _SCALARS.get(type(payload[field]), type(payload[field]).__name__)
            raise MessageError(actor.name, event.kind, field, f"must be {names}, got {got}")
    extra = set(payload) - set(schema)
    if extra:
        raise MessageError(actor.name, event.kind, str(sorted(extra, key=repr)[0])[:80],
                           "is not part of this message kind")
    return payload


def deliver(actor: Actor, event: Event, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> list[Event]:
    """Validate ``event``, advance the actor's clock, run its handler, check its outputs."""
    if not 0 <= event.time_ps <= HORIZON_PS:
        raise MessageError(actor.name, event.kind, "time_ps",
                           f"is {event.time_ps}: outside the kernel's horizon 0 .. {HORIZON_PS} ps")
    if event.time_ps < actor.now_ps:
        raise KernelError(f"causality violated at actor '{actor.name}': event '{event.kind}' from "
                          f"'{event.src}' at {event.time_ps} ps arrived after local time {actor.now_ps} ps")
    payload = check_payload(actor, event, max_payload_bytes)
    actor.now_ps = event.time_ps
    actor.events_processed += 1
    out = actor.handle(event, payload)
    if out is None:
        return []
    for ev in out:
        if ev.time_ps > HORIZON_PS:     # a huge value in a valid message turned into a huge delay
            raise KernelError(f"actor '{actor.name}' sent '{ev.kind}' at {ev.time_ps} ps, past the kernel's "
                              f"horizon {HORIZON_PS} ps (handling '{event.kind}' from '{event.src}')")
    return out


def actor_metrics(actor: Actor) -> dict[str, float]:
    """What an executor reports for one actor: its own metrics plus the kernel's event count."""
    return {**actor.metrics(), "events_processed_total": actor.events_processed}


def trace_entry(event: Event) -> tuple:
    """What a trace keeps of a processed event: its identity plus a checksum of its payload."""
    return (event.time_ps, event.dst, event.src, event.seq, event.kind, zlib.crc32(event.payload))
