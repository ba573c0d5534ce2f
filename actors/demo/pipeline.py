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

from dataclasses import dataclass, field

from lolpim.actors.kernel.actor import Actor
from lolpim.actors.kernel.events import Event, seconds_to_ps
from lolpim.actors.kernel.messages import Empty, message
from lolpim.actors.kernel.system import ActorSpec, SystemSpec, frozen_params


@message
class Work:
    mb: int = field(metadata={"min": 0})
    round: int = field(metadata={"min": 0})
    sent_ps: int = field(metadata={"min": 0})


class Source(Actor):
    accepts = {"work": Work}
    state_fields = ("round_latencies_ps", "completed", "finish_ps")

    @frozen_params
    class Params:
        first_stage: str
        microbatches: int
        rounds: int
        link_ps: int

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.link_ps

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.lookahead_ps = params.link_ps
        self.round_latencies_ps: list[int] = []
        self.completed = 0
        self.finish_ps = 0

    def start(self) -> list[Event]:
        return [self.send(self.p.first_stage, "work", Work(mb=m, round=0, sent_ps=0), self.lookahead_ps)
                for m in range(self.p.microbatches)]

    def handle(self, event, payload: Work):
        # a forged message must not make the Source loop or send round past its rounds
        if payload.mb >= self.p.microbatches:
            self.reject(event, "mb", f"is {payload.mb}; this source has {self.p.microbatches} micro-batches")
        if payload.round >= self.p.rounds:
            self.reject(event, "round", f"is {payload.round}; this source runs {self.p.rounds} rounds")
        if payload.sent_ps > self.now_ps:
            self.reject(event, "sent_ps", f"is {payload.sent_ps}, after the arrival time {self.now_ps}")
        # work arriving here has been through every stage: one round done
        self.round_latencies_ps.append(self.now_ps - payload.sent_ps)
        self.completed += 1
        self.finish_ps = self.now_ps
        nxt = payload.round + 1
        if nxt >= self.p.rounds:
            return []
        return [self.send(self.p.first_stage, "work", Work(mb=payload.mb, round=nxt, sent_ps=self.now_ps),
                          self.lookahead_ps)]

    def result(self):
        lat = self.round_latencies_ps
        return {"completed_rounds": self.completed, "makespan_ps": self.finish_ps,
                "mean_round_latency_ps": sum(lat) // len(lat) if lat else 0,
                "max_round_latency_ps": max(lat) if lat else 0}


class Stage(Actor):
    accepts = {"work": Work, "done": Empty}
    timers = frozenset({"done"})
    # queue: (mb, round, sent_ps) of each waiting micro-batch, the head in service when busy
    state_fields = ("queue", "busy", "busy_ps", "served")

    @frozen_params
    class Params:
        next_actor: str
        service_ps: int
        link_ps: int
        jitter: float = 0.0

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.link_ps

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.lookahead_ps = params.link_ps
        self.queue: list[tuple] = []
        self.busy = False
        self.busy_ps = 0
        self.served = 0

    def handle(self, event, payload):
        out = []
        if event.kind == "work":
            self.queue.append((payload.mb, payload.round, payload.sent_ps))
        else:  # service finished: pass the head of the queue on
            # 'done' is this stage's own timer; a forged one (issue 14) popped an empty queue
            if event.src != self.name:
                self.reject(event, "src", f"is '{event.src}'; only this stage times its own service")
            if not self.busy or not self.queue:
                self.reject(event, "kind", "arrived with nothing in service")
            mb, rnd, sent = self.queue.pop(0)
            self.busy = False
            self.served += 1
            out.append(self.send(self.p.next_actor, "work", Work(mb=mb, round=rnd, sent_ps=sent), self.lookahead_ps))
        if not self.busy and self.queue:
            service = self.p.service_ps
            if self.p.jitter:
                service = int(service * (1.0 + self.p.jitter * (2.0 * self.rng.random() - 1.0)))
            self.busy = True
            self.busy_ps += service
            out.append(self.send(self.name, "done", Empty(), service))
        return out

    def result(self):
        return {"served": self.served, "busy_ps": self.busy_ps}

    def metrics(self):
        return {"served": self.served, "busy_ps": self.busy_ps}


@dataclass(frozen=True)
class PipelineShape:
    service_ps: tuple[int, ...]   # one per stage
    link_ps: int
    microbatches: int
    rounds: int
    jitter: float = 0.0

    @classmethod
    def from_seconds(cls, stages: int, stage_service_s: float, service_skew: float, link_latency_s: float,
                     microbatches: int, rounds: int, jitter: float = 0.0) -> PipelineShape:
        """Service time of stage i = stage_service_s * (1 + service_skew * i / (stages - 1)): skew 0 = uniform."""
        service = tuple(seconds_to_ps(stage_service_s * (1 + service_skew * i / max(1, stages - 1)))
                        for i in range(stages))
        return cls(service, seconds_to_ps(link_latency_s), microbatches, rounds, jitter)

    def system(self, seed: int = 0) -> SystemSpec:
        n = len(self.service_ps)
        names = [f"stage{i:03d}" for i in range(n)]
        actors = [ActorSpec("source", Source, Source.Params(first_stage=names[0], microbatches=self.microbatches,
                                                            rounds=self.rounds, link_ps=self.link_ps))]
        for i, name in enumerate(names):
            actors.append(ActorSpec(name, Stage, Stage.Params(
                next_actor=names[i + 1] if i + 1 < n else "source", service_ps=self.service_ps[i],
                link_ps=self.link_ps, jitter=self.jitter)))
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
