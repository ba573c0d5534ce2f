"""Chrome / Perfetto trace files (`lolpim run --timeline out.json`): one track per actor.

Actors report what they did as spans (busy intervals) and instants (allocations, frees, queue
lengths) in their results; this module only turns them into the Trace Event Format that
chrome://tracing and ui.perfetto.dev load: a process per system, a thread per actor, "X"
(complete) events for spans, "i" (instant) events for instants and "C" (counter) events for
gauges. Times are simulated time, written in microseconds as the format expects.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

PS_PER_US = 1_000_000


@dataclass(frozen=True)
class Span:
    track: str            # the actor
    name: str             # what it did ("decode mb 3", "link", ...)
    start_ps: int
    end_ps: int
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Instant:
    track: str
    name: str
    time_ps: int
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Counter:
    track: str
    name: str             # the gauge ("kv_chunks_used", "queue")
    time_ps: int
    value: float


def trace_events(process: str, pid: int, spans=(), instants=(), counters=()) -> list[dict]:
    """The Trace Event Format events of one simulated system (process ``pid``)."""
    tracks = sorted({e.track for group in (spans, instants, counters) for e in group})
    tid = {name: i + 1 for i, name in enumerate(tracks)}
    events = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": process}}]
    events += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid[t], "args": {"name": t}} for t in tracks]
    for s in spans:
        if s.end_ps < s.start_ps:
            raise ValueError(f"span {s.name!r} on {s.track!r} ends before it starts")
        events.append({"ph": "X", "name": s.name, "pid": pid, "tid": tid[s.track], "ts": s.start_ps / PS_PER_US,
                       "dur": (s.end_ps - s.start_ps) / PS_PER_US, "args": s.args})
    events += [{"ph": "i", "s": "t", "name": i.name, "pid": pid, "tid": tid[i.track], "ts": i.time_ps / PS_PER_US,
                "args": i.args} for i in instants]
    events += [{"ph": "C", "name": c.name, "pid": pid, "tid": tid[c.track], "ts": c.time_ps / PS_PER_US,
                "args": {c.name: c.value}} for c in counters]
    return events


def write_trace(path: Path, systems: list[list[dict]]) -> Path:
    """Write the events of every system (``trace_events`` lists) as one trace file."""
    path = Path(path)
    events = [e for system in systems for e in system]
    path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}, allow_nan=False))
    return path
