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

import numpy as np

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.codec import unpack_payload
from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.hardware.systems.stage_costs import StageCost

NEVER = 2**62   # send horizon when no pass is queued or pending: nothing to send
MICROBATCH = {"mb": int, "reqs": list, "ctx": list, "prompt": list, "sent_ps": int}


class LlmStage(Actor):
    accepts = {"mb": MICROBATCH, "free": {}}

    def __init__(self, name, seed, next_actor: str, cost: dict, link_latency_s: float,
                 link_bandwidth_bytes_per_s: float, activation_bytes_per_request: int):
        super().__init__(name, seed)
        self.next_actor = next_actor
        self.peer_names = frozenset([next_actor])   # the next stage, or the host after the last
        self.cost = StageCost(**cost)
        self.link_ps = seconds_to_ps(link_latency_s)
        self.link_bw = link_bandwidth_bytes_per_s
        self.act_bytes = activation_bytes_per_request
        # 1% below the cheapest pass: a safe lower bound on any send delay.
        self.lookahead_ps = max(1, math.floor(seconds_to_ps(self.cost.min_pass_s()) * 0.99)) + self.link_ps
        self.queue: list[dict] = []
        self.busy = False
        self.busy_until_ps = 0
        self._price_cache: dict = {}   # (src, seq) -> priced pass, filled by send_horizon_ps
        self.busy_ps = 0
        self.passes = 0
        self.energy_j = 0.0

    def handle(self, event, payload):
        if event.kind == "mb":
            self.queue.append(self._priced(payload, (event.src, event.seq)))
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
        return [self.send(self.next_actor, "mb", mb, service_ps + transfer_ps),
                self.send(self.name, "free", {}, service_ps)]

    def _priced(self, mb, key=None) -> list:
        """[micro-batch, service ps, transfer ps, energy J]: a pass's cost is known on arrival."""
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
        transfer_ps = self.link_ps + seconds_to_ps(len(mb["reqs"]) * self.act_bytes / self.link_bw)
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
        return {"busy_ps": self.busy_ps, "passes": self.passes, "energy_j": self.energy_j}

    def metrics(self):
        return {"busy_seconds_total": self.busy_ps * 1e-12, "passes_total": self.passes}

    def state(self):
        return {"queue": self.queue, "busy": self.busy, "busy_until": self.busy_until_ps, "busy_ps": self.busy_ps,
                "passes": self.passes, "energy_j": self.energy_j}

    def load_state(self, s):
        self.queue, self.busy, self.busy_ps = [list(q) for q in s["queue"]], s["busy"], s["busy_ps"]
        self.busy_until_ps = s["busy_until"]
        self.passes, self.energy_j = s["passes"], s["energy_j"]
