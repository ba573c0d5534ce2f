"""A pipeline stage of an LLM serving system: a PIM module holding a contiguous layer
range, or a GPU (tensor-parallel) group, or a GPU+HBM-PIM pair.

Per micro-batch pass it charges decode for requests already in KV and prefill for newly
admitted ones (hardware/ cost models via StageCost), then forwards the activations over
its link. A pass's duration is fixed when it starts, so the forward message is sent at
start with delay = service + link; that lets the stage declare a lookahead of
(shortest possible pass + link latency), which keeps the Ray executor's windows wide.
"""
from __future__ import annotations

import math
from dataclasses import field

import numpy as np

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.codec import unpack_payload
from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.actors.kernel.messages import Empty, fields_of, message
from lolpim.actors.kernel.system import frozen_params
from lolpim.actors.llm.recording import STATE_FIELDS as TIMELINE_STATE, Rec, Recording
from lolpim.hardware.systems.stage_costs import StageCost, StageSpec

NEVER = 2**62   # send horizon when no pass is queued or pending: nothing to send


# what the configs allow (workload: 10M prompt + 1M output tokens; 100,000 requests per
# micro-batch), rounded up: anything beyond is a forged message, and would overflow the int64
# FLOP counts of the cost models
MAX_TOKENS_PER_REQUEST = 2**24
MAX_MICROBATCH_REQUESTS = 2**17


@message
class Microbatch:
    """One micro-batch's pass: its requests, the context each attends over and, for a request
    whose KV is not there yet, its prompt length (0: decoding)."""
    mb: int = field(metadata={"min": 0})
    reqs: list[int] = field(metadata={"min": 0, "max_len": MAX_MICROBATCH_REQUESTS})
    ctx: list[int] = field(metadata={"min": 1, "max": MAX_TOKENS_PER_REQUEST})
    prompt: list[int] = field(metadata={"min": 0, "max": MAX_TOKENS_PER_REQUEST})
    sent_ps: int = field(metadata={"min": 0})

    def __post_init__(self):
        if not len(self.reqs) == len(self.ctx) == len(self.prompt):
            raise ValueError(f"reqs, ctx and prompt must be as long; got {len(self.reqs)}, {len(self.ctx)}, "
                             f"{len(self.prompt)}")


def _lookahead_ps(cost: StageCost, link_ps: int) -> int:
    # 1% below the cheapest pass: a safe lower bound on any send delay.
    return max(1, math.floor(seconds_to_ps(cost.min_pass_s()) * 0.99)) + link_ps


class LlmStage(Recording, Actor):
    accepts = {"mb": Microbatch, "free": Empty}
    timers = frozenset({"free"})
    state_fields = ("queue", "busy", "busy_until_ps", "busy_ps", "passes", "energy_j", *TIMELINE_STATE)
    timeline_weight = 4   # two events a pass, every micro-batch round: the busiest recorder

    @frozen_params
    class Params:
        next_actor: str                   # the next stage, or the host after the last
        cost: StageSpec
        link_latency_s: float             # latency + per-message overhead to next_actor
        link_bandwidth_bytes_per_s: float
        activation_bytes_per_request: int
        timeline_max_events: int = 0      # --timeline: passes and link transfers recorded (0: off)

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return _lookahead_ps(params.cost.build(), seconds_to_ps(params.link_latency_s))

    @classmethod
    def peers_for(cls, name: str, params: Params) -> frozenset:
        return frozenset([params.next_actor])

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.peer_names = frozenset([params.next_actor])
        self.cost = params.cost.build()
        self.link_ps = seconds_to_ps(params.link_latency_s)
        self.lookahead_ps = _lookahead_ps(self.cost, self.link_ps)
        self.queue: list[list] = []    # [micro-batch fields, service ps, transfer ps, energy J] per waiting pass
        self.busy = False
        self.busy_until_ps = 0
        # (src, seq) -> priced pass, filled by send_horizon_ps and used on delivery: a cache of
        # pending events, not state (after a restore a pass is priced again, to the same numbers)
        self._price_cache: dict = {}
        self.busy_ps = 0
        self.passes = 0
        self.energy_j = 0.0
        self._timeline_init(params.timeline_max_events)

    def handle(self, event, payload):
        if event.kind == "mb":
            self.queue.append(self._priced(fields_of(payload), (event.src, event.seq)))
        elif not self.busy:
            self.reject(event, "kind", "'free' while no pass is in service")
        else:
            self.busy = False
        if self.busy or not self.queue:
            return []
        mb, service_ps, transfer_ps, energy_j = self.queue.pop(0)
        self.busy = True
        self.busy_until_ps = self.now_ps + service_ps
        self.busy_ps += service_ps
        self.passes += 1
        self.energy_j += energy_j
        if self.timeline_on:
            self._record_pass(mb, service_ps, transfer_ps)
        return [self.send(self.p.next_actor, "mb", Microbatch(**mb), service_ps + transfer_ps),
                self.send(self.name, "free", Empty(), service_ps)]

    def _record_pass(self, mb: dict, service_ps: int, transfer_ps: int) -> None:
        # the service span is exactly what busy_ps adds up; the transfer follows it on the
        # link while the stage may already serve its next pass, so it gets a track of its own
        n = len(mb["reqs"])
        prefills = sum(1 for p in mb["prompt"] if p)
        kind = Rec.DECODE if prefills == 0 else Rec.PREFILL if prefills == n else Rec.MIXED
        end_ps = self.now_ps + service_ps
        self._rec(kind, self.now_ps, end_ps, mb["mb"], n, prefills)
        self._rec(Rec.LINK, end_ps, end_ps + transfer_ps, mb["mb"], n)

    def _priced(self, mb: dict, key=None) -> list:
        """[micro-batch fields, service ps, transfer ps, energy J]: a pass's cost is known on arrival."""
        if key in self._price_cache:
            return self._price_cache.pop(key)
        ctx = np.asarray(mb["ctx"], dtype=np.int64)
        prompt = np.asarray(mb["prompt"], dtype=np.int64)
        decoding = prompt == 0
        service_s, energy_j = 0.0, 0.0
        if decoding.any():
            service_s, detail = self.cost.decode_s(ctx[decoding])
            energy_j = detail["energy_j"]
        service_s += self.cost.prefill_s(prompt[~decoding])
        transfer_ps = self.link_ps + seconds_to_ps(len(mb["reqs"]) * self.p.activation_bytes_per_request
                                                   / self.p.link_bandwidth_bytes_per_s)
        return [mb, seconds_to_ps(service_s), transfer_ps, energy_j]

    def send_horizon_ps(self, pending):
        # Replay the FIFO: passes start when the stage frees up and their micro-batch is there,
        # and each forward leaves after its (known) service and transfer time.
        free_at = self.busy_until_ps if self.busy else self.now_ps
        arrivals = [(self.now_ps, entry) for entry in self.queue]
        for ev in sorted(pending):
            if ev.kind == "mb":
                key = (ev.src, ev.seq)
                if key not in self._price_cache:
                    self._price_cache[key] = self._priced(unpack_payload(ev.payload))
                arrivals.append((ev.time_ps, self._price_cache[key]))
        earliest = NEVER
        for ready_ps, (_, service_ps, transfer_ps, _) in arrivals:
            start = max(free_at, ready_ps)
            earliest = min(earliest, start + service_ps + transfer_ps)
            free_at = start + service_ps
        return earliest

    def result(self):
        return {"busy_ps": self.busy_ps, "passes": self.passes, "energy_j": self.energy_j, **self._timeline_result()}

    def metrics(self):
        return {"busy_seconds_total": self.busy_ps * 1e-12, "passes_total": self.passes}
