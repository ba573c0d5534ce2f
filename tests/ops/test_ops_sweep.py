"""`lolpim sweep`: the grid expands with its shorthands, a results file with a torn last line
is repaired, two sweeps cannot write one file, and the resume test: a sweep on Ray killed
(SIGKILL) after a few points, then rerun, leaves each grid point exactly once with values
equal to an uninterrupted sweep. `lolpim plot` draws the scaling figures from it."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lolpim.orchestration.errors import UserError
from lolpim.orchestration.sweep import ResultsFile, load_sweep, point_overrides, read_results, run_sweep

SWEEP = """
seed = 0
[set]
model = "llama2-7b"
"workload.requests" = 4
"workload.output_tokens" = 8
[grid]
system = ["lolpim", "cent"]
modules = [2, 4, 8]
context = [500, 1000]
"""


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    return path


def comparable(records) -> dict:
    """id -> record without wall-clock fields (the only thing allowed to differ)."""
    out = {}
    for r in records:
        result = {k: v for k, v in r["result"].items() if k != "wall_s"}
        out[r["id"]] = (r["point"], r["seed"], r["status"], result, r["trace"])
    return out


def test_grid_and_shorthands(sweep_file):
    spec = load_sweep(sweep_file)
    points = spec.points()
    assert len(points) == 12 and len({spec.point_id(p) for p in points}) == 12
    flat = point_overrides(spec, {"system": "cent", "modules": 4, "context": 1000})
    assert flat["cent.modules"] == 4 and flat["workload.input_tokens"] == 1000
    assert flat["workload.source"] == "fixed"
    gpu = point_overrides(spec, {"system": "gpu", "modules": 2, "batch": 16})
    assert gpu["gpu.count"] == 2 and gpu["gpu.max_batch_requests"] == 16


def test_bad_sweep_files_are_user_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[grid]\nsystem = ["lolpim"]\n"lolpim.kv_mode" = ["dynamic", "sometimes"]\n')
    with pytest.raises(Exception, match="kv_mode"):
        load_sweep(bad)
    bad.write_text('[grid]\nmodules = [2]\n')   # no system: the default "compare" is not one system
    with pytest.raises(UserError, match="one system"):
        load_sweep(bad)


def test_torn_last_line_is_cut_and_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "status": "ok"}\n{"id": "b", "sta')
    assert [r["id"] for r in read_results(path)] == ["a"]
    with ResultsFile(path) as out:
        assert path.read_text() == '{"id": "a", "status": "ok"}\n'
        with pytest.raises(UserError, match="another sweep"):
            ResultsFile(path).__enter__()
        out.append({"id": "c", "status": "ok"})
    assert [r["id"] for r in read_results(path)] == ["a", "c"]


@pytest.mark.ray
def test_killed_sweep_resumes_to_exactly_the_grid(sweep_file, tmp_path):
    spec = load_sweep(sweep_file)
    reference = tmp_path / "reference.jsonl"
    report = run_sweep(spec, reference, serial=True)
    assert (report.ran, report.errors) == (12, 0)

    results = tmp_path / "results.jsonl"
    lolpim = str(Path(sys.executable).with_name("lolpim"))
    cmd = [lolpim, "sweep", str(sweep_file), "--results", str(results), "--max-in-flight", "1"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and first.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert first.poll() is None, f"the sweep ended before it could be killed: {first.stderr.read()}"
    # a crash: the driver and the embedded Ray it started (its own session) all die at once
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    done_before = results.read_text().count("\n")
    assert 3 <= done_before < 12
    with results.open("a") as fh:       # and a point torn mid-write by the crash
        fh.write('{"id": "' + spec.point_id(spec.points()[-1]) + '", "status": "o')

    second = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=150)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["skipped"] == done_before and summary["ran"] == 12 - done_before

    lines = results.read_text().splitlines()
    assert len(lines) == 12   # each point once: no duplicates, nothing torn left behind
    records = [json.loads(line) for line in lines]
    assert comparable(records) == comparable(read_results(reference))

    again = subprocess.run(cmd + ["--json", "--serial"], capture_output=True, text=True, timeout=60)
    assert json.loads(again.stdout)["ran"] == 0 and results.read_text().count("\n") == 12

    from lolpim.orchestration.cli import main
    assert main(["plot", str(results), "--out", str(tmp_path / "plots")]) == 0
    for name in ("throughput_vs_modules.png", "throughput_vs_context.png", "speedup.png", "points.csv"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000, name
