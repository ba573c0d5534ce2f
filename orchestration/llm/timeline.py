"""`lolpim run --timeline PATH`: turn on the LLM actors' recording, collect what they recorded
and write it as one Chrome/Perfetto trace (orchestration/timeline.py), a process per system.

Recording is a field of each actor's Params (``timeline_max_events``, 0 by default), set here
on the built specs, so the builders stay as they are and a run without --timeline builds
exactly the actors it built before. The run's event cap is split over every actor of every
system (each actor knows only its own share: on Ray they live in different processes), in
proportion to the class's ``timeline_weight`` (what it records per micro-batch round, roughly:
a stage two events a pass, the DPAs and the host far fewer); when any actor of a system spends
its share, that system's trace is cut where the first one stopped, so every track of it covers
the same simulated time.
"""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from lolpim.actors.kernel.system import SystemSpec
from lolpim.actors.llm.recording import LAYOUT, WIDTH, Rec, records
from lolpim.core.errors import UserError
from lolpim.orchestration.llm.result_types import ActorRoles
from lolpim.orchestration.timeline import (PS_PER_US, counter_event, instant_event, metadata_events, span_event,
                                           write_trace)

DEFAULT_MAX_EVENTS = 2_000_000
FIELD = "timeline_max_events"


def _records(actor) -> bool:
    return actor.params is not None and FIELD in {f.name for f in fields(actor.params)}


def with_timeline(spec: SystemSpec, events_per_weight: int) -> SystemSpec:
    """``spec`` with every actor that can record given a budget of ``events_per_weight`` times
    its class's ``timeline_weight``."""
    # a class whose Params has the field is a Recording actor, which declares timeline_weight
    actors = tuple(replace(a, params=replace(a.params, **{FIELD: events_per_weight
                                                           * a.cls.timeline_weight}))  # type: ignore[attr-defined]
                   if _records(a) else a for a in spec.actors)
    return replace(spec, actors=actors)


def display_order(roles: ActorRoles) -> tuple[str, ...]:
    """The host, then the stages in pipeline order (each followed by its link), then the DPAs."""
    return (roles.host, *roles.stages, *roles.kv_managers)


def system_events(process: str, pid: int, kind: str, results: dict, order: tuple[str, ...] = ()):
    """The trace events of one simulated system from its actors' results (a generator, so a
    capped run's millions of events are formatted as they are written), and what was recorded:
    events, and where the trace was cut when the cap was reached. Tracks follow ``order``
    (display_order), other actors after them by name."""
    recorded = {name: r["timeline"] for name, r in results.items() if isinstance(r, dict) and "timeline" in r}
    cuts = [t["truncated_ps"] for t in recorded.values() if t["truncated_ps"] >= 0]
    cut = min(cuts) if cuts else None
    tracks: list[str] = []
    blocks = []
    rank = {name: i for i, name in enumerate(order)}
    for name in sorted(recorded, key=lambda n: (rank.get(n, len(rank)), n)):
        rows = records(recorded[name])
        if cut is not None:
            rows = rows[rows[:, 1] < cut]
        base = name.removeprefix(f"{kind}.")
        tid = np.zeros(len(rows), dtype=np.int64)
        codes = rows[:, 0]
        for suffix in dict.fromkeys(LAYOUT[Rec(c)][2] for c in np.unique(codes).tolist()):
            tracks.append(base + suffix)
            tid[np.isin(codes, [c for c, v in LAYOUT.items() if v[2] == suffix])] = len(tracks)
        blocks.append(np.column_stack([tid, rows]))
    table = np.concatenate(blocks) if blocks else np.zeros((0, 1 + WIDTH), dtype=np.int64)
    # in time order; stable, so what happened at one instant stays in the order it was recorded
    table = table[np.argsort(table[:, 2], kind="stable")]
    layout = {int(c): v for c, v in LAYOUT.items()}
    dropped = sum(t["dropped"] for t in recorded.values())

    def events():
        yield from metadata_events(process, pid, tracks)
        for lo in range(0, len(table), 65_536):   # as Python ints a slice at a time
            for tid, code, t0, t1, *values in table[lo:lo + 65_536].tolist():
                phase, label, _, names = layout[code]
                args = {k: v for k, v in zip(names, values) if k is not None}
                if phase == "X":
                    yield span_event(pid, tid, label, t0, t1, args)
                elif phase == "i":
                    yield instant_event(pid, tid, label, t0, args)
                else:
                    yield counter_event(pid, tid, tracks[tid - 1], t0, args)
        if cut is not None:   # on the first track (the host): where this system's trace ends
            yield instant_event(pid, 1, "timeline cap reached: nothing recorded from here on", cut,
                                {"dropped_records": dropped})

    info = {"events": len(table), "cut_at_ms": None if cut is None else cut / PS_PER_US / 1e3}
    return events(), info


class TimelineCollector:
    """Passed to run_systems: ``prepare`` turns recording on in the built systems, ``collect``
    keeps each finished run's records (called from the lane threads on Ray: one dict entry
    each), ``write`` writes the trace and returns the warnings to print."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS):
        if max_events < 1:
            raise UserError(f"--timeline-max-events {max_events}: allowed 1 or more")
        self.max_events = max_events
        self.per_weight = 0
        self.kinds: list[str] = []
        self.results: dict[str, dict] = {}
        self.orders: dict[str, tuple[str, ...]] = {}

    def prepare(self, built: list) -> list:
        weights = sum(a.cls.timeline_weight for b in built for a in b.spec.actors if _records(a))
        self.per_weight = max(1, self.max_events // max(weights, 1))
        self.kinds = [str(b.kind) for b in built]
        return [replace(b, spec=with_timeline(b.spec, self.per_weight)) for b in built]

    def collect(self, built, run) -> None:
        self.results[str(built.kind)] = {n: r for n, r in run.results.items() if "timeline" in r}
        self.orders[str(built.kind)] = display_order(ActorRoles.of(built.spec))

    def write(self, path: Path) -> list[str]:
        systems, info = [], {}
        for pid, kind in enumerate(self.kinds, start=1):
            if kind not in self.results:   # interrupted before it finished
                continue
            events, info[kind] = system_events(kind, pid, kind, self.results[kind], self.orders[kind])
            systems.append(events)
        cut = {k: v["cut_at_ms"] for k, v in info.items() if v["cut_at_ms"] is not None}
        other = {"generator": "lolpim run --timeline", "time": "simulated time (ts and dur in microseconds)",
                 "max_events": self.max_events, "max_events_per_weight": self.per_weight,
                 "events": {k: v["events"] for k, v in info.items()},
                 "truncated": bool(cut), "truncated_at_ms": cut}
        write_trace(path, systems, other)
        if not cut:
            return []
        where = ", ".join(f"{k} after {v:.3f} ms" for k, v in cut.items())
        return [f"timeline capped at {self.max_events} events: recording stopped for "
                f"{where} of simulated time; raise --timeline-max-events for more"]
