"""The inline executor: one process, one priority queue.

Events pop in (time_ps, dst, src, seq) order. Because every cross-actor event is sent
at least one lookahead ahead, all events an actor will ever receive at time t are
queued before the first of them pops, so each actor sees exactly the delivery order
(time_ps, src, seq) that the Ray executor gives it.
"""
from __future__ import annotations

import heapq
import time

from lolpim.actors.kernel.actor import actor_metrics, deliver, trace_entry
from lolpim.actors.kernel.codec import DEFAULT_MAX_PAYLOAD_BYTES, pack_payload, unpack_payload
from lolpim.actors.kernel.system import RunResult, SystemSpec


class InlineExecutor:
    name = "inline"

    def __init__(self, record_trace: bool = False, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 progress=None, progress_every_events: int = 20000, on_metrics=None,
                 metrics_every_events: int = 20000):
        self.record_trace = record_trace
        self.max_payload_bytes = max_payload_bytes
        self.progress = progress
        self.progress_every_events = progress_every_events
        # on_metrics(sim_time_ps, {actor: {metric: value}}): every metrics_every_events
        # events and once at the end (the inline counterpart of the Ray executor's windows)
        self.on_metrics = on_metrics
        self.metrics_every_events = max(1, metrics_every_events)

    def run(self, system: SystemSpec) -> RunResult:
        wall0 = time.perf_counter()
        actors = {spec.name: spec.build(system.seed) for spec in system.actors}
        queue: list = []
        for actor in actors.values():
            for ev in actor.start():
                _check_dst(ev, actors)
                heapq.heappush(queue, ev)
        until = system.until_ps
        trace = [] if self.record_trace else None
        processed, last_time = 0, 0
        limit = self.max_payload_bytes
        pop, push = heapq.heappop, heapq.heappush
        while queue:
            if until is not None and queue[0][0] > until:
                break
            ev = pop(queue)
            actor = actors.get(ev.dst)
            if actor is None:
                _check_dst(ev, actors)
            for out in deliver(actor, ev, limit):
                if out.dst not in actors:
                    _check_dst(out, actors)
                push(queue, out)
            if trace is not None:
                trace.append(trace_entry(ev))
            processed += 1
            last_time = ev.time_ps
            if self.progress is not None and processed % self.progress_every_events == 0:
                self.progress(last_time, processed)
            if self.on_metrics is not None and processed % self.metrics_every_events == 0:
                self.on_metrics(last_time, {n: actor_metrics(a) for n, a in actors.items()})
        if self.on_metrics is not None:
            self.on_metrics(last_time, {n: actor_metrics(a) for n, a in actors.items()})
        if trace is not None:
            trace.sort()
        wall = time.perf_counter() - wall0
        # Results go through msgpack as they do on Ray, so both report identical types.
        results = unpack_payload(pack_payload({n: a.result() for n, a in sorted(actors.items())}))
        return RunResult(results=results,
                         end_time_ps=last_time, events=processed, trace=trace,
                         stats={"executor": self.name, "wall_s": wall})


def _check_dst(ev, actors) -> None:
    from lolpim.actors.kernel.codec import MessageError
    if ev.dst not in actors:
        raise MessageError(ev.dst, ev.kind, "dst", f"names no actor in this system (sent by '{ev.src}')")
