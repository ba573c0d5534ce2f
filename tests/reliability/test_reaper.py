"""The reaper kills the processes of the Ray instance its driver started, and nothing else
(issue 26): it used to SIGKILL every process that kept a file of the Ray session folder open or
named it, so a user's `tail -f` of a Ray log died with the driver.

No Ray here (tests/reliability/test_ray_fate.py has the real thing): a driver starts its reaper
as ensure_ray does, then a process with the marker in its environment (as ray.init's are), which
starts one without it (as a worker that overwrote its environment when it renamed itself: found
by ancestry only), and a process of its own outside ray.init. The test holds an unrelated
`tail -f`. After the driver's SIGKILL the first two die within seconds; the other two live on.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

DRIVER = r"""
import os, subprocess, sys, time
from lolpim.actors.kernel import ray_reaper
marker = sys.argv[1]
ray_reaper.start(marker)
env = dict(os.environ, **{ray_reaper.MARKER_VAR: marker})
ray_like = subprocess.Popen(["sh", "-c", f"env -u {ray_reaper.MARKER_VAR} sleep 300 & wait"], env=env)
own = subprocess.Popen(["sleep", "300"])
print(ray_like.pid, own.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                if name.isdigit() and int(f.read().rsplit(b")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
        except (OSError, IndexError, ValueError):
            pass
    return out


def test_the_reaper_kills_only_the_processes_of_its_ray(tmp_path):
    log = tmp_path / "raylet.out"            # as a Ray log a user follows
    log.write_text("started\n")
    user = subprocess.Popen(["tail", "-f", str(log)], stdout=subprocess.DEVNULL)
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, f"test-{os.getpid()}-{time.time_ns()}"],
                              stdout=subprocess.PIPE, text=True)
    spare = [user.pid]
    try:
        ray_like, own = map(int, driver.stdout.readline().split())
        spare.append(own)
        deadline = time.monotonic() + 10
        while not _children(ray_like) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker, = _children(ray_like)
        spare.append(worker)
        time.sleep(1.0)                       # a few of the reaper's scans: it has recorded the worker
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (_alive(ray_like) or _alive(worker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(ray_like) and not _alive(worker), "the Ray-like processes outlived the driver"
        time.sleep(0.6)                       # the reaper's last scans
        assert _alive(user.pid), "the user's tail -f of a log was killed"
        assert _alive(own), "a process the driver started outside ray.init was killed"
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in spare:                     # only processes this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        user.wait(timeout=10)
