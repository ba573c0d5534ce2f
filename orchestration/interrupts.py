"""SIGTERM handled as Ctrl-C (issue 26): a `kill`, a service manager or a batch system stopping
a run gets what Ctrl-C gets -- the finished work written and kept, one line saying what
finished, exit code 143 (128 + SIGTERM; 130 for Ctrl-C) -- instead of Python's default (die at
once, nothing written) or the embedded Ray's handler (exit 15 after a C++ stack dump).

The CLI installs the handler around every command (``sigterm_as_ctrl_c``); it raises
``Terminated``, a KeyboardInterrupt, so every path that keeps finished work on Ctrl-C keeps it
on SIGTERM too. ensure_ray puts it back after ray.init, which replaces it.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading

_state = {"sigterm": False, "ray_starts_before": 0}


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled as Ctrl-C."""


def _on_sigterm(signum, frame):
    _state["sigterm"] = True
    raise Terminated("SIGTERM")


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within the block SIGTERM raises ``Terminated`` in the main thread (only the main thread
    can set a handler: elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["sigterm"] = False
    _state["ray_starts_before"] = _ray_starts()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code() -> int:
    """The exit code of a stopped command: 143 after SIGTERM, 130 after Ctrl-C."""
    return 128 + signal.SIGTERM if _state["sigterm"] else 130


def stopped_by() -> str:
    """How the command was stopped, for its one line: 'terminated (SIGTERM)' or 'interrupted'."""
    return "terminated (SIGTERM)" if _state["sigterm"] else "interrupted"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """'<type>: <first line of the message>' of ``exc``, at most ``limit`` characters: Ray's
    messages run to dozens of lines."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def ray_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is Ray's own failure (a lost raylet, actor or object), not the program's.
    An exception raised by our code in a Ray process comes back as a RayTaskError: ours."""
    if getattr(exc, "ray_failure", False):
        return True
    mro = [c for c in type(exc).__mro__ if c.__module__.split(".")[0] == "ray"]
    return bool(mro) and not any(c.__name__ == "RayTaskError" for c in mro)


def stop_embedded_ray(after_stop: bool = False) -> None:
    """Shut down the embedded Ray this process started, if any, and wait for it. ``after_stop``:
    the command was stopped (SIGTERM, Ctrl-C) with Ray tasks running; then Ray is not shut down
    but left at exit (os._exit): its shutdown, or the interpreter's last steps, with tasks cut
    off could crash the process (SIGSEGV, exit -11, or a failed Ray check) after its last line.
    The reaper (actors/kernel/ray_reaper.py) and Ray's parent-death signal take its processes
    with this one. Never imports Ray itself."""
    module = sys.modules.get("lolpim.actors.kernel.ray_executor")
    if module is None or "ray" not in sys.modules:
        return
    if after_stop and _ray_starts() > _state["ray_starts_before"]:   # this command started a Ray,
        atexit.register(_exit_now)      # maybe half-way (stopped in ray.init): runs before Ray's atexit
        return
    if not module._embedded["started"]:
        return
    stopping = module.shutdown_embedded_ray()
    if stopping is not None:
        stopping.join()


def _ray_starts() -> int:
    """How many embedded Rays this process has started (0 when Ray was never loaded)."""
    module = sys.modules.get("lolpim.actors.kernel.ray_executor")
    return module._embedded["starts"] if module is not None else 0


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(exit_code())
