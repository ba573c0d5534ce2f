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

from lolpim.core.errors import UserError
from lolpim.orchestration import anchors
from lolpim.orchestration.anchors import AREAS


KINDS = ("calibration", "held-out", "consistency")


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
    # optional: what the row is to the model's parameters. "calibration": a parameter was chosen
    # on it; "held-out": no parameter was chosen on it; "consistency": the model against itself or
    # a bound (not a published figure). Empty where an area does not label its rows yet.
    kind: str = ""

    def __post_init__(self):
        if self.kind not in ("",) + KINDS:
            raise ValueError(f"AnchorCheck kind must be one of {KINDS} or empty, got {self.kind!r}")

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
        wrong = sorted({c.area for c in rows} - {area_of(name)})
        if wrong:  # the table's area column must select the row with --area
            raise ValueError(f"anchors/{name}.py returns area {wrong} but is listed under "
                             f"'{area_of(name)}' in anchors/__init__.py AREAS")
        out.extend(rows)
    if progress:
        progress(len(modules), len(modules), None)
    return out


TABLE_WIDTH = 120
HEADER = ("area", "check", "src", "expected", "simulated", "error", "tol", "ok")
NAME_LINES = 2   # a check name longer than its column wraps onto this many lines, then is cut


def _cells(c: AnchorCheck, with_kind: bool = False) -> tuple[str, ...]:
    err = f"{c.error:+.1%}" if c.error_kind == "relative" else f"{c.error:+.3g}"
    tol = f"{c.tolerance:.0%}" if c.error_kind == "relative" else f"{c.tolerance:.3g}"
    at_most = "<=" if c.error_kind == "at_most" else ""
    cells = (c.area, c.name, c.source, f"{at_most}{c.expected:.4g}{c.unit}", f"{c.simulated:.4g}{c.unit}",
             err, tol, "PASS" if c.passed else "MISS*" if c.known_miss else "FAIL")
    return cells + ((c.kind or "-",) if with_kind else ())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 0)] + "..."


def format_table(checks: list[AnchorCheck], width: int = TABLE_WIDTH) -> str:
    """The table, each line at most ``width`` columns. The source column holds a key, [1], [2], ...
    into the list of sources below the table; a check name too long for its column wraps onto
    NAME_LINES lines and is then cut (ending in "..."): `--json` / `--out` keep it whole. Known
    misses follow with their reasons, wrapped. When any row has a kind (calibration, held-out,
    consistency), a last column shows it ("-" for a row without one)."""
    sources = list(dict.fromkeys(c.source for c in checks))
    key = {src: f"[{i + 1}]" for i, src in enumerate(sources)}
    with_kind = any(c.kind for c in checks)
    header = HEADER + (("kind",) if with_kind else ())
    rows = [header] + [tuple(key[cell] if j == 2 else cell for j, cell in enumerate(_cells(c, with_kind)))
                       for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    room = width - 2 * (len(header) - 1) - sum(w for i, w in enumerate(widths) if i != 1)
    widths[1] = max(len(header[1]), min(widths[1], room))
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
    misses = [c for c in checks if c.known_miss]
    if misses:
        lines.append("")
        for c in misses:
            lines += textwrap.wrap(f"MISS* {c.name}: {c.note}", width, subsequent_indent=" " * 6)
    return "\n".join(line[:width] for line in lines)
