"""Message payload dataclasses (actors/kernel/messages.py): one class builds and checks a kind."""
from dataclasses import field

import msgpack
import pytest

from lolpim.actors.kernel.actor import Actor, deliver
from lolpim.actors.kernel.codec import SCHEMA_VERSION, MessageError, decode_batch
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.messages import Empty, message


@message
class Job:
    id: int = field(metadata={"min": 0, "max": 2**40})
    weight: float
    name: str = field(metadata={"max_len": 8})
    urgent: bool
    blob: bytes
    ids: list[int] = field(metadata={"min": 0, "max": 9, "max_len": 4})
    grid: list[list[int]]
    parent: int | None = None


class Worker(Actor):
    accepts = {"job": Job, "tick": Empty}
    lookahead_ps = 5

    def __init__(self, name, seed=0):
        super().__init__(name, seed)
        self.got = []

    def handle(self, event, payload):
        self.got.append(payload)
        if event.kind == "job" and payload.parent is not None:
            return [self.send("other", "job", payload, 5)]
        return []


GOOD = dict(id=3, weight=0.5, name="a", urgent=False, blob=b"x", ids=[1, 2], grid=[[1], []], parent=None)


def _deliver(payload, kind="job", raw=None):
    w = Worker("w")
    data = raw if raw is not None else msgpack.packb(payload, use_bin_type=True)
    deliver(w, Event(1, "w", "t", 1, kind, data))
    return w.got[-1]


def test_handle_gets_the_dataclass_and_send_packs_it():
    got = _deliver(GOOD)
    assert got == Job(**GOOD) and got.ids == [1, 2]
    w = Worker("w")
    (out,) = w.handle(Event(0, "w", "t", 1, "job", b""), Job(**{**GOOD, "parent": 1}))
    assert msgpack.unpackb(out.payload) == {**GOOD, "parent": 1}
    assert _deliver({}, kind="tick") == Empty()


def test_int_accepted_for_float_but_not_the_reverse_and_bool_is_not_int():
    assert _deliver({**GOOD, "weight": 2}).weight == 2
    with pytest.raises(MessageError, match="field 'id' expected an integer, got 1.0"):
        _deliver({**GOOD, "id": 1.0})
    with pytest.raises(MessageError, match="field 'id' expected an integer, got True"):
        _deliver({**GOOD, "id": True})
    with pytest.raises(MessageError, match="field 'urgent' expected true or false, got 1"):
        _deliver({**GOOD, "urgent": 1})


@pytest.mark.parametrize("change, problem", [
    ({"id": -1}, r"field 'id' got -1; allowed range: 0 \.\. 1099511627776"),
    ({"id": 2**41}, "allowed range: 0 "),
    ({"name": "x" * 9}, "field 'name' got 9 characters; allowed at most 8"),
    ({"ids": [1, 2, 3, 4, 5]}, "got 5 elements; allowed at most 4"),
    ({"ids": [1, 10]}, r"field 'ids' element \[1\]: got 10; allowed range: 0 \.\. 9"),
    ({"ids": [1, "2"]}, r"field 'ids' element \[1\]: expected an integer, got '2'"),
    ({"grid": [[1], [2, 1.5]]}, r"field 'grid' element \[1\]: element \[1\]: expected an integer, got 1.5"),
    ({"grid": [1]}, r"element \[0\]: expected a list of integers, got 1"),
    ({"parent": "p"}, "field 'parent' expected an integer or nothing, got 'p'"),
    ({"blob": "x"}, "field 'blob' expected bytes, got 'x'"),
])
def test_each_field_is_checked(change, problem):
    with pytest.raises(MessageError, match=problem):
        _deliver({**GOOD, **change})


def test_missing_and_extra_fields():
    with pytest.raises(MessageError, match="field 'parent' is missing"):
        _deliver({k: v for k, v in GOOD.items() if k != "parent"})
    with pytest.raises(MessageError, match="field 'zz' is not part of this message kind"):
        _deliver({**GOOD, "zz": 1})
    with pytest.raises(MessageError, match="field '1' is not part of this message kind"):
        _deliver({**GOOD, 1: 1})


@pytest.mark.parametrize("raw", [b"\xc1", b"\x81", msgpack.packb(GOOD) + b"\x00", b"\xa2\xff\xfe",
                                 b"\x91" * 100000, msgpack.packb([1, 2]), b""])
def test_unreadable_bytes_are_message_errors(raw):
    with pytest.raises(MessageError):
        _deliver(None, raw=raw)


def test_unsupported_field_types_fail_at_declaration():
    with pytest.raises(TypeError, match="not supported"):
        @message
        class Bad:
            x: dict


@pytest.mark.parametrize("version", [True, 1.0])
def test_schema_version_must_be_exactly_an_int(version):
    assert version == SCHEMA_VERSION
    with pytest.raises(MessageError, match="unknown schema version"):
        decode_batch(msgpack.packb({"v": version, "events": []}))
