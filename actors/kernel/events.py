"""Events and simulated time.

Simulated time is an integer number of picoseconds everywhere in the kernel: integer
arithmetic is exact, so two executors, or two machines, can never disagree by a
rounding step. Convert at the edges with ``seconds_to_ps`` / ``ps_to_seconds``.

An event in flight is the 6-tuple ``(time_ps, dst, src, seq, kind, payload_bytes)``.
``seq`` counts every event its *source* ever sent, so ``(src, seq)`` is unique and an
actor's delivery order ``(time_ps, src, seq)`` never depends on which executor runs it.
The payload travels as msgpack bytes in both executors, so they see the same values.
"""
from __future__ import annotations

from typing import NamedTuple

PS_PER_S = 10**12


class Event(NamedTuple):
    time_ps: int
    dst: str
    src: str
    seq: int
    kind: str
    payload: bytes

    def key(self) -> tuple:
        return (self.time_ps, self.dst, self.src, self.seq)


def seconds_to_ps(seconds: float) -> int:
    return int(round(seconds * PS_PER_S))


def ps_to_seconds(ps: int) -> float:
    return ps / PS_PER_S
