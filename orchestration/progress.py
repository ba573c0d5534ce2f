"""The one progress bar of every command: a line on stderr, shown once a run has taken longer
than a moment.

On a terminal the line is redrawn in place. Elsewhere (a log file, a pipe) a caller that asks
for it (``log_lines``) gets whole lines instead, one per ``log_every`` of the total, or one per
update when ``log_every`` is 0; without it the line is redrawn there too. Commands decide whether
to show it at all (usually: stderr is a terminal, or --progress), so --json output never
carries it.
"""
from __future__ import annotations

import sys
import threading
import time

WIDTH = 30          # characters of the bar
MAX_CHARS = 160     # of the whole line
REDRAW_S = 0.2      # a terminal line is redrawn at most this often


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


class Progress:
    """``update(done, extra)`` reports ``done`` of ``total`` (or a bare count when total is None);
    ``step(extra)`` adds one; ``close()`` ends the line (it may be called more than once).

    ``heartbeat_s``: on a terminal, redraw the last state this often even without updates, so the
    elapsed time moves while one long step runs (validate's anchor modules take minutes)."""

    def __init__(self, label: str, total: float | None = None, unit: str = "", delay_s: float = 1.0,
                 stream=None, enabled: bool = True, log_lines: bool = False, log_every: float = 0.1,
                 heartbeat_s: float | None = None):
        self.label, self.total, self.unit = label, total, unit
        self.delay_s = delay_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.terminal = _is_terminal(self.stream)
        self.lines = log_lines and not self.terminal
        self.log_every = log_every
        self.t0 = time.monotonic()
        self.done, self.extra = 0.0, ""
        self._last_draw = 0.0
        self._logged = -1               # the last multiple of log_every written as a line
        self._shown = False             # a redrawn line is open (close ends it)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = None
        if enabled and heartbeat_s and self.terminal:
            self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat_s,), name="progress",
                                          daemon=True)
            self._beat.start()

    def update(self, done: float, extra: str = "") -> None:
        if not self.enabled:
            return
        with self._lock:
            self.done, self.extra = done, extra
            now = time.monotonic()
            if now - self.t0 < self.delay_s:
                return
            if self.lines:
                self._log_line(now)
            elif now - self._last_draw >= REDRAW_S:
                self._draw(now)

    def step(self, extra: str = "") -> None:
        self.update(self.done + 1, extra)

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        with self._lock:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False

    # --- drawing ------------------------------------------------------------------------------
    def _text(self, now: float) -> str:
        elapsed = now - self.t0
        if self.total:
            frac = min(1.0, self.done / self.total)
            eta = f" eta {elapsed / frac - elapsed:5.1f}s" if frac > 0 else ""
            text = f"{self.label} [{'#' * int(frac * WIDTH):<{WIDTH}}] {frac:6.1%} {self.extra} {elapsed:5.1f}s{eta}"
        else:
            text = f"{self.label} {self.done:.4g}{self.unit} {self.extra} {elapsed:5.1f}s"
        return text[:MAX_CHARS]

    def _draw(self, now: float) -> None:
        # on a terminal, also clear what a longer earlier line left to the right
        self.stream.write("\r" + self._text(now) + ("\033[K" if self.terminal else ""))
        self.stream.flush()
        self._last_draw = now
        self._shown = True

    def _log_line(self, now: float) -> None:
        if self.log_every and self.total:
            step = int(min(1.0, self.done / self.total) / self.log_every)
            if step <= self._logged:
                return
            self._logged = step
        self.stream.write(self._text(now) + "\n")
        self.stream.flush()

    def _heartbeat(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            with self._lock:
                now = time.monotonic()
                if now - self.t0 >= self.delay_s and not self._stop.is_set():
                    self._draw(now)
