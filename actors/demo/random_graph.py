"""A configurable actor for stress-testing the kernel: random fan-out, fan-in, equal
timestamps, zero-delay timers and zero-work handlers. Used by the property tests and
the kernel benchmark; its result is a running checksum of everything it saw, in order,
so any difference in delivery order between executors shows up in the result."""
from __future__ import annotations

import zlib

from lolpim.actors.kernel.actor import Actor

_PING = {"hops": int, "value": int}


class GraphNode(Actor):
    accepts = {"ping": _PING, "tick": {"value": int}}

    def __init__(self, name, seed, targets: list, lookahead_ps: int, delay_choices_ps: list,
                 initial_pings: int = 0, max_hops: int = 8, send_prob: float = 0.7,
                 timer_prob: float = 0.2, null_work: bool = False):
        super().__init__(name, seed)
        self.targets = list(targets)
        self.lookahead_ps = lookahead_ps
        self.delay_choices_ps = list(delay_choices_ps)  # extra delay on top of the lookahead
        self.initial_pings = initial_pings
        self.max_hops = max_hops
        self.send_prob = send_prob
        self.timer_prob = timer_prob
        self.null_work = null_work
        self.checksum = 0
        self.received = 0

    def start(self):
        return [self.send(t, "ping", {"hops": 0, "value": i}, self.lookahead_ps)
                for i in range(self.initial_pings) for t in self.targets[:1]]

    def handle(self, event, payload):
        self.received += 1
        if self.null_work:
            # forward the same ping round the ring with no decisions: pure kernel overhead
            if payload.get("hops", 0) < self.max_hops and self.targets:
                return [self.send(self.targets[0], "ping", {"hops": payload["hops"] + 1, "value": 0},
                                  self.lookahead_ps)]
            return []
        self.checksum = zlib.crc32(f"{self.now_ps}:{event.src}:{event.seq}:{event.kind}:{payload['value']}:"
                                   f"{self.checksum}".encode())
        if event.kind == "tick":
            return []
        out = []
        if self.rng.random() < self.timer_prob:
            out.append(self.send(self.name, "tick", {"value": self.received}, 0))
        if payload["hops"] < self.max_hops:
            for target in self.targets:
                if self.rng.random() < self.send_prob:
                    extra = self.delay_choices_ps[int(self.rng.integers(len(self.delay_choices_ps)))]
                    out.append(self.send(target, "ping", {"hops": payload["hops"] + 1,
                                                          "value": self.checksum & 0xFFFF},
                                         self.lookahead_ps + extra))
        return out

    def result(self):
        return {"checksum": self.checksum, "received": self.received, "last_ps": self.now_ps}

    def state(self):
        return {"checksum": self.checksum, "received": self.received}

    def load_state(self, s):
        self.checksum, self.received = s["checksum"], s["received"]
