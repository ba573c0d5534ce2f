"""SIGTERM stops a command as Ctrl-C does, and a Ray fault is recovered or reported in one line
(issue 26, class 5): the finished work is written and kept, one line says what finished, exit
code 143 (130 for Ctrl-C); never Python's or Ray's default (exit 15 after a C++ stack dump, or
abort, with the finished systems lost). `--json` stdout stays JSON. A Ray process lost at any
call of a run (start, a window, a snapshot, the results, or idle in the pool between runs) is
rebuilt and the result is unchanged; a dead node (a killed raylet) is a clear failure, never
a hang.

The first two tests send a real SIGTERM from a stand-in system or point, in this process (no
simulation, no Ray). The others use Ray: the kept-process ones in this process, the rest run
the `lolpim` executable (or a driver script) and signal or kill its processes.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.orchestration.cli import main

SMALL = ["--set", "model=llama2-7b", "--set", "workload.source=fixed", "--set", "workload.requests=4",
         "--set", "workload.input_tokens=512", "--set", "workload.output_tokens=8"]
SWEEP = """[set]
model = "llama2-7b"
"workload.source" = "fixed"
"workload.requests" = 4
"workload.input_tokens" = 512
"workload.output_tokens" = 8
[grid]
system = ["lolpim"]
modules = [8, 16, 32]
"""



def _sigterm_myself():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)       # the handler raises here, in the main thread, at once


def test_sigterm_of_a_comparison_keeps_the_finished_systems_and_exits_143(stub_comparison, capsys):
    def run(spec):
        if spec == "gpu":
            _sigterm_myself()
        return spec
    stub_comparison(run)
    before = signal.getsignal(signal.SIGTERM)
    rc = main(["run", "--executor", "inline", "--json", "--set", "model=llama2-7b", "--set", "system=compare",
               "--set", "systems=lolpim,gpu,cent"])
    out, err = capsys.readouterr()
    assert rc == 143
    assert err.strip() == "lolpim: terminated (SIGTERM); finished: lolpim; not finished: gpu, cent"
    assert [s["system"] for s in json.loads(out)["systems"]] == ["lolpim"]
    assert signal.getsignal(signal.SIGTERM) is before        # the CLI's handler lives as long as main()


def test_sigterm_of_a_serial_sweep_keeps_the_finished_points(tmp_path, monkeypatch, capsys):
    from lolpim.orchestration import sweep
    real, calls = sweep.run_point, []

    def run_point(spec, point):
        calls.append(point)
        if len(calls) == 2:
            _sigterm_myself()
        return real(spec, point)
    monkeypatch.setattr(sweep, "run_point", run_point)
    (tmp_path / "s.toml").write_text(SWEEP)
    results = tmp_path / "r.jsonl"
    rc = main(["sweep", str(tmp_path / "s.toml"), "--results", str(results), "--serial", "--json"])
    out, err = capsys.readouterr()
    assert rc == 143
    assert err.strip().splitlines()[-1].startswith("lolpim: terminated (SIGTERM): finished points are saved")
    assert json.loads(out)["interrupted"] is True
    assert len(results.read_text().splitlines()) == 1


# --------------------------------------------------------------------------- the real thing, on Ray

def _ray_workers_of(pid: int, prefix: bytes = b"ray::") -> bool:
    """Whether a descendant of ``pid`` is a Ray worker at work (`ray::ActorHost...`, `ray::<task>`)
    whose command line starts with ``prefix``."""
    parents = {}
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                parents[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    for child in parents:
        p = child
        while p in parents and p not in (0, 1, pid):
            p = parents[p]
        if p == pid and child != pid:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    cmd = f.read()
                if cmd.startswith(prefix) and not cmd.startswith(b"ray::IDLE"):
                    return True
            except OSError:
                pass
    return False


def _sigterm_once_running(argv: list[str], cwd, extra_s: float = 0.5, worker: bytes = b"ray::ActorHost"
                          ) -> subprocess.CompletedProcess:
    lolpim = shutil.which("lolpim", path=os.path.dirname(sys.executable))
    proc = subprocess.Popen([lolpim, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not _ray_workers_of(proc.pid, worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the command ended before its Ray workers ran"
    time.sleep(extra_s)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _one_clean_line(err: str, start: str) -> None:
    assert "Traceback" not in err and "SIGTERM received" not in err and "logging.cc" not in err, err
    assert err.strip().splitlines()[-1].startswith(start), err


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_of_a_ray_comparison_is_one_line_and_keeps_what_finished(tmp_path):
    out = _sigterm_once_running(["run", "--json", "--set", "system=compare", "--set", "systems=lolpim,gpu,cent",
                                 *SMALL, "--set", "workload.output_tokens=2000"], tmp_path)
    assert out.returncode == 143, out.stderr
    _one_clean_line(out.stderr, "lolpim: terminated (SIGTERM); finished: ")
    finished = out.stderr.strip().splitlines()[-1].split("finished: ")[1].split(";")[0]
    if finished != "none":      # the systems that finished, as JSON on stdout
        assert [s["system"] for s in json.loads(out.stdout)["systems"]] == finished.split(", ")
    else:
        assert out.stdout == ""


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_of_a_ray_sweep_keeps_its_points(tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP.replace("[8, 16, 32]", "[8, 16, 32, 64]").replace(
        '"workload.output_tokens" = 8', '"workload.output_tokens" = 400'))
    out = _sigterm_once_running(["sweep", "s.toml", "--results", "r.jsonl", "--json", "--max-in-flight", "1"],
                                tmp_path, extra_s=1.0, worker=b"ray::run_point")
    assert out.returncode == 143, out.stderr
    _one_clean_line(out.stderr, "lolpim: terminated (SIGTERM): finished points are saved")
    report = json.loads(out.stdout)
    assert report["interrupted"] is True
    lines = (tmp_path / "r.jsonl").read_text().splitlines() if (tmp_path / "r.jsonl").exists() else []
    assert len(lines) == report["ran"] < 4 and all(json.loads(line)["status"] == "ok" for line in lines)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_of_a_ray_ocular_dominance_run_is_one_line(tmp_path):
    out = _sigterm_once_running(["plasticity", "ocular-dominance", "--executor", "ray", "--processes", "2",
                                 "--neurons", "2", "--json"], tmp_path)
    assert out.returncode == 143, out.stderr
    _one_clean_line(out.stderr, "lolpim: terminated (SIGTERM)")
    assert out.stdout == ""


# --------------------------------------------------------------------------- Ray processes lost

def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return
        except OSError:
            return
        time.sleep(0.05)


@pytest.mark.ray
@pytest.mark.parametrize("when", ["idle", "start", "snapshot", "results"])
def test_a_kept_ray_process_lost_outside_a_window_is_rebuilt(ray_pool, when):
    """A process of the pool killed while idle between two runs, or just before a run's start,
    a snapshot or the results: rebuilt (recovery used to wrap the window calls only)."""
    system = PipelineShape((2000, 1000, 1500), 120, 3, 12, jitter=0.25).system(seed=3)
    undisturbed = InlineExecutor(record_trace=True).run(system)
    executor = ray_pool(record_trace=True, checkpoint_every=4)
    if when == "idle":
        executor.run(system)
        _kill(executor.host_pids()[-1])
    else:
        real, killed = executor._gather, []

        def gather(method):
            if method == when and not killed:
                killed.append(executor.host_pids()[-1])
                _kill(killed[0])
            return real(method)
        executor._gather = gather
    before = executor.recoveries
    recovered = executor.run(system)
    assert executor.recoveries == before + 1
    assert recovered.comparable() == undisturbed.comparable()


def _child_named(pid: int, name: bytes) -> int | None:
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if int(f.read().rsplit(b")", 1)[1].split()[1]) != pid:
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0].endswith(name):
                    return int(entry)
        except (OSError, ValueError, IndexError):
            pass
    return None


DEAD_NODE_DRIVER = r"""
import sys, time
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
from lolpim.orchestration.interrupts import one_line, ray_failure
ensure_ray(num_cpus=2)
executor = RayExecutor(keep_processes=True, max_processes=2)
system = PipelineShape((1000, 1000), 100, 2, 3).system()
executor.run(system)
print("READY", flush=True)
sys.stdin.readline()          # the test has killed the raylet
t0 = time.monotonic()
try:
    executor.run(system)
    print("RECOVERED", flush=True)
except Exception as exc:
    print("FAILED" if ray_failure(exc) else "OTHER", round(time.monotonic() - t0), one_line(exc), flush=True)
"""


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_raylet_is_a_clear_failure_not_a_hang():
    """With its node dead, Ray cannot run a rebuilt process: the recovery used to wait for one
    forever. Now the run fails within the node's death detection (~15 s), as Ray's failure."""
    driver = subprocess.Popen([sys.executable, "-c", DEAD_NODE_DRIVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert driver.stdout.readline().strip() == "READY"
        raylet = _child_named(driver.pid, b"raylet")
        assert raylet is not None
        _kill(raylet)
        driver.stdin.write("go\n")
        driver.stdin.flush()
        out, _ = driver.communicate(timeout=90)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert out.startswith(("FAILED", "RECOVERED")), out


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_run_whose_raylet_is_killed_ends_in_bounded_time_with_json_and_no_traceback(tmp_path):
    """Ray's running actors may finish without their raylet (then the run succeeds), or the run
    fails in one line keeping the finished systems; either way stdout is JSON and Ray's
    multi-line report ("(raylet) Raylet is terminated ...") is one line on stderr."""
    lolpim = shutil.which("lolpim", path=os.path.dirname(sys.executable))
    proc = subprocess.Popen([lolpim, "run", "--json", "--set", "system=compare", "--set", "systems=lolpim,gpu,cent",
                             *SMALL, "--set", "workload.output_tokens=400"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not _ray_workers_of(proc.pid, b"ray::ActorHost") and time.monotonic() < deadline:
            time.sleep(0.1)
        raylet = _child_named(proc.pid, b"raylet")
        assert proc.poll() is None and raylet is not None, "the run ended before its Ray workers ran"
        _kill(raylet)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 1), err
    if proc.returncode == 1:
        last = err.strip().splitlines()[-1]
        assert last.startswith("lolpim: error: Ray failed"), err
    if out:
        json.loads(out)
    else:
        assert "finished: none" in err
    assert len(err.strip().splitlines()) <= 4, err
