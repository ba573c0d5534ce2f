"""Makes the embedded Ray die with the process that started it (issue 14).

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
- ``tell(session_dir)`` (after ``ray.init``) sends the Ray session folder down the pipe. Every
  Ray process of that session names it on its command line or holds a file in it open (its log
  files, its stdout and stderr), also once it has renamed itself to ``ray::...``.
- Processes started during ``ray.init`` also carry ``marker`` in their environment, for a driver
  killed before it could tell the session folder. (Only a fallback: a process that renames itself
  may overwrite the start of its environment block, so the variable is not always still there.)
- On end-of-file the reaper SIGKILLs every process matching either, until two scans in a row
  find none (a worker the raylet was starting meanwhile is caught too).

Linux only (it reads /proc); elsewhere ``start`` does nothing. The script imports the standard
library only and runs with ``python -I``, so it costs ~20 ms and never imports the project.
"""
from __future__ import annotations

import os
import signal
import sys
import time

MARKER_VAR = "LOLPIM_RAY_OWNER"          # name of the environment variable carrying the marker
SCAN_PAUSE_S = 0.2                        # between two scans once the driver is gone
GIVE_UP_AFTER_S = 20.0                    # a process that survives SIGKILL this long is not ours to wait for

_pipe: list = []      # the pipe's write end, open for as long as this process lives


def _forget_in_child() -> None:
    # a forked child is not the driver: holding the write end would keep the reaper waiting for
    # the child too, and what the child tells would be taken as the parent's
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
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", os.path.abspath(__file__), MARKER_VAR, marker],
                             {k: v for k, v in os.environ.items() if k != MARKER_VAR},
                             file_actions=actions, setsid=True)
    finally:
        os.close(read_fd)
        os.close(devnull)
    _pipe.append(write_fd)
    return pid


def tell(session_dir: str) -> None:
    """Add a Ray session folder whose processes die with this one (no-op without a reaper)."""
    if _pipe and session_dir and "\n" not in session_dir:
        try:
            os.write(_pipe[0], os.fsencode(os.path.abspath(session_dir)) + b"\n")
        except OSError:       # the reaper is gone (killed by hand): nothing left to tell
            pass


def _matches(pid: str, needle: bytes, folders: list[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if needle in f.read().split(b"\0"):
                return True
        if not folders:
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        # the folder itself (--session-dir=F) or a path in it: a session whose name merely
        # starts with this one's is another session
        if any(a.endswith(d) or d + b"/" in a for a in args for d in folders):
            return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.fsencode(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if any(target.startswith(d + b"/") for d in folders):
                return True
    except OSError:          # gone meanwhile, or another user's process: not ours
        pass
    return False


def ours(needle: bytes, folders: list[bytes]) -> list[int]:
    """Live processes (not this one) with ``needle`` in their environment or naming one of ``folders``."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) != me and _matches(p, needle, folders)]


def reap(var: str, marker: str, folders: list[bytes]) -> int:
    """SIGKILL every process of ours; returns how many signals were sent."""
    needle = f"{var}={marker}".encode()
    killed, quiet, deadline = 0, 0, time.monotonic() + GIVE_UP_AFTER_S
    while quiet < 2 and time.monotonic() < deadline:
        pids = ours(needle, folders)
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
    var, marker = argv
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    received = b""
    while True:              # blocks until the driver's end of the pipe closes
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    folders = [line for line in received.split(b"\n") if line.startswith(b"/")]
    reap(var, marker, folders)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
