"""Registry of anchor comparisons: every published or measured figure the project checks.

Each module in orchestration/anchors/ exposes ``checks() -> list[AnchorCheck]``; the
validation tests assert the same objects, and `lolpim validate` prints them all.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class AnchorCheck:
    area: str            # "hardware", "kernel", "lolpim", "plasticity", ...
    name: str            # what is compared, one line
    source: str          # paper / table / figure, or "measured here: <file>"
    expected: float      # the published or measured figure
    simulated: float     # what our model gives, computed live
    tolerance: float     # allowed |error|, in the unit of ``error_kind``
    error_kind: str = "relative"   # "relative" (fraction), "absolute", "bound", or "at_most"
    unit: str = ""
    note: str = ""

    @property
    def error(self) -> float:
        if self.error_kind == "relative":
            return (self.simulated - self.expected) / self.expected if self.expected else math.inf
        return self.simulated - self.expected

    @property
    def known_miss(self) -> bool:
        """A documented miss: the row fails for a reason stated in ``note`` (tests keep it xfail)."""
        return bool(self.note.startswith("known miss") and not self.passed)

    @property
    def passed(self) -> bool:
        if self.error_kind == "bound":  # simulated must lie in [expected - tol, expected + tol]
            return bool(abs(self.simulated - self.expected) <= self.tolerance)
        if self.error_kind == "at_most":  # one-sided: simulated <= expected + tol (nan fails)
            return bool(self.simulated <= self.expected + self.tolerance)
        return bool(abs(self.error) <= self.tolerance)


def all_checks(areas: set[str] | None = None) -> list[AnchorCheck]:
    from . import anchors
    out: list[AnchorCheck] = []
    for info in sorted(pkgutil.iter_modules(anchors.__path__), key=lambda m: m.name):
        if areas and info.name not in areas:
            continue
        module = importlib.import_module(f"{anchors.__name__}.{info.name}")
        out.extend(module.checks())
    return out


def format_table(checks: list[AnchorCheck]) -> str:
    header = ("area", "check", "source", "expected", "simulated", "error", "tol", "ok")
    rows = [header]
    for c in checks:
        err = f"{c.error:+.1%}" if c.error_kind == "relative" else f"{c.error:+.3g}"
        tol = f"{c.tolerance:.0%}" if c.error_kind == "relative" else f"{c.tolerance:.3g}"
        at_most = "<=" if c.error_kind == "at_most" else ""
        rows.append((c.area, c.name, c.source, f"{at_most}{c.expected:.4g}{c.unit}",
                     f"{c.simulated:.4g}{c.unit}", err, tol,
                     "PASS" if c.passed else "MISS*" if c.known_miss else "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    misses = [c for c in checks if c.known_miss]
    if misses:
        lines.append("")
        lines += [f"MISS* {c.name}: {c.note}" for c in misses]
    return "\n".join(lines)
