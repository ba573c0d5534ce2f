"""Timeline recording shared by the LLM actors (`lolpim run --timeline`): off unless the
builder gives an actor an event budget, and then bounded by it.

An actor appends fixed-width records of int64 to ``self.timeline`` (declared state, so a
snapshot carries it and a restored actor goes on recording where it stopped):

    [kind, t0_ps, t1_ps, a, b, c]

``kind`` is a ``Rec``; a span runs t0..t1, an instant or a counter sample is at t0 (t1 = t0);
a, b, c are the kind's arguments (``LAYOUT``). One record is one trace event, so the budget is
exactly the number of events the actor may add to the trace. Once it is spent the actor stops
recording for good and remembers when (``timeline_truncated_ps``) and how much it left out, so
the trace can say where it ends instead of silently thinning out.

The records live in a numpy array that doubles as it fills (48 bytes a record: a Python list
of ints took about three times that, and a capped run holds millions) and leave in result() as
little-endian int64 bytes, which msgpack carries as they are (on Ray the results cross
processes); ``records(result)`` reads them back. Nothing here prices or schedules anything;
with a budget of 0 the actors do exactly what they did before.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

WIDTH = 6
DTYPE = np.dtype("<i8")
FIRST_RECORDS = 1024   # the array's first size; it doubles up to the budget


class Rec(IntEnum):
    DECODE = 0          # stage: a pass of decoding requests only
    PREFILL = 1         # stage: a pass of prefilling requests only
    MIXED = 2           # stage: a pass with both
    LINK = 3            # stage: the pass's activations on the link to the next actor
    QUEUE = 4           # host: counter, waiting and running requests
    PREEMPT = 5         # host: requests preempted (no memory to grow)
    ADMIT_REFUSED = 6   # host: admissions some DPA refused
    GPU_PREFILL = 7     # host: one prompt prefilled on the attached GPU (and its KV shipped)
    ALLOC = 8           # DPA: chunks allocated in one plan round
    FREE = 9            # DPA: chunks freed
    REFUSED = 10        # DPA: admissions and growths refused for want of free chunks
    CHUNKS = 11         # DPA: counter, allocated chunks


# kind -> (phase, name, track suffix, names of a, b, c (None: unused)). Phases: "X" span,
# "i" instant, "C" counter; a counter's arguments are its series.
LAYOUT = {
    Rec.DECODE: ("X", "decode", "", ("mb", "requests", "prefill_requests")),
    Rec.PREFILL: ("X", "prefill", "", ("mb", "requests", "prefill_requests")),
    Rec.MIXED: ("X", "decode+prefill", "", ("mb", "requests", "prefill_requests")),
    Rec.LINK: ("X", "transfer", " link", ("mb", "requests", None)),
    Rec.QUEUE: ("C", "requests", "", ("waiting", "running", None)),
    Rec.PREEMPT: ("i", "preempt", "", ("mb", "requests", None)),
    Rec.ADMIT_REFUSED: ("i", "admission refused", "", ("mb", "requests", None)),
    Rec.GPU_PREFILL: ("X", "gpu prefill", " gpu prefill", ("mb", "request", "prompt_tokens")),
    Rec.ALLOC: ("i", "alloc", "", ("chunks", "admitted", "grown")),
    Rec.FREE: ("i", "free", "", ("chunks", "requests", None)),
    Rec.REFUSED: ("i", "refused", "", ("admissions", "growths", None)),
    Rec.CHUNKS: ("C", "kv", "", ("allocated chunks", None, None)),
}

STATE_FIELDS = ("timeline", "timeline_records", "timeline_dropped", "timeline_truncated_ps")


class Recording:
    """Mixin: ``_timeline_init(budget)`` in __init__, ``_rec(...)`` where something happens
    (callers test ``self.timeline_on`` first, so a run without a timeline pays one attribute
    read per event), ``_timeline_result()`` merged into result()."""

    # the share of a run's event cap this class gets, relative to the others: what it records
    # per micro-batch round, roughly (the main job records about 6,000 events per stage, 800
    # per DPA and 120 on the host for LoL-PIM; 10,500, 240 and 170 for CENT)
    timeline_weight = 1
    now_ps: int     # the Actor's clock (the class this is mixed into)

    def _timeline_init(self, max_events: int) -> None:
        self.timeline_on = max_events > 0        # fixed at build: not state
        self._timeline_cap = max_events
        self.timeline = np.zeros((0, WIDTH), dtype=DTYPE)
        self.timeline_records = 0                # rows of ``timeline`` in use
        self.timeline_dropped = 0                # records left out once the budget was spent
        self.timeline_truncated_ps = -1          # when the first was left out (-1: none)

    def _rec(self, kind: Rec, t0_ps: int, t1_ps: int, a: int = 0, b: int = 0, c: int = 0) -> None:
        n = self.timeline_records
        if self.timeline_dropped or n >= self._timeline_cap:
            if not self.timeline_dropped:   # the handling time: everything before it is recorded
                self.timeline_truncated_ps = int(self.now_ps)
            self.timeline_dropped += 1
            return
        if n == len(self.timeline):
            grown = np.zeros((min(self._timeline_cap, max(FIRST_RECORDS, 2 * n)), WIDTH), dtype=DTYPE)
            grown[:n] = self.timeline
            self.timeline = grown
        self.timeline[n] = (kind, t0_ps, t1_ps, a, b, c)
        self.timeline_records = n + 1

    def _timeline_result(self) -> dict:
        """Added to result() only when recording: a run without a timeline reports as before."""
        if not self.timeline_on:
            return {}
        return {"timeline": {"records": self.timeline[:self.timeline_records].tobytes(),
                             "dropped": self.timeline_dropped, "truncated_ps": self.timeline_truncated_ps}}


def records(timeline: dict) -> np.ndarray:
    """The (n, WIDTH) int64 records of an actor's ``result()["timeline"]``."""
    return np.frombuffer(timeline["records"], dtype=DTYPE).reshape(-1, WIDTH)
