"""Makes the embedded Ray die with the process that started it (issues 14 and 26).

Ray binds the processes ray.init starts (GCS server, raylet, monitor, dashboard head) to the
driver with Linux's parent-death signal, so they die with it. The processes the raylet starts
(the dashboard agent, the runtime-env agent, idle and actor workers) only notice that the raylet
is gone, then try to report it to the dead GCS: after a driver SIGKILL they were still alive
15 s and 37 s later (Ray 2.60; gone after a minute or two). Ray has no option to run without
those agents (include_dashboard=False still starts both), and the parent-death signal reaches
only direct children, so a tiny outside process does it:

- ``start(marker)`` (in the driver, before ``ray.init``) spawns this file as its own script, in
  its own session (a Ctrl-C or hang-up of the terminal does not reach it), with the read end of
  a pipe as stdin. The driver holds the write end, which nothing else inherits; when the driver
  exits in any way, SIGKILL included, the kernel closes it and the reaper reads end-of-file.
- The processes ray.init starts carry ``marker`` in their environment (the driver sets it only
  around ray.init). While the driver lives, the reaper scans /proc now and then and records, by
  pid and start time, every process carrying the marker and every descendant of one it has
  recorded (Ray's workers are the raylet's children; one that renamed itself to ``ray::...``
  may have overwritten its environment, its ancestry still names it).
- On end-of-file the reaper SIGKILLs every recorded process still alive with the same start
  time (so a pid reused by another process is never hit), their descendants, and any process
  carrying the marker, until two scans in a row find none (a worker the raylet was starting
  meanwhile is caught too).

Nothing else is ever killed: not a process that merely keeps a file of the Ray session folder
open (a user's ``tail -f`` of a Ray log; the folder is world-writable), nor one the driver
started itself outside ray.init. (Issue 26: an earlier version matched the session folder.)
The one process it can miss is a worker started within the last scan pause before the driver
died that overwrote its marker: Ray's own timeout ends it a minute or so later.

Linux only (it reads /proc); elsewhere ``start`` does nothing. The script imports the standard
library only and runs with ``python -I``, so it costs ~20 ms to start and one /proc scan a
second (a few ms) while Ray runs, and never imports the project.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time

MARKER_VAR = "LOLPIM_RAY_OWNER"          # name of the environment variable carrying the marker
FIRST_SCANS_S = 0.25                      # between two scans while Ray starts its processes
LATER_SCANS_S = 1.0                       # between two scans after that
FAST_FOR_S = 15.0                         # how long the reaper scans at the first pace
SCAN_PAUSE_S = 0.2                        # between two scans once the driver is gone
GIVE_UP_AFTER_S = 20.0                    # a process that survives SIGKILL this long is not ours to wait for

_pipe: list = []      # the pipe's write end, open for as long as this process lives


def _forget_in_child() -> None:
    # a forked child is not the driver: holding the write end would keep the reaper waiting for
    # the child too
    while _pipe:
        try:
            os.close(_pipe.pop())
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def started() -> bool:
    """Whether this process has a reaper (a forked child has none of its own yet)."""
    return bool(_pipe)


def start(marker: str):
    """Spawn the reaper for ``marker``; returns its pid, or None where it cannot work (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    read_fd, write_fd = os.pipe()           # both close-on-exec: no Ray process inherits the write end
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        # stdout/stderr to /dev/null: holding the driver's own pipes would keep a caller that
        # reads them (subprocess.run) waiting until the reaper exits
        actions = [(os.POSIX_SPAWN_DUP2, read_fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                   (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", os.path.abspath(__file__), MARKER_VAR, marker,
                                              str(os.getpid())],
                             {k: v for k, v in os.environ.items() if k != MARKER_VAR},
                             file_actions=actions, setsid=True)
    finally:
        os.close(read_fd)
        os.close(devnull)
    _pipe.append(write_fd)
    return pid


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()   # the name, in (), may hold spaces
    except OSError:
        return None
    if fields[0] in (b"Z", b"X"):    # a zombie is dead already, only not yet waited for
        return None
    return int(fields[1]), int(fields[19])


def _has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:          # gone meanwhile, or another user's process: not ours
        return False


class Tracker:
    """The processes of one embedded Ray: those carrying ``needle`` (VAR=marker) in their
    environment and their descendants, each known by pid and start time."""

    def __init__(self, needle: bytes, exclude=()):
        self.needle = needle
        self.exclude = {os.getpid(), *exclude}
        self.known: dict[int, int] = {}        # pid -> start time
        self.checked: set = set()              # (pid, start) whose environment was read

    def scan(self) -> list[int]:
        """Record what is ours now; return the pids of ours that are alive."""
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) not in self.exclude:
                st = _stat(name)
                if st is not None:
                    table[int(name)] = st
        # an environment is read once per process (by pid and start time): few are new each scan
        self.checked &= {(pid, start) for pid, (_, start) in table.items()}
        for pid, (_, start) in table.items():
            if (pid, start) not in self.checked:
                self.checked.add((pid, start))
                if _has(pid, self.needle):
                    self.known[pid] = start
        self.known = {pid: start for pid, start in self.known.items() if table.get(pid, (0, None))[1] == start}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(self.known)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in self.known:
                    self.known[child] = table[child][1]
                    todo.append(child)
        return list(self.known)


def reap(tracker: Tracker) -> int:
    """SIGKILL every process of ours; returns how many signals were sent."""
    killed, quiet, deadline = 0, 0, time.monotonic() + GIVE_UP_AFTER_S
    while quiet < 2 and time.monotonic() < deadline:
        pids = tracker.scan()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        quiet = 0 if pids else quiet + 1
        time.sleep(SCAN_PAUSE_S)
    return killed


def _main(argv: list[str]) -> int:
    var, marker, driver = argv
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    tracker = Tracker(f"{var}={marker}".encode(), exclude={int(driver)})
    t0 = time.monotonic()
    while True:              # until the driver's end of the pipe closes, recording what is ours
        pause = FIRST_SCANS_S if time.monotonic() - t0 < FAST_FOR_S else LATER_SCANS_S
        try:
            ready, _, _ = select.select([0], [], [], pause)
            if ready and not os.read(0, 65536):
                break
        except InterruptedError:
            continue
        except OSError:
            break
        tracker.scan()
    reap(tracker)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
