"""A configurable actor for stress-testing the kernel: random fan-out, fan-in, equal
timestamps, zero-delay timers and zero-work handlers. Used by the property tests and
the kernel benchmark; its result is a running checksum of everything it saw, in order,
so any difference in delivery order between executors shows up in the result."""
from __future__ import annotations

import zlib
from dataclasses import field

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.messages import message
from lolpim.actors.kernel.system import ActorSpec, frozen_params


@message
class Ping:
    hops: int = field(metadata={"min": 0})   # a negative count would be forwarded ~2^63 times
    value: int


@message
class Tick:
    value: int


class GraphNode(Actor):
    accepts = {"ping": Ping, "tick": Tick}
    timers = frozenset({"tick"})
    state_fields = ("checksum", "received")

    @frozen_params
    class Params:
        targets: tuple[str, ...]
        lookahead_ps: int
        delay_choices_ps: tuple[int, ...]   # extra delay on top of the lookahead
        initial_pings: int = 0
        max_hops: int = 8
        send_prob: float = 0.7
        timer_prob: float = 0.2
        null_work: bool = False

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.lookahead_ps

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.targets = tuple(params.targets)
        self.lookahead_ps = params.lookahead_ps
        self.delays = tuple(params.delay_choices_ps)
        self.checksum = 0
        self.received = 0

    def start(self):
        return [self.send(t, "ping", Ping(hops=0, value=i), self.lookahead_ps)
                for i in range(self.p.initial_pings) for t in self.targets[:1]]

    def handle(self, event, payload):
        self.received += 1
        p = self.p
        if p.null_work:
            # forward the same ping round the ring with no decisions: pure kernel overhead
            if event.kind == "ping" and payload.hops < p.max_hops and self.targets:
                return [self.send(self.targets[0], "ping", Ping(hops=payload.hops + 1, value=0), self.lookahead_ps)]
            return []
        self.checksum = zlib.crc32(f"{self.now_ps}:{event.src}:{event.seq}:{event.kind}:{payload.value}:"
                                   f"{self.checksum}".encode())
        if event.kind == "tick":
            return []
        out = []
        if self.rng.random() < p.timer_prob:
            out.append(self.send(self.name, "tick", Tick(value=self.received), 0))
        if payload.hops < p.max_hops:
            for target in self.targets:
                if self.rng.random() < p.send_prob:
                    extra = self.delays[int(self.rng.integers(len(self.delays)))]
                    out.append(self.send(target, "ping", Ping(hops=payload.hops + 1, value=self.checksum & 0xFFFF),
                                         self.lookahead_ps + extra))
        return out

    def result(self):
        return {"checksum": self.checksum, "received": self.received, "last_ps": self.now_ps}


def node(name: str, **params) -> ActorSpec:
    """ActorSpec of a GraphNode; lists are taken as tuples (the Params are frozen)."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return ActorSpec(name, GraphNode, GraphNode.Params(**params))
