"""A closed-loop pipeline built only from the kernel: the foundation's demo system.

A Source keeps M micro-batches in flight; each passes through P Stage actors in order
(FIFO queue, one at a time, a configurable service time), crossing a link of latency l
between neighbours, and returns to the Source, which sends it round again until it has
done R rounds. This is the message pattern of pipeline-parallel LLM decoding (a token
must return before the next one of the same sequence starts), without any hardware.

Analytic check (deterministic service): the round-trip C = sum(s) + (P + 1) l; steady
throughput is min(M / C, 1 / max(s)) micro-batch rounds per second, and for uniform
stages the makespan is exactly max(R C + (M - 1) s, C + (R M - 1) s).
"""
from __future__ import annotations

from dataclasses import dataclass

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.system import ActorSpec, SystemSpec

_WORK = {"mb": int, "round": int, "sent_ps": int}


class Source(Actor):
    accepts = {"work": _WORK}

    def __init__(self, name, seed, first_stage: str, microbatches: int, rounds: int, link_ps: int):
        super().__init__(name, seed)
        self.first_stage = first_stage
        self.microbatches = microbatches
        self.rounds = rounds
        self.lookahead_ps = link_ps
        self.round_latencies_ps: list[int] = []
        self.completed = 0
        self.finish_ps = 0

    def start(self) -> list[Event]:
        return [self.send(self.first_stage, "work", {"mb": m, "round": 0, "sent_ps": 0}, self.lookahead_ps)
                for m in range(self.microbatches)]

    def handle(self, event, payload):
        # work arriving here has been through every stage: one round done
        self.round_latencies_ps.append(self.now_ps - payload["sent_ps"])
        self.completed += 1
        self.finish_ps = self.now_ps
        nxt = payload["round"] + 1
        if nxt >= self.rounds:
            return []
        return [self.send(self.first_stage, "work", {"mb": payload["mb"], "round": nxt, "sent_ps": self.now_ps},
                          self.lookahead_ps)]

    def result(self):
        lat = self.round_latencies_ps
        return {"completed_rounds": self.completed, "makespan_ps": self.finish_ps,
                "mean_round_latency_ps": sum(lat) // len(lat) if lat else 0,
                "max_round_latency_ps": max(lat) if lat else 0}

    def state(self):
        return {"lat": self.round_latencies_ps, "completed": self.completed, "finish": self.finish_ps}

    def load_state(self, s):
        self.round_latencies_ps, self.completed, self.finish_ps = list(s["lat"]), s["completed"], s["finish"]


class Stage(Actor):
    accepts = {"work": _WORK, "done": {}}

    def __init__(self, name, seed, next_actor: str, service_ps: int, link_ps: int, jitter: float = 0.0):
        super().__init__(name, seed)
        self.next_actor = next_actor
        self.service_ps = service_ps
        self.jitter = jitter
        self.lookahead_ps = link_ps
        self.queue: list[dict] = []
        self.busy = False
        self.busy_ps = 0
        self.served = 0

    def handle(self, event, payload):
        out = []
        if event.kind == "work":
            self.queue.append(payload)
        else:  # service finished: pass the head of the queue on
            done = self.queue.pop(0)
            self.busy = False
            self.served += 1
            out.append(self.send(self.next_actor, "work", done, self.lookahead_ps))
        if not self.busy and self.queue:
            service = self.service_ps
            if self.jitter:
                service = int(service * (1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)))
            self.busy = True
            self.busy_ps += service
            out.append(self.send(self.name, "done", {}, service))
        return out

    def result(self):
        return {"served": self.served, "busy_ps": self.busy_ps}

    def metrics(self):
        return {"served": self.served, "busy_ps": self.busy_ps}

    def state(self):
        return {"queue": self.queue, "busy": self.busy, "busy_ps": self.busy_ps, "served": self.served}

    def load_state(self, s):
        self.queue, self.busy, self.busy_ps, self.served = list(s["queue"]), s["busy"], s["busy_ps"], s["served"]


@dataclass(frozen=True)
class PipelineShape:
    service_ps: tuple[int, ...]   # one per stage
    link_ps: int
    microbatches: int
    rounds: int
    jitter: float = 0.0

    def system(self, seed: int = 0) -> SystemSpec:
        n = len(self.service_ps)
        names = [f"stage{i:03d}" for i in range(n)]
        mod = __name__
        actors = [ActorSpec("source", f"{mod}:Source", {"first_stage": names[0], "microbatches": self.microbatches,
                                                       "rounds": self.rounds, "link_ps": self.link_ps})]
        for i, name in enumerate(names):
            actors.append(ActorSpec(name, f"{mod}:Stage", {
                "next_actor": names[i + 1] if i + 1 < n else "source", "service_ps": self.service_ps[i],
                "link_ps": self.link_ps, "jitter": self.jitter}))
        return SystemSpec(tuple(actors), seed=seed)

    # --- analytic formulas --------------------------------------------------------
    def round_trip_ps(self) -> int:
        return sum(self.service_ps) + (len(self.service_ps) + 1) * self.link_ps

    def throughput_rounds_per_s(self) -> float:
        return min(self.microbatches / self.round_trip_ps(), 1.0 / max(self.service_ps)) * 1e12

    def uniform_makespan_ps(self) -> int:
        s = self.service_ps[0]
        if any(x != s for x in self.service_ps):
            raise ValueError("the exact makespan formula holds for uniform stages only")
        c, m, r = self.round_trip_ps(), self.microbatches, self.rounds
        return max(r * c + (m - 1) * s, c + (r * m - 1) * s)
