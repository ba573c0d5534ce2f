"""A small progress bar on stderr, shown only once a run has taken longer than a moment."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: float | None = None, unit: str = "", delay_s: float = 1.0,
                 stream=None, enabled: bool = True):
        self.label, self.total, self.unit = label, total, unit
        self.delay_s = delay_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._shown = False

    def update(self, done: float, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.t0 < self.delay_s or now - self._last_draw < 0.2:
            return
        self._last_draw = now
        self._shown = True
        elapsed = now - self.t0
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            eta = elapsed / frac - elapsed if frac > 0 else float("nan")
            text = f"\r{self.label} [{bar:<30}] {frac:6.1%} {extra} {elapsed:5.1f}s eta {eta:5.1f}s"
        else:
            text = f"\r{self.label} {done:.4g}{self.unit} {extra} {elapsed:5.1f}s"
        self.stream.write(text[:160])
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
