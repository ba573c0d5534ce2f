"""`lolpim sweep`: the grid expands with its shorthands, a results file with a torn last line
is repaired, two sweeps cannot write one file, and the resume test: a sweep on Ray killed
(SIGKILL) after a few points, then rerun, leaves each grid point exactly once with values
equal to an uninterrupted sweep. `lolpim plot` draws the scaling figures from it."""
import json
from collections import defaultdict
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lolpim.core.errors import UserError
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
    gpu = point_overrides(spec, {"system": "gpu", "gpus": 2, "batch": 16})
    assert gpu["gpu.count"] == 2 and gpu["gpu.max_batch_requests"] == 16
    # 'modules' never sets a GPU count silently (it did: a 4-GPU baseline became 2/4/8 GPUs)
    with pytest.raises(UserError, match="'modules' axis counts PIM modules.*'gpus' axis"):
        point_overrides(spec, {"system": "gpu", "modules": 2})
    with pytest.raises(UserError, match="'gpus' axis counts GPUs"):
        point_overrides(spec, {"system": "lolpim", "gpus": 2})


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
    with ResultsFile(path) as out:     # a point retried (--retry-errors): the finished run counts
        out.append({"id": "d", "status": "error"})
        out.append({"id": "d", "status": "ok"})
        out.append({"id": "d", "status": "error"})
    assert [(r["id"], r["status"]) for r in read_results(path)] == [("a", "ok"), ("c", "ok"), ("d", "ok")]


@pytest.mark.ray
def test_killed_sweep_resumes_to_exactly_the_grid(sweep_file, tmp_path, ray_session, capsys):
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

    # the rerun and the check after it run the same command in this process (on the session's
    # Ray): only the killed sweep needs a process of its own
    from lolpim.orchestration.cli import main
    capsys.readouterr()
    assert main(cmd[1:] + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == done_before and summary["ran"] == 12 - done_before

    lines = results.read_text().splitlines()
    assert len(lines) == 12   # each point once: no duplicates, nothing torn left behind
    records = [json.loads(line) for line in lines]
    assert comparable(records) == comparable(read_results(reference))

    serial = [a for a in cmd[1:] if a not in ("--max-in-flight", "1")] + ["--json", "--serial"]   # (Ray-only flag)
    assert main(serial) == 0
    assert json.loads(capsys.readouterr().out)["ran"] == 0 and results.read_text().count("\n") == 12

    assert main(["plot", str(results), "--out", str(tmp_path / "plots")]) == 0
    for name in ("throughput_vs_modules.png", "throughput_vs_context.png", "speedup.png", "points.csv"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000, name


# ------------------------------------------------ baselines, point lists, the driver's report

STUDY = """
seed = 0
[set]
model = "qwen1.5-7b"
"workload.requests" = 4
"workload.output_tokens" = 8
[grid]
system = ["lolpim", "cent"]
modules = [2, 4, 8]
trace = ["longbench-qmsum", "longbench-musique"]
[[baseline]]          # "1 A100 against 2/4/8 modules": once per trace, not once per module count
system = "gpu"
gpus = 1
[[points]]            # an explicit point besides the grid
system = "lolpim"
modules = 16
trace = "longbench-qmsum"
[[points]]            # one that cannot run: one request is longer than the model's context
system = "cent"
modules = 1
context = 200000
"""


def test_baseline_and_point_lists(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    spec = load_sweep(path)
    points = spec.points()
    assert len(points) == 12 + 2 + 1 + 1 and len({spec.point_id(p) for p in points}) == len(points)
    gpu = [p for p in points if p["system"] == "gpu"]
    assert gpu == [{"trace": "longbench-qmsum", "system": "gpu", "gpus": 1},
                   {"trace": "longbench-musique", "system": "gpu", "gpus": 1}]
    flat = point_overrides(spec, gpu[0])
    assert flat["gpu.count"] == 1 and not any(k.endswith(".modules") for k in flat)
    assert {"system": "lolpim", "modules": 16, "trace": "longbench-qmsum"} in points
    # a [[points]] list value expands, and a point given twice runs once
    path.write_text(STUDY + '[[points]]\nsystem = "lolpim"\nmodules = [16, 32]\ntrace = "longbench-qmsum"\n')
    assert len(load_sweep(path).points()) == len(points) + 1
    path.write_text('[[baseline]]\nsystem = "gpu"\n')
    with pytest.raises(UserError, match="without a \\[grid\\]"):
        load_sweep(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The STUDY sweep run once (serially, ~1 s) by the CLI from a working directory that is
    not the sweep file's directory: (sweep file, working directory, CLI output, records)."""
    root = tmp_path_factory.mktemp("study")
    src, work = root / "src", root / "work"
    src.mkdir()
    work.mkdir()
    (src / "study.toml").write_text(STUDY)
    lolpim = str(Path(sys.executable).with_name("lolpim"))
    out = subprocess.run([lolpim, "sweep", str(src / "study.toml"), "--serial"], cwd=work, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return src / "study.toml", work, out.stdout, read_results(work / "results" / "study.jsonl")


def test_driver_prints_the_table_and_the_points_that_cannot_run(study):
    _, _, stdout, records = study
    head, *rows = stdout.split("\n\n")[0].splitlines()
    for column in ("system", "modules", "gpus", "trace", "hardware", "tok/s", "J/token", "KV used", "KV alloc"):
        assert column in head
    assert len(rows) == 1 + 16   # the rule, then one row per point
    assert sum("1 x a100" in r for r in rows) == 2
    tail = stdout.split("\n\n")[-1]
    assert "1 point(s) cannot run" in tail
    assert '"context": 200000' in tail and "32,768-token maximum context" in tail   # the point and its reason
    assert [r["status"] for r in records].count("error") == 1
    from lolpim.orchestration.sweep import format_results
    short = format_results(load_sweep(study[0]), records, max_rows=3).splitlines()
    assert len(short) == 2 + 3 + 1 and short[-1].startswith("... and 13 more points")


def test_results_and_lock_go_under_results_not_beside_the_sweep(study):
    sweep, work, _, records = study
    assert sorted(p.name for p in sweep.parent.iterdir()) == ["study.toml"]   # the source tree stays clean
    assert sorted(p.name for p in (work / "results").iterdir()) == ["study.jsonl", "study.jsonl.lock"]
    assert len(records) == 16
    # the file's 'results' key is under results/ too; --results puts the lock beside it
    from lolpim.orchestration.sweep import RESULTS_DIR, default_results
    sweep.with_name("keyed.toml").write_text('results = "keyed.jsonl"\n' + STUDY)
    assert load_sweep(sweep.with_name("keyed.toml")).results == RESULTS_DIR / "keyed.jsonl"
    assert default_results(sweep) == RESULTS_DIR / "study.jsonl"
    other = work / "elsewhere" / "r.jsonl"
    with ResultsFile(other):
        assert other.with_name("r.jsonl.lock").exists()


def test_gitignore_covers_results():
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["results/scaling.jsonl", "results/scaling.jsonl.lock", "results/plots/speedup.png"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=repo, capture_output=True, text=True)
    assert out.stdout.split() == names


# ------------------------------------------------------------------- plots, on their data

@pytest.fixture(scope="module")
def figures(study):
    import matplotlib
    matplotlib.use("Agg")
    import warnings

    from lolpim.orchestration.commands import plot
    records = [r for r in study[3] if r["status"] == "ok"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # e.g. matplotlib's "No artists with labels found"
        yield records, plot.throughput_figure(records, "modules"), plot.speedup_figure(records)
    import matplotlib.pyplot as plt
    plt.close("all")


def _line(ax, part):
    lines = [ln for ln in ax.get_lines() if part in ln.get_label()]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


def test_ideal_line_is_linear_scaling(figures):
    _, _, fig = figures
    left = fig.axes[0]
    ideal = _line(left, "ideal")
    x, y = ideal.get_xdata(), ideal.get_ydata()
    assert list(x) == list(y)                      # speedup = relative modules, at every point drawn
    assert {1.0, 2.0, 4.0, 8.0} <= set(x)          # including each module ratio run: 2x modules -> 2x
    # between its points a straight segment is y = x too: both axes log, or sampled densely
    assert (left.get_xscale(), left.get_yscale()) == ("log", "log") or max(x[1:] / x[:-1]) < 1.1


def test_single_point_series_are_drawn(figures):
    _, modules_fig, speedup = figures
    ax = modules_fig.axes[0]
    gpu = [ln for ln in ax.get_lines() if ln.get_label().startswith("GPU")]
    assert len(gpu) == 2 and all("fixed" in ln.get_label() for ln in gpu)   # one per trace, across the range
    assert min(gpu[0].get_xdata()) == 2 and max(gpu[0].get_xdata()) == 16
    assert len(_line(ax, "LoL-PIM · qmsum").get_xdata()) == 4
    right = speedup.axes[1]
    over = [ln for ln in right.get_lines() if ln.get_label().startswith("over")]
    assert sorted(ln.get_label().split(":")[0].split(" · ")[0] for ln in over) == [
        "over CENT", "over CENT", "over GPU", "over GPU"]
    assert right.get_legend() is not None
    # a series of one point (one module count) is drawn as a marker, not dropped
    from lolpim.orchestration.commands import plot
    records = [r for r in figures[0] if r["point"].get("modules") == 16 or r["point"]["system"] == "gpu"]
    single = plot.throughput_figure(records, "modules")
    lol = _line(single.axes[0], "LoL-PIM")
    assert list(lol.get_xdata()) == [16] and lol.get_marker() not in (None, "", "None")


def test_titles_ticks_and_colours(figures):
    records, modules_fig, speedup = figures
    for title in (modules_fig.axes[0].get_title(), speedup._suptitle.get_text()):
        for part in ("qwen1.5-7b", "longbench-qmsum", "longbench-musique", "4 requests", "8 output tokens"):
            assert part in title, title
    assert list(modules_fig.axes[0].get_xticks()) == [2, 4, 8, 16]            # the module counts run
    assert [t.get_text() for t in modules_fig.axes[0].get_xticklabels()] == ["2", "4", "8", "16"]
    assert list(speedup.axes[1].get_xticks()) == [2, 4, 8, 16]
    assert list(speedup.axes[0].get_xticks()) == [1, 2, 4, 8]                 # the ratios run
    # one colour per trace, the same in every panel; line style per system
    colours = defaultdict(set)
    for ax in (modules_fig.axes[0], *speedup.axes):
        for ln in ax.get_lines():
            for trace in ("qmsum", "musique"):
                if ln.get_label().endswith(trace):
                    colours[trace].add(ln.get_color())
    assert len(colours["qmsum"]) == 1 and len(colours["musique"]) == 1 and colours["qmsum"] != colours["musique"]
    ax = modules_fig.axes[0]
    assert _line(ax, "LoL-PIM · qmsum").get_linestyle() != _line(ax, "CENT · qmsum").get_linestyle()


def test_deploy_sweeps_load_and_write_under_results():
    from lolpim.orchestration.sweep import RESULTS_DIR
    files = sorted((Path(__file__).resolve().parents[2] / "deploy").glob("sweep-*.toml"))
    assert files
    for path in files:
        spec = load_sweep(path)   # every point is a valid RunConfig
        assert spec.results is None or spec.results.parent == RESULTS_DIR, path
    baseline = load_sweep(files[0].with_name("sweep-gpu-baseline.toml"))
    gpu = [p for p in baseline.points() if p["system"] == "gpu"]
    assert gpu == [{"system": "gpu", "gpus": 4}]   # one fixed 4-GPU point, not one per module count


def test_speedup_figure_without_a_baseline_says_so(figures):
    """Issue 25 item 7: results with LoL-PIM alone drew an empty speedup panel; it now says why."""
    from lolpim.orchestration.commands import plot
    records, _throughput, _speedup = figures
    lolpim_only = [r for r in records if plot._system(r) == "lolpim"]
    fig = plot.speedup_figure(lolpim_only)
    assert fig is not None
    right = fig.axes[1]
    assert any("no baseline in these results" in t.get_text() for t in right.texts)
    assert not right.get_lines()


def test_throughput_axis_says_it_is_logarithmic(figures):
    _records, throughput, _speedup = figures
    assert throughput.axes[0].get_ylabel() == "decode throughput [tokens/s, log scale]"
