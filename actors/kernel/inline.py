"""The inline executor: one process, one priority queue.

Events pop in (time_ps, dst, src, seq) order. Because every cross-actor event is sent
at least one lookahead ahead, all events an actor will ever receive at time t are
queued before the first of them pops, so each actor sees exactly the delivery order
(time_ps, src, seq) that the Ray executor gives it.
"""
from __future__ import annotations

import heapq
import time

from lolpim.actors.kernel.actor import deliver
from lolpim.actors.kernel.codec import DEFAULT_MAX_PAYLOAD_BYTES, pack_payload, unpack_payload
from lolpim.actors.kernel.loop import EventLoop
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
        loop = EventLoop({spec.name: spec.build(system.seed) for spec in system.actors},
                         self.max_payload_bytes, self.record_trace, remote_ok=False)
        loop.start()
        hooks = []
        if self.progress is not None:
            hooks.append((self.progress_every_events, self.progress))
        if self.on_metrics is not None:
            hooks.append((self.metrics_every_events, lambda last, _n: self.on_metrics(last, loop.metrics())))
        loop.run(None if system.until_ps is None else system.until_ps + 1, hooks)
        if self.on_metrics is not None:
            self.on_metrics(loop.last_ps, loop.metrics())
        trace = loop.trace
        if trace is not None:
            trace.sort()
        wall = time.perf_counter() - wall0
        # Results go through msgpack as they do on Ray, so both report identical types.
        results = unpack_payload(pack_payload({n: a.result() for n, a in sorted(loop.actors.items())}))
        return RunResult(results=results,
                         end_time_ps=loop.last_ps, events=loop.processed, trace=trace,
                         stats={"executor": self.name, "wall_s": wall})


def deliver_in_order(actors: dict, events: int, keep=None) -> list:
    """Start the built ``actors`` ({name: actor}) and deliver up to ``events`` of their events in
    time order, one at a time and without windows: actors in mid-run, for tests and benchmarks
    that poke one actor with a message of their own. ``keep(event)`` drops an outgoing event when
    false (e.g. one addressed to an actor left out). Returns the events still queued."""
    queue = [ev for a in actors.values() for ev in a.start()]
    heapq.heapify(queue)
    for _ in range(events):
        if not queue:
            break
        ev = heapq.heappop(queue)
        for out in deliver(actors[ev.dst], ev):
            if keep is None or keep(out):
                heapq.heappush(queue, out)
    return queue
