"""The one event loop both executors run, and the Ray coordinator's safe-window rule.

``EventLoop`` holds a group of actors and a heap of their pending events and delivers
them in (time_ps, dst, src, seq) order: the inline executor runs one loop over the whole
system; each Ray process runs one over the actors it hosts, a window at a time. Because
both go through this code, they cannot drift apart in ordering, checks or tracing.

``plan_window`` is the coordinator's conservative rule as a pure function (tested
without Ray, tests/kernel/test_kernel_loop.py).
"""
from __future__ import annotations

import heapq

from lolpim.actors.kernel.actor import actor_metrics, deliver, trace_entry
from lolpim.actors.kernel.codec import DEFAULT_MAX_PAYLOAD_BYTES, MessageError


class EventLoop:
    """``remote_ok``: events to actors not held here are returned for the caller to route (Ray
    host); when False every actor of the system is here, so such an event names no actor."""

    def __init__(self, actors: dict, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 record_trace: bool = False, remote_ok: bool = False):
        self.actors = actors
        self.queue: list = []
        self.max_payload_bytes = max_payload_bytes
        self.trace: list | None = [] if record_trace else None
        self.remote_ok = remote_ok
        self.processed = 0
        self.last_ps = 0

    def start(self) -> list:
        """Every actor's start events; returns those for actors elsewhere."""
        out = []
        for actor in self.actors.values():
            out.extend(self.route(actor.start()))
        return out

    def route(self, events) -> list:
        """Queue the events for actors here; return the rest (or refuse them, when nothing is elsewhere)."""
        remote = []
        for ev in events:
            if ev.dst in self.actors:
                heapq.heappush(self.queue, ev)
            elif self.remote_ok:
                remote.append(ev)
            else:
                raise MessageError(ev.dst, ev.kind, "dst", f"names no actor in this system (sent by '{ev.src}')")
        return remote

    def push_inbound(self, events, label: str) -> None:
        """Events another process sent to actors here (each must be hosted here)."""
        for ev in events:
            if ev.dst not in self.actors:
                raise MessageError(ev.dst, ev.kind, "dst", f"is not hosted by process '{label}'")
            heapq.heappush(self.queue, ev)

    def run(self, stop_before_ps: int | None = None, hooks=()) -> list:
        """Deliver every queued event earlier than ``stop_before_ps`` (None: all), including those
        the deliveries queue here. ``hooks``: (every, fn) pairs; fn(last_ps, processed) runs after
        every ``every``-th event. Returns the events sent to actors elsewhere."""
        queue, actors, limit, trace = self.queue, self.actors, self.max_payload_bytes, self.trace
        pop, push, remote_ok = heapq.heappop, heapq.heappush, self.remote_ok
        out: list = []
        processed, last = self.processed, self.last_ps
        try:
            while queue and (stop_before_ps is None or queue[0][0] < stop_before_ps):
                ev = pop(queue)
                for sent in deliver(actors[ev.dst], ev, limit):
                    if sent.dst in actors:
                        push(queue, sent)
                    elif remote_ok:
                        out.append(sent)
                    else:
                        self.route([sent])   # raises: names no actor
                if trace is not None:
                    trace.append(trace_entry(ev))
                processed += 1
                last = ev.time_ps
                for every, fn in hooks:
                    if processed % every == 0:
                        fn(last, processed)
        finally:
            self.processed, self.last_ps = processed, last
        return out

    def metrics(self) -> dict:
        return {name: actor_metrics(a) for name, a in self.actors.items()}

    def pending(self) -> tuple[dict, dict]:
        """(wake, bound): per actor with queued events, the earliest of them, and the earliest time
        it could send to another actor given them (Actor.send_horizon_ps)."""
        per_actor: dict[str, list] = {}
        for ev in self.queue:
            per_actor.setdefault(ev.dst, []).append(ev)
        wake = {name: min(ev.time_ps for ev in evs) for name, evs in per_actor.items()}
        bound = {name: self.actors[name].send_horizon_ps(evs) for name, evs in per_actor.items()}
        return wake, bound


def window_summary(wake: dict, bound: dict, in_flight, lookahead: dict, local_only=frozenset()) -> tuple | None:
    """What the coordinator needs to know of a group of actors to plan windows, in three numbers:
    (earliest pending event, latest of the actors' earliest events, earliest possible send to
    another process or None), or None when nothing is pending. A Ray process sends one for its
    own queue and one per receiving process for the events it sent there (in flight), so the
    coordinator's traffic per window does not grow with the events or the actors.

    wake / bound: per actor, its earliest queued event and the earliest time it could send to
    another process; in_flight: (dst, time_ps) of events sent but not yet delivered, each of which
    may make its receiver send one lookahead later; local_only: actors whose sends never leave
    their process (they bound nothing)."""
    pending, bounds = dict(wake), dict(bound)
    for dst, t in in_flight:
        if dst not in pending or t < pending[dst]:
            pending[dst] = t
        b = t + lookahead[dst]
        if dst not in bounds or b < bounds[dst]:
            bounds[dst] = b
    for name in local_only:
        bounds.pop(name, None)
    if not pending:
        return None
    return (min(pending.values()), max(pending.values()), min(bounds.values()) if bounds else None)


def merge_summaries(summaries) -> tuple | None:
    """One summary for the union of the groups the given summaries (None: nothing pending) describe."""
    out = None
    for s in summaries:
        if s is None:
            continue
        if out is None:
            out = tuple(s)
            continue
        b = s[2] if out[2] is None else out[2] if s[2] is None else min(s[2], out[2])
        out = (min(out[0], s[0]), max(out[1], s[1]), b)
    return out


def next_window(summary: tuple | None, max_window_ps: int | None = None,
                until_ps: int | None = None) -> tuple[int, int] | None:
    """The next safe window [t_min, w_end) given the whole system's summary, or None when the run is over.
    No event sent inside the window can land inside it, so processes advance independently."""
    if summary is None:
        return None
    t_min, latest, bound = summary
    if until_ps is not None and t_min > until_ps:
        return None
    if bound is not None:
        w_end = bound
    elif max_window_ps is not None:
        w_end = t_min + max_window_ps
    else:                  # nothing can cross processes: up to the latest pending actor
        w_end = latest + 1
    if max_window_ps is not None:
        w_end = min(w_end, t_min + max_window_ps)
    if until_ps is not None:
        w_end = min(w_end, until_ps + 1)
    return t_min, w_end


def plan_window(wake: dict, bound: dict, in_flight, lookahead: dict, local_only=frozenset(),
                max_window_ps: int | None = None, until_ps: int | None = None) -> tuple[int, int] | None:
    """The next safe window [t_min, w_end) of a conservative parallel run from per-actor figures
    (window_summary's arguments), or None when the run is over."""
    return next_window(window_summary(wake, bound, in_flight, lookahead, local_only), max_window_ps, until_ps)


def local_only_actors(owner: dict, peers: dict) -> set:
    """The actors that do not bound the windows: every actor reachable from one through the
    declared peers (what it sends can make them send) declares its peers and lives in its
    process. Direct peers are not enough: an event passed on inside the process within a window
    could make a peer send across processes before that peer's own bound.
    owner: actor -> process index; peers: actor -> declared peer names (None: any)."""
    closed: set = set()
    for name in owner:
        if name in closed:
            continue
        home, seen, stack, ok = owner[name], {name}, [name], True
        while stack and ok:
            declared = peers[stack.pop()]
            if declared is None:
                ok = False
                break
            for p in declared:
                if owner.get(p) != home:
                    ok = False
                    break
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        if ok:
            closed |= seen   # whatever a closed actor reaches is closed too
    return closed
