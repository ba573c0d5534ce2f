"""Registry of anchor comparisons: every published or measured figure the project checks.

Each module in orchestration/anchors/ exposes ``checks() -> list[AnchorCheck]``; the
validation tests assert the same objects, and `lolpim validate` prints them all.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lolpim.core.compat import StrEnum
from lolpim.core.errors import UserError
from lolpim.core.presets import read_toml
from lolpim.orchestration import anchors
from lolpim.orchestration.anchors import AREAS


class RowKind(StrEnum):
    """What a row is evidence of. Only held-out rows are validation; the README and docs quote
    only those as such."""
    CALIBRATION = "calibration"   # the model (a parameter named in the row's source) was fitted to this target
    HELD_OUT = "held-out"         # an independent figure no parameter was chosen on
    CONSISTENCY = "consistency"   # the model against itself, an input restated, or a bound


KINDS = tuple(k.value for k in RowKind)


class ErrorKind(StrEnum):
    """How a row's error is measured and when it passes."""
    RELATIVE = "relative"   # (simulated - expected) / expected, |.| <= tolerance (a fraction)
    ABSOLUTE = "absolute"   # simulated - expected, |.| <= tolerance
    BOUND = "bound"         # simulated within [expected - tolerance, expected + tolerance]
    AT_MOST = "at_most"     # one-sided: simulated <= expected + tolerance (nan fails)


# The value each documented miss ("known miss: ..." in its note) was recorded at and the band it may
# drift within: a miss that moves outside its band is a FAIL, exactly like a pass that was expected
# to miss, so a documented miss cannot grow unnoticed. benchmarks/known_misses.py records them.
KNOWN_MISSES_FILE = Path(__file__).parent / "anchors" / "known_misses.toml"
MISS_NOTE = "known miss"   # how a documented miss's note begins (AnchorCheck.documented_as_miss says it is one)


@dataclass(frozen=True)
class DocumentedMiss:
    documented: float                # the value the docs describe
    band: tuple[float, float]        # [lo, hi]: where the row may sit and still be that miss


@lru_cache(maxsize=1)
def documented_misses() -> dict[str, DocumentedMiss]:
    table = read_toml(KNOWN_MISSES_FILE, "known_misses.toml") if KNOWN_MISSES_FILE.exists() else {}
    out = {}
    for entry in table.get("miss", []):
        lo, hi = entry["band"]
        out[entry["name"]] = DocumentedMiss(float(entry["documented"]), (float(lo), float(hi)))
    return out


@dataclass(frozen=True)
class AnchorCheck:
    area: str            # "hardware", "kernel", "lolpim", "plasticity", ...
    name: str            # what is compared, one line
    source: str          # paper / table / figure, or "measured here: <file>"
    expected: float      # the published or measured figure
    simulated: float     # what our model gives, computed live
    tolerance: float     # allowed |error|, in the unit of ``error_kind``
    error_kind: ErrorKind = ErrorKind.RELATIVE   # a string ("bound") is taken as its member
    unit: str = ""
    note: str = ""
    kind: RowKind | str = ""   # a RowKind (its string is taken too); all_checks refuses a row without one
    # a documented miss: the row misses for the cause its note states ("known miss: <cause>"), within
    # the band recorded for it (KNOWN_MISSES_FILE)
    documented_as_miss: bool = False

    def __post_init__(self):
        try:
            object.__setattr__(self, "error_kind", ErrorKind(self.error_kind))
        except ValueError:
            raise ValueError(f"anchor row {self.name!r}: error_kind {self.error_kind!r} is not one of "
                             f"{', '.join(ErrorKind)}") from None
        if self.kind:
            if self.kind not in KINDS:
                raise ValueError(f"anchor row {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
            object.__setattr__(self, "kind", RowKind(self.kind))
        # the flag decides; the note says it to a reader, so the two may never disagree
        if self.documented_as_miss != self.note.startswith(MISS_NOTE):
            raise ValueError(f"anchor row {self.name!r}: a documented miss (documented_as_miss=True), and only "
                             f"one, has a note starting {MISS_NOTE!r} that gives its cause")

    @property
    def documented_miss(self) -> DocumentedMiss | None:
        """The recorded value and drift band of a documented miss (None: not recorded)."""
        return documented_misses().get(self.name) if self.documented_as_miss else None

    @property
    def drifted(self) -> bool:
        """A documented miss that fails outside its recorded band (or was never recorded): a FAIL."""
        if not self.documented_as_miss or self.passed:
            return False
        miss = self.documented_miss
        value = float(self.simulated)
        return miss is None or not (miss.band[0] <= value <= miss.band[1])

    @property
    def error(self) -> float:
        if self.error_kind == ErrorKind.RELATIVE:
            return (self.simulated - self.expected) / self.expected if self.expected else math.inf
        return self.simulated - self.expected

    @property
    def known_miss(self) -> bool:
        """A documented miss: the row fails for a reason stated in ``note``, within the band
        recorded for it (tests keep it xfail); outside the band it is a FAIL."""
        return bool(self.documented_as_miss and not self.passed and not self.drifted)

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "MISS*" if self.known_miss else "FAIL"

    @property
    def passed(self) -> bool:
        if self.error_kind == ErrorKind.BOUND:  # simulated must lie in [expected - tol, expected + tol]
            return bool(abs(self.simulated - self.expected) <= self.tolerance)
        if self.error_kind == ErrorKind.AT_MOST:  # one-sided: simulated <= expected + tol (nan fails)
            return bool(self.simulated <= self.expected + self.tolerance)
        return bool(abs(self.error) <= self.tolerance)


def anchor_modules() -> list[str]:
    """The modules in orchestration/anchors/, found without importing them."""
    return sorted(m.name for m in pkgutil.iter_modules(anchors.__path__))


def area_of(module: str) -> str:
    return next((area for area, modules in AREAS.items() if module in modules), module)


def areas() -> dict[str, list[str]]:
    """Area -> its modules, for every module present (one not in AREAS is its own area)."""
    out: dict[str, list[str]] = {}
    for module in anchor_modules():
        out.setdefault(area_of(module), []).append(module)
    return dict(sorted(out.items()))


def allowed_names() -> str:
    """The values --area takes, in words: the areas, then the modules that split one."""
    split = [m for a, ms in areas().items() for m in ms if m != a]
    return ", ".join(areas()) + (f" (or one module: {', '.join(split)})" if split else "")


def select_modules(names) -> list[str]:
    """The modules named by areas or module names; UserError naming the allowed values otherwise."""
    table = areas()
    if not names:
        return anchor_modules()
    wanted: set[str] = set()
    for name in names:
        key = name.strip().lower()
        if key in table:
            wanted.update(table[key])
        elif key in anchor_modules():
            wanted.add(key)
        else:
            raise UserError(f"unknown --area '{name}': choose from {allowed_names()}")
    return [m for m in anchor_modules() if m in wanted]


def all_checks(areas: set[str] | None = None, progress=None) -> list[AnchorCheck]:
    """Every check of the selected areas (or module names); ``progress(i, n, module)`` is called
    before module i of n runs, and ``progress(n, n, None)`` at the end."""
    modules = select_modules(sorted(areas) if areas else None)
    out: list[AnchorCheck] = []
    for i, name in enumerate(modules):
        if progress:
            progress(i, len(modules), name)
        module = importlib.import_module(f"{anchors.__name__}.{name}")
        rows = module.checks()
        unlabelled = [c.name for c in rows if not c.kind]
        if unlabelled:   # every row says what it is evidence of (docs/anchors.md)
            raise ValueError(f"anchors/{name}.py returns rows without a kind (calibration, held-out, "
                             f"consistency): {unlabelled[:3]}")
        wrong = sorted({c.area for c in rows} - {area_of(name)})
        if wrong:  # the table's area column must select the row with --area
            raise ValueError(f"anchors/{name}.py returns area {wrong} but is listed under "
                             f"'{area_of(name)}' in anchors/__init__.py AREAS")
        out.extend(rows)
    if progress:
        progress(len(modules), len(modules), None)
    return out


TABLE_WIDTH = 120
HEADER = ("area", "check", "src", "expected", "simulated", "error", "tol", "kind", "ok")
NAME_LINES = 2   # a check name longer than its column wraps onto this many lines, then is cut


def _cells(c: AnchorCheck) -> tuple[str, ...]:
    relative = c.error_kind == ErrorKind.RELATIVE
    err = f"{c.error:+.1%}" if relative else f"{c.error:+.3g}"
    tol = f"{c.tolerance:.0%}" if relative else f"{c.tolerance:.3g}"
    at_most = "<=" if c.error_kind == ErrorKind.AT_MOST else ""
    return (c.area, c.name, c.source, f"{at_most}{c.expected:.4g}{c.unit}", f"{c.simulated:.4g}{c.unit}",
            err, tol, c.kind or "?", c.status)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def format_table(checks: list[AnchorCheck], width: int = TABLE_WIDTH) -> str:
    """The table, each line at most ``width`` columns. The source column holds a key, [1], [2], ...
    into the list of sources below the table; a check name too long for its column wraps onto
    NAME_LINES lines and is then cut (ending in "..."): `--json` / `--out` keep it whole. The kind
    column says what each row is evidence of (docs/anchors.md). Known misses follow with their
    reasons, wrapped."""
    sources = list(dict.fromkeys(c.source for c in checks))
    key = {src: f"[{i + 1}]" for i, src in enumerate(sources)}
    rows = [HEADER] + [tuple(key[cell] if j == 2 else cell for j, cell in enumerate(_cells(c))) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    room = width - 2 * (len(HEADER) - 1) - sum(w for i, w in enumerate(widths) if i != 1)
    widths[1] = max(len(HEADER[1]), min(widths[1], room))
    lines = []
    for r in rows:
        name = textwrap.wrap(r[1], widths[1], max_lines=NAME_LINES, placeholder="...") or [""]
        for k, part in enumerate(name):
            cells = [part if j == 1 else (cell if k == 0 else "") for j, cell in enumerate(r)]
            lines.append("  ".join(_clip(cell, w).ljust(w) for cell, w in zip(cells, widths)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    if sources:
        lines += ["", "sources:"]
        for src in sources:
            lines += textwrap.wrap(f"{key[src]:>5} {src}", width, subsequent_indent=" " * 6)
    misses = [c for c in checks if c.known_miss or c.drifted]
    if misses:
        lines.append("")
        for c in misses:
            lines += textwrap.wrap(f"{c.status} {c.name}: {_miss_text(c)}", width, subsequent_indent=" " * 6)
    return "\n".join(line[:width] for line in lines)


def _miss_text(c: AnchorCheck) -> str:
    miss = c.documented_miss
    if miss is None:
        return f"documented miss with no recorded value (benchmarks/known_misses.py records it); {c.note}"
    where = f"documented {miss.documented:.4g}, band [{miss.band[0]:.4g}, {miss.band[1]:.4g}]"
    if c.drifted:
        return f"drifted out of its band: now {float(c.simulated):.4g}, {where}; {c.note}"
    return f"{c.note} ({where})"


def kind_counts(checks: list[AnchorCheck]) -> str:
    """Rows per area and kind, e.g. 'lolpim: 3 held-out, 20 consistency, 7 calibration'."""
    out = []
    for area in dict.fromkeys(c.area for c in checks):
        rows = [c for c in checks if c.area == area]
        parts = [f"{sum(c.kind == k for c in rows)} {k}" for k in RowKind if any(c.kind == k for c in rows)]
        missing = sum(not c.kind for c in rows)
        out.append(f"{area}: " + ", ".join(parts + ([f"{missing} without a kind"] if missing else [])))
    return "; ".join(out)
