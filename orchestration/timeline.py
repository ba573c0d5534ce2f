"""Chrome / Perfetto trace files (`lolpim run --timeline out.json`): one track per actor.

Actors report what they did as spans (busy intervals) and instants (allocations, frees, queue
lengths) in their results; this module only turns them into the Trace Event Format that
chrome://tracing and ui.perfetto.dev load: a process per system, a thread per actor, "X"
(complete) events for spans, "i" (instant) events for instants and "C" (counter) events for
gauges. Times are simulated time, written in microseconds as the format expects.
What the LLM actors record, and how it becomes these events: orchestration/llm/timeline.py.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lolpim.core.errors import UserError
from lolpim.orchestration.results import atomic_open

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
    """Gauges sampled at ``time_ps``: {series: value}, e.g. {"waiting": 3, "running": 8}. The
    event is named after its track, so each actor's gauges get their own counter track (a
    viewer keys counters by process and name: "host waiting", "dpa003 allocated chunks")."""
    track: str
    time_ps: int
    values: dict


def metadata_events(process: str, pid: int, tracks: list[str]) -> list[dict]:
    """Name process ``pid`` and its threads (tid = 1 + index in ``tracks``), shown in that order."""
    events = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": process}},
              {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}}]
    for tid, t in enumerate(tracks, start=1):
        events += [{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": t}},
                   {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}}]
    return events


def span_event(pid: int, tid: int, name: str, start_ps: int, end_ps: int, args: dict) -> dict:
    return {"ph": "X", "name": name, "pid": pid, "tid": tid, "ts": start_ps / PS_PER_US,
            "dur": (end_ps - start_ps) / PS_PER_US, "args": args}


def instant_event(pid: int, tid: int, name: str, time_ps: int, args: dict) -> dict:
    return {"ph": "i", "s": "t", "name": name, "pid": pid, "tid": tid, "ts": time_ps / PS_PER_US, "args": args}


def counter_event(pid: int, tid: int, track: str, time_ps: int, values: dict) -> dict:
    # named after the track: a viewer keys counter tracks by (process, name)
    return {"ph": "C", "name": track, "pid": pid, "tid": tid, "ts": time_ps / PS_PER_US, "args": dict(values)}


def trace_events(process: str, pid: int, spans=(), instants=(), counters=(), order=()) -> list[dict]:
    """The Trace Event Format events of one simulated system (process ``pid``). Tracks are
    numbered (and shown) in ``order``, then the others by name."""
    named = {e.track for group in (spans, instants, counters) for e in group}
    tracks = [t for t in order if t in named] + sorted(named - set(order))
    tid = {name: i + 1 for i, name in enumerate(tracks)}
    timed = []
    for s in spans:
        if s.end_ps < s.start_ps:
            raise ValueError(f"span {s.name!r} on {s.track!r} ends before it starts")
        timed.append(span_event(pid, tid[s.track], s.name, s.start_ps, s.end_ps, s.args))
    timed += [instant_event(pid, tid[i.track], i.name, i.time_ps, i.args) for i in instants]
    timed += [counter_event(pid, tid[c.track], c.track, c.time_ps, c.values) for c in counters]
    # in time order (stable: what happened at one instant stays in the order it was recorded),
    # so every track reads forward, as a viewer and a script walking the file expect
    timed.sort(key=lambda e: e["ts"])
    return metadata_events(process, pid, tracks) + timed


def write_trace(path: Path, systems, other_data: dict | None = None) -> Path:
    """Write the events of every system (``trace_events`` lists, or any iterables of events,
    consumed once) as one trace file; ``other_data`` is the format's free-form metadata (viewers
    show it as the trace's info). Written one event a line, so a capped run of millions of
    events never holds the whole text, nor (given generators) every event, in memory; streamed
    into a temporary file renamed over ``path`` at the end, so a full disk leaves the previous
    trace whole (results.atomic_open)."""
    path = Path(path)
    # one encoder: json.dumps makes one a call
    encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
    with atomic_open(path, "w") as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ')
        f.write(json.dumps(other_data or {}, allow_nan=False))
        f.write(', "traceEvents": [')
        first = True
        for system in systems:
            for e in system:
                f.write("\n" if first else ",\n")
                f.write(encode(e))
                first = False
        f.write("\n]}\n")
    return path


def check_trace_path(value, flag: str = "--timeline") -> Path:
    """Make sure the trace can be written at ``value`` before a run that may take hours: a file
    (not a folder) in an existing folder, writable. A file already there is left as it is (the
    trace replaces it by a rename at the end: a symbolic link there is replaced, never followed)."""
    path = Path(value)
    where = str(value)[:200]
    if not str(value) or path.is_dir() or str(value).endswith(("/", os.sep)):
        raise UserError(f"{flag} {where}: is a folder; give a file name for the trace, e.g. {flag} timeline.json")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {where}: folder {str(parent)[:200]} does not exist; create it first")
    if path.exists() and not path.is_symlink():
        if not path.is_file() or not os.access(path, os.W_OK):
            raise UserError(f"{flag} {where}: exists and cannot be overwritten; give another file name")
    try:   # a probe, gone at once: the trace is written beside its name, then renamed onto it
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {where}: cannot write the trace there ({exc.strerror or exc})") from None
    return path
