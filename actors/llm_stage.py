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

from .actor import Actor
from .events import seconds_to_ps
from .stage_costs import StageCost

MICROBATCH = {"mb": int, "reqs": list, "ctx": list, "prompt": list, "sent_ps": int}


class LlmStage(Actor):
    accepts = {"mb": MICROBATCH, "free": {}}

    def __init__(self, name, seed, next_actor: str, cost: dict, link_latency_s: float,
                 link_bandwidth_bytes_per_s: float, activation_bytes_per_request: int):
        super().__init__(name, seed)
        self.next_actor = next_actor
        self.cost = StageCost(**cost)
        self.link_ps = seconds_to_ps(link_latency_s)
        self.link_bw = link_bandwidth_bytes_per_s
        self.act_bytes = activation_bytes_per_request
        # 1% below the cheapest pass: a safe lower bound on any send delay.
        self.lookahead_ps = max(1, math.floor(seconds_to_ps(self.cost.min_pass_s()) * 0.99)) + self.link_ps
        self.queue: list[dict] = []
        self.busy = False
        self.busy_ps = 0
        self.passes = 0
        self.energy_j = 0.0

    def handle(self, event, payload):
        if event.kind == "mb":
            self.queue.append(payload)
        else:
            self.busy = False
        if self.busy or not self.queue:
            return []
        mb = self.queue.pop(0)
        ctx = np.asarray(mb["ctx"], dtype=np.int64)
        prompt = np.asarray(mb["prompt"], dtype=np.int64)
        decoding = prompt == 0
        service_s = 0.0
        if decoding.any():
            t, detail = self.cost.decode_s(ctx[decoding])
            service_s += t
            self.energy_j += detail["energy_j"]
        service_s += self.cost.prefill_s(prompt[~decoding])
        service_ps = seconds_to_ps(service_s)
        transfer_ps = self.link_ps + seconds_to_ps(len(mb["reqs"]) * self.act_bytes / self.link_bw)
        self.busy = True
        self.busy_ps += service_ps
        self.passes += 1
        return [self.send(self.next_actor, "mb", mb, service_ps + transfer_ps),
                self.send(self.name, "free", {}, service_ps)]

    def result(self):
        return {"busy_ps": self.busy_ps, "passes": self.passes, "energy_j": self.energy_j}

    def metrics(self):
        return {"busy_seconds_total": self.busy_ps * 1e-12, "passes_total": self.passes}

    def state(self):
        return {"queue": self.queue, "busy": self.busy, "busy_ps": self.busy_ps, "passes": self.passes,
                "energy_j": self.energy_j}

    def load_state(self, s):
        self.queue, self.busy, self.busy_ps = list(s["queue"]), s["busy"], s["busy_ps"]
        self.passes, self.energy_j = s["passes"], s["energy_j"]
