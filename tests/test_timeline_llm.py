"""`lolpim run --timeline`: what the LLM actors record, the trace it becomes, the cap, the CLI
checks, and that recording changes nothing else (inline, on Ray, snapshot/restore)."""
import json
from collections import defaultdict

import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.llm.recording import Rec, records
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace
from lolpim.orchestration.llm.timeline import TimelineCollector, with_timeline

# short enough for seconds, long enough to fill the pipeline; 32 GB makes the 16 requests wait
# for KV memory (the memory stall the trace must show)
SMALL = ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=3000", "workload.output_tokens=12",
         "workload.requests=16", "pim_capacity_gib=32"]
TINY = ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=2000", "workload.output_tokens=6",
        "workload.requests=4", "pim_capacity_gib=64"]


def _cfg(*overrides):
    return config.load(RunConfig, None, list(overrides))


def _traced(tmp_path, kinds, overrides=SMALL, max_events=2_000_000, executor="inline"):
    timeline = TimelineCollector(max_events)
    result = run_systems(_cfg(*overrides), kinds, executor, 0, timeline=timeline).to_dict()
    path = tmp_path / "trace.json"
    warnings = timeline.write(path)
    return result, json.loads(path.read_text()), warnings


def _by_track(events):
    """{(pid, thread name): [events]} and {pid: process name}."""
    procs = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    tracks = defaultdict(list)
    for e in events:
        if e["ph"] != "M":
            tracks[(e["pid"], names[(e["pid"], e["tid"])])].append(e)
    return tracks, procs


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    return _traced(tmp_path_factory.mktemp("tl"), ("lolpim", "gpu"))


def test_trace_has_a_process_per_system_and_a_track_per_actor(compared):
    result, trace, warnings = compared
    assert not warnings and trace["otherData"]["truncated"] is False
    events = trace["traceEvents"]
    assert isinstance(events, list) and events
    tracks, procs = _by_track(events)
    assert procs == {1: "lolpim", 2: "gpu"}
    cfg = _cfg(*SMALL)
    for pid, kind in procs.items():
        spec = build(kind, cfg, make_trace(cfg, 0), 0).spec
        actors = {a.name.removeprefix(f"{kind}.") for a in spec.actors}
        assert actors <= {name for p, name in tracks if p == pid}, kind       # every actor has its track
        stages = [a for a in actors if a.startswith("stage")]
        assert {f"{s} link" for s in stages} <= {name for p, name in tracks if p == pid}
    for (pid, name), evs in tracks.items():
        spans = [e for e in evs if e["ph"] == "X"]
        assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
        starts = [e["ts"] for e in evs]
        assert starts == sorted(starts), f"{procs[pid]} {name}: events out of time order"
        if name.startswith("stage") and not name.endswith("link"):
            assert spans and {e["name"] for e in spans} <= {"decode", "prefill", "decode+prefill"}
            assert all(set(e["args"]) == {"mb", "requests", "prefill_requests"} and e["args"]["requests"] > 0
                       for e in spans)
            for a, b in zip(spans, spans[1:]):   # one pass at a time on a stage
                assert a["ts"] + a["dur"] <= b["ts"] * (1 + 1e-12), f"{name}: overlapping passes"


def test_stage_busy_time_in_the_trace_is_the_reported_utilisation(compared):
    result, trace, _ = compared
    tracks, procs = _by_track(trace["traceEvents"])
    for pid, kind in procs.items():
        summary = next(s for s in result["systems"] if s["system"] == kind)
        stages = {name: evs for (p, name), evs in tracks.items()
                  if p == pid and name.startswith("stage") and not name.endswith("link")}
        assert len(stages) == summary["stages"]
        busy_s = [sum(e["dur"] for e in evs if e["ph"] == "X") * 1e-6 for evs in stages.values()]
        mean = sum(b / summary["makespan_s"] for b in busy_s) / len(busy_s)
        assert mean == pytest.approx(summary["module_utilisation"], rel=1e-9, abs=0), kind


def test_memory_stall_and_queue_are_in_the_trace(compared):
    result, trace, _ = compared
    tracks, _ = _by_track(trace["traceEvents"])
    host = tracks[(1, "host")]
    queue = [e["args"] for e in host if e["ph"] == "C"]
    assert queue and all(set(q) == {"waiting", "running"} for q in queue)
    assert max(q["waiting"] for q in queue) > 0 and max(q["running"] for q in queue) > 0
    assert queue[-1] == {"waiting": 0, "running": 0}                     # everything served at the end
    dpa = [e for (p, name), evs in tracks.items() if p == 1 and name.startswith("dpa") for e in evs]
    kinds = {e["name"] for e in dpa if e["ph"] == "i"}
    assert {"alloc", "free", "refused"} <= kinds                          # 32 GB: requests are refused
    chunks = [e["args"]["allocated chunks"] for e in dpa if e["ph"] == "C"]
    assert chunks and max(chunks) > 0 and chunks[-1] == 0                 # all freed at the end
    lolpim = next(s for s in result["systems"] if s["system"] == "lolpim")
    assert lolpim["queue_wait_mean_s"] > 0


def test_recording_changes_no_result(tmp_path):
    cfg = _cfg(*SMALL)
    spec = build("lolpim", cfg, make_trace(cfg, 0), 0).spec
    plain = InlineExecutor().run(spec)
    traced = InlineExecutor().run(with_timeline(spec, 10_000))
    assert all("timeline" not in r for r in plain.results.values())
    assert {n: {k: v for k, v in r.items() if k != "timeline"} for n, r in traced.results.items()} == plain.results
    assert traced.events == plain.events and traced.end_time_ps == plain.end_time_ps


@pytest.mark.parametrize("kind,overrides", [("lolpim", ()), ("cent", ()), ("lolpim", ("prefill=attached-gpu",))])
def test_recording_actors_round_trip_their_state(state_round_trip, kind, overrides):
    cfg = _cfg("workload.requests=6", "workload.output_tokens=6", *overrides)
    spec = with_timeline(build(kind, cfg, make_trace(cfg, 0), 0).spec, 50)
    state_round_trip(spec, 400)
    if overrides:   # the attached GPU's prefills are spans on the host's gpu prefill track
        run = InlineExecutor().run(spec)
        codes = records(run.results["lolpim.host"]["timeline"])[:, 0].tolist()
        assert Rec.GPU_PREFILL in codes and Rec.QUEUE in codes


def test_the_cap_cuts_every_track_at_the_same_time_and_says_so(tmp_path):
    _, full, _ = _traced(tmp_path, ("lolpim",))
    _, trace, warnings = _traced(tmp_path, ("lolpim",), max_events=400)
    other = trace["otherData"]
    assert other["truncated"] is True and other["max_events"] == 400
    cut_us = other["truncated_at_ms"]["lolpim"] * 1e3
    events = [e for e in trace["traceEvents"] if e["ph"] != "M"]
    assert len(events) <= 400 + 1                  # + the marker saying where recording stopped
    marker = [e for e in events if e["name"].startswith("timeline cap reached")]
    assert len(marker) == 1 and marker[0]["ts"] == cut_us
    assert all(e["ts"] < cut_us for e in events if e is not marker[0])
    # the capped trace is the full trace up to the cut, on every track
    before = [e for e in full["traceEvents"] if e["ph"] != "M" and e["ts"] < cut_us]
    assert sorted(map(json.dumps, before)) == sorted(json.dumps(e) for e in events if e is not marker[0])
    assert len(warnings) == 1 and "capped at 400 events" in warnings[0] and "\n" not in warnings[0]


@pytest.mark.ray
def test_ray_gives_the_inline_timeline(ray_session, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    _, inline, _ = _traced(tmp_path / "a", ("lolpim",), TINY)
    _, on_ray, _ = _traced(tmp_path / "b", ("lolpim",), TINY, executor="ray")
    assert len(inline["traceEvents"]) > 50
    assert on_ray == inline


# --- the command line ----------------------------------------------------------------------------
RUN = ["run", "--executor", "inline", *(x for o in TINY for x in ("--set", o))]


def test_cli_writes_one_process_per_system(tmp_path, capsys):
    path = tmp_path / "t.json"
    assert main([*RUN, "--set", "system=compare", "--set", "systems=lolpim,gpu,cent", "--timeline", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    _, procs = _by_track(json.loads(path.read_text())["traceEvents"])
    assert procs == {1: "lolpim", 2: "gpu", 3: "cent"}
    assert main([*RUN, "--set", "system=gpu", "--timeline", str(path), "--timeline-max-events", "20"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lolpim: warning: timeline capped at 20 events" in err
    assert _by_track(json.loads(path.read_text())["traceEvents"])[1] == {1: "gpu"}


@pytest.mark.parametrize("where,says", [
    ("{tmp}", "is a folder"),
    ("{tmp}/no/such/folder/t.json", "does not exist"),
    ("{tmp}/ro/t.json", "cannot write the trace there"),
])
def test_cli_checks_the_timeline_path_before_running(tmp_path, capsys, monkeypatch, where, says):
    import os
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if says.startswith("cannot") and os.access(ro, os.W_OK):   # root writes anywhere but sysfs
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("running as root without a sysfs to fail on")
        where = "/sys/kernel/lolpim-timeline.json"
    ran = []
    monkeypatch.setattr("lolpim.orchestration.llm.api.run_systems", lambda *a, **k: ran.append(1))
    assert main([*RUN, "--timeline", where.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and err.startswith("lolpim: error: --timeline")
    assert not ran and not (ro / "t.json").exists()


def test_cli_refuses_a_timeline_of_the_pipeline_demo_and_a_zero_cap(tmp_path, capsys):
    assert main(["run", "--executor", "inline", "--set", "system=pipeline-demo",
                 "--timeline", str(tmp_path / "t.json")]) == 2
    assert "pipeline-demo" in capsys.readouterr().err
    assert main([*RUN, "--timeline", str(tmp_path / "t.json"), "--timeline-max-events", "0"]) == 2
    assert "--timeline-max-events" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_the_png_script_draws_every_track(tmp_path, compared):
    import importlib.util
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("timeline_png", root / "benchmarks" / "timeline_png.py")
    png = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(png)
    _, trace, _ = compared
    name, tracks = png.read_tracks(trace, "gpu")
    assert name == "gpu" and [t for t, _ in tracks] == ["host", "stage000", "stage000 link", "dpa000"]
    (tmp_path / "t.json").write_text(json.dumps(trace))
    assert png.main([str(tmp_path / "t.json"), str(tmp_path / "t.png"), "--from-ms", "0", "--to-ms", "5"]) == 0
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
