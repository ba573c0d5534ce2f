"""Malformed messages are rejected with errors naming the actor, the kind and the field."""
import msgpack
import pytest

from lolpim.actors.kernel.actor import Actor, KernelError, deliver
from lolpim.actors.kernel.codec import SCHEMA_VERSION, MessageError, decode_batch, encode_batch, pack_payload
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.system import ActorSpec, SystemSpec


class Counter(Actor):
    accepts = {"add": {"amount": int, "note": str}}
    lookahead_ps = 10

    def handle(self, event, payload):
        return []


def _event(kind="add", payload=None, time_ps=5):
    payload = {"amount": 1, "note": "x"} if payload is None else payload
    return Event(time_ps, "counter", "tester", 1, kind, pack_payload(payload))


def test_unknown_kind_names_actor_kind_and_allowed_kinds():
    with pytest.raises(MessageError) as err:
        deliver(Counter("counter"), _event(kind="subtract"))
    assert str(err.value) == ("actor 'counter' rejected message kind 'subtract': field 'kind' is unknown to "
                              "this actor; it accepts: add")


def test_wrong_field_type_is_named():
    with pytest.raises(MessageError) as err:
        deliver(Counter("counter"), _event(payload={"amount": "three", "note": "x"}))
    assert str(err.value) == "actor 'counter' rejected message kind 'add': field 'amount' must be int, got str"
    assert (err.value.actor, err.value.kind, err.value.field) == ("counter", "add", "amount")


def test_missing_and_extra_fields_are_named():
    with pytest.raises(MessageError, match="field 'note' is missing"):
        deliver(Counter("counter"), _event(payload={"amount": 1}))
    with pytest.raises(MessageError, match="field 'colour' is not part of this message kind"):
        deliver(Counter("counter"), _event(payload={"amount": 1, "note": "x", "colour": "red"}))


def test_bool_is_not_an_int():
    with pytest.raises(MessageError, match="field 'amount' must be int, got bool"):
        deliver(Counter("counter"), _event(payload={"amount": True, "note": "x"}))


def test_oversized_payload_is_rejected():
    big = {"amount": 1, "note": "x" * 2000}
    with pytest.raises(MessageError) as err:
        deliver(Counter("counter"), _event(payload=big), max_payload_bytes=1024)
    assert "actor 'counter' rejected message kind 'add': field 'payload' is" in str(err.value)
    assert "over the limit of 1024 bytes" in str(err.value)


def test_unknown_schema_version_is_rejected():
    data = msgpack.packb({"v": SCHEMA_VERSION + 1, "events": []})
    with pytest.raises(MessageError) as err:
        decode_batch(data, "stage007")
    assert str(err.value) == (f"actor 'stage007' rejected message kind '?': field 'v' has unknown schema version "
                              f"{SCHEMA_VERSION + 1}; this build speaks version {SCHEMA_VERSION}")


def test_wrongly_typed_event_field_in_a_batch_is_named():
    data = msgpack.packb({"v": SCHEMA_VERSION, "events": [[1.5, "counter", "src", 1, "add", b""]]})
    with pytest.raises(MessageError, match="actor 'counter' rejected message kind 'add': field 'time_ps' must be int"):
        decode_batch(data)


def test_garbage_bytes_are_not_a_batch():
    with pytest.raises(MessageError, match="field 'batch' is not valid msgpack"):
        decode_batch(b"\xc1\xc1\xc1")


def test_round_trip_of_a_valid_batch():
    events = [_event(), _event(time_ps=9)]
    assert decode_batch(encode_batch(events)) == events


class TooEager(Actor):
    accepts = {"go": {}}
    lookahead_ps = 100

    def start(self):
        return [self.send("peer", "go", {}, delay_ps=5)]


def test_sending_below_the_declared_lookahead_is_a_kernel_error():
    system = SystemSpec((ActorSpec("eager", TooEager), ActorSpec("peer", Counter)))
    with pytest.raises(KernelError, match="below its declared lookahead 100 ps"):
        InlineExecutor().run(system)


class SendsToNobody(Actor):
    accepts = {}
    lookahead_ps = 1

    def start(self):
        return [self.send("ghost", "go", {}, delay_ps=1)]


def test_message_to_an_unknown_actor_is_named():
    system = SystemSpec((ActorSpec("lonely", SendsToNobody),))
    with pytest.raises(MessageError, match="actor 'ghost' rejected message kind 'go': field 'dst' names no actor"):
        InlineExecutor().run(system)
