"""The Chrome/Perfetto trace writer (orchestration/timeline.py): structure only; what the LLM
run puts in it is checked in tests/system."""
import json

import pytest

from lolpim.orchestration.timeline import Counter, Instant, Span, trace_events, write_trace


def test_trace_has_one_process_per_system_and_one_thread_per_actor(tmp_path):
    a = trace_events("lolpim", 1, spans=[Span("stage0", "decode", 0, 2_000_000),
                                         Span("stage1", "decode", 2_000_000, 5_000_000)],
                     instants=[Instant("dpa0", "alloc", 1_000_000, {"chunks": 3})],
                     counters=[Counter("host", 0, {"waiting": 4})])
    b = trace_events("gpu", 2, spans=[Span("gpu", "decode", 0, 1_000_000)])
    path = write_trace(tmp_path / "t.json", [a, b])
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    threads = {(e["pid"], e["args"]["name"]) for e in events if e["name"] == "thread_name"}
    assert procs == {1: "lolpim", 2: "gpu"}
    assert threads == {(1, "stage0"), (1, "stage1"), (1, "dpa0"), (1, "host"), (2, "gpu")}
    spans = [e for e in events if e["ph"] == "X"]
    assert [(e["ts"], e["dur"]) for e in spans] == [(0.0, 2.0), (2.0, 3.0), (0.0, 1.0)]   # microseconds
    assert {e["ph"] for e in events} == {"M", "X", "i", "C"}


def test_a_span_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends before"):
        trace_events("x", 1, spans=[Span("a", "b", 5, 4)])
