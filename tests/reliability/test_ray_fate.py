"""Issue 14: a driver killed with SIGKILL leaves no embedded Ray process behind. Ray ties its GCS
server and raylet to the driver, but the dashboard agent, the runtime-env agent and the workers
lingered for a minute or more; actors/kernel/ray_reaper.py now kills them. Issue 26: and only
them: a user's `tail -f` of a log in the session folder (world-writable) lives on.

The driver runs in a fresh interpreter with two things no other Ray on the machine has: its own
Ray temporary folder (RAY_TMPDIR, so its session folder is unique) and an environment variable
of the test's own, which every process it starts inherits. Ray renames its agents and workers to
`ray::...` (which may also overwrite the start of their environment), so a process counts when
its command line or one of its open files (logs, stdout) names the folder, or its environment
still has the variable. Only those count: other agents' Ray processes on the machine never do."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Starts Ray the way the CLI does, finishes one small run, says READY, then keeps running small
# systems until it is killed: the kill lands in the middle of a run.
DRIVER = r"""
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.ray_executor import RayExecutor
from lolpim.orchestration.executors import ensure_ray_cluster

ensure_ray_cluster()
RayExecutor(max_processes=2).run(PipelineShape((1000, 1000), 100, 2, 3).system())
print("READY", flush=True)
while True:
    RayExecutor(max_processes=2).run(PipelineShape((1000, 1000), 200, 2, 3).system())
"""

TEST_VAR = "LOLPIM_FATE_TEST"


def _ours(needle_env: bytes, temp_dir: str, besides=()) -> dict[int, str]:
    """pid -> command line of every live process of this test's Ray: carrying the test's
    variable, or naming its temporary folder on its command line or in an open file (not
    counting the pids ``besides``)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid() or int(name) in besides:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":      # a zombie is dead, only not yet reaped
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
            files = []
            for fd in os.listdir(f"/proc/{name}/fd"):
                try:
                    files.append(os.readlink(f"/proc/{name}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:          # exited meanwhile, or not ours to read
            continue
        if needle_env in env or temp_dir in cmd or any(f.startswith(temp_dir + "/") for f in files):
            found[int(name)] = cmd[:100]
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_leaves_no_ray_process_behind():
    # short and unique: Ray puts Unix sockets under it, whose paths must stay under 108 bytes
    temp_dir = tempfile.mkdtemp(prefix="lpfate", dir="/tmp")
    mark = uuid.uuid4().hex
    needle = f"{TEST_VAR}={mark}".encode()
    env = dict(os.environ, RAY_TMPDIR=temp_dir, **{TEST_VAR: mark})
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    user = None
    try:
        deadline = time.monotonic() + 180
        line = ""
        while "READY" not in line and time.monotonic() < deadline and driver.poll() is None:
            line = driver.stdout.readline()
        assert "READY" in line, f"the driver did not start Ray (exit {driver.poll()})"
        # the raylet starts its agents a little after the first run may have finished: wait for
        # them, so the test sees the processes that used to linger and can fail
        names = ""
        while time.monotonic() < deadline and not all(
                n in names for n in ("DashboardAgent", "RuntimeEnvAgent", "raylet", "gcs_server")):
            time.sleep(0.25)
            names = " | ".join(_ours(needle, temp_dir).values())
        assert all(n in names for n in ("DashboardAgent", "RuntimeEnvAgent", "raylet")), names
        # a user follows a Ray log: not Ray's process, though it holds a session file open
        log, = (p for p in glob.glob(os.path.join(temp_dir, "ray", "session_*", "logs", "raylet.out"))
                if "session_latest" not in p)
        user = subprocess.Popen(["tail", "-f", log], stdout=subprocess.DEVNULL, env=dict(os.environ))
        time.sleep(0.5)

        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        t0 = time.monotonic()
        left = _ours(needle, temp_dir, besides={user.pid})
        while left and time.monotonic() - t0 < 15:
            time.sleep(0.25)
            left = _ours(needle, temp_dir, besides={user.pid})
        assert not left, f"alive {time.monotonic() - t0:.0f} s after the driver's SIGKILL: {left}"
        time.sleep(1.0)     # the reaper's last scans
        assert user.poll() is None, "the user's tail -f of a Ray log was killed"
    finally:
        if user is not None:
            user.kill()
            user.wait(timeout=10)
        if driver.poll() is None:
            driver.kill()
        for pid in _ours(needle, temp_dir):     # only processes this test started carry its mark
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
