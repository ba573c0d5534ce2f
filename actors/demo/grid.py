"""A 2-D grid of tile actors exchanging spikes with their four nearest neighbours: the message
shape of a cortical sheet split into tiles (issue 24), without the neurons.

Every ``period_ps`` each tile sends ``messages`` spike messages of ``payload_bytes`` bytes to
each of its neighbours, arriving one period later (the lookahead), for ``steps`` steps. The
system lists the tiles row by row, so ``RayExecutor(max_processes=P)`` gives each process a
strip of rows and the tiles on a strip's edge talk across processes in every window.

A tile's result is a running checksum of every spike it received, in delivery order, so any
difference in order between executors (or process counts) shows in the result.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.messages import message
from lolpim.actors.kernel.system import ActorSpec, SystemSpec, frozen_params


@message
class Spike:
    step: int = field(metadata={"min": 0})
    blob: bytes = field(metadata={"max_len": 1 << 20})


@message
class Step:
    step: int = field(metadata={"min": 0})


def tile_name(row: int, col: int) -> str:
    return f"tile{row:03d}_{col:03d}"


class Tile(Actor):
    accepts = {"spike": Spike, "step": Step}
    timers = frozenset({"step"})
    state_fields = ("checksum", "received")

    @frozen_params
    class Params:
        side: int                 # the grid is side x side tiles
        row: int
        col: int
        period_ps: int            # one step; also the delay of a spike (the lookahead)
        steps: int
        messages: int             # spike messages per neighbour per step
        payload_bytes: int        # bytes carried by each spike message

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.period_ps

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset(neighbours(params.side, params.row, params.col))

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.lookahead_ps = params.period_ps
        self.peer_names = self.peers_for(name, params)
        self.targets = tuple(sorted(self.peer_names))
        self.checksum = 0
        self.received = 0

    def start(self):
        return [self.send(self.name, "step", Step(step=0), 0)] if self.p.steps > 0 else []

    def handle(self, event, payload):
        p = self.p
        if event.kind == "spike":
            self.received += 1
            self.checksum = zlib.crc32(f"{self.now_ps}:{event.src}:{event.seq}:{payload.step}".encode(),
                                       zlib.crc32(payload.blob, self.checksum))
            return []
        # the blob's bytes depend on the tile's state, so a reordering upstream changes them too
        blob = (self.checksum.to_bytes(4, "little") * (p.payload_bytes // 4 + 1))[:p.payload_bytes]
        out = [self.send(t, "spike", Spike(step=payload.step, blob=blob), p.period_ps)
               for t in self.targets for _ in range(p.messages)]
        if payload.step + 1 < p.steps:
            out.append(self.send(self.name, "step", Step(step=payload.step + 1), p.period_ps))
        return out

    def result(self):
        return {"checksum": self.checksum, "received": self.received}


def neighbours(side: int, row: int, col: int) -> list[str]:
    return [tile_name(r, c) for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
            if 0 <= r < side and 0 <= c < side]


@dataclass(frozen=True)
class GridShape:
    side: int = 8
    steps: int = 50
    messages: int = 1
    payload_bytes: int = 64
    period_ps: int = 1_000_000     # 1 us

    def system(self, seed: int = 0) -> SystemSpec:
        return SystemSpec(tuple(
            ActorSpec(tile_name(r, c), Tile, Tile.Params(side=self.side, row=r, col=c, period_ps=self.period_ps,
                                                         steps=self.steps, messages=self.messages,
                                                         payload_bytes=self.payload_bytes))
            for r in range(self.side) for c in range(self.side)), seed=seed)

    def cross_messages_per_step(self, processes: int) -> int:
        """Spike messages that cross processes each step when the rows are cut into ``processes``
        strips as RayExecutor cuts them (tiles in row-major order, split evenly)."""
        n = self.side * self.side
        owner = {}
        for i in range(processes):
            for k in range(i * n // processes, (i + 1) * n // processes):
                owner[tile_name(k // self.side, k % self.side)] = i
        return self.messages * sum(owner[tile_name(r, c)] != owner[t]
                                   for r in range(self.side) for c in range(self.side)
                                   for t in neighbours(self.side, r, c))
