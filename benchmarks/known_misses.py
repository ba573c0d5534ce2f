"""Record the documented misses of `lolpim validate`: the value each "known miss" row sits at
and the band it may drift within (orchestration/anchors/known_misses.toml).

A documented miss is a result the docs describe with its cause. Recording its value makes it a
result that can fail: once a row leaves its band (the miss grew, shrank or changed sign), the row
is a FAIL in `validate` (exit 1) and in the tests, exactly as a documented miss that starts to pass
is. Re-recording a row is a deliberate act that shows in the diff of the TOML file, next to the
docs change that explains the new value.

    python benchmarks/known_misses.py                  # compare every documented miss with its record
    python benchmarks/known_misses.py --record         # record the rows that have no entry yet
    python benchmarks/known_misses.py --record --rerecord NAME ...   # and re-record these rows
    python benchmarks/known_misses.py --area hardware  # only some areas (as `validate --area`)

Band: the documented value +- 10% of its magnitude, and never narrower than a quarter of the
row's own tolerance (so a miss recorded near zero still has a band in the row's unit).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from lolpim.orchestration.results import write_text
from lolpim.orchestration.validation import KNOWN_MISSES_FILE, all_checks, documented_misses

RELATIVE_BAND = 0.10
MIN_BAND_OF_TOLERANCE = 0.25
HEADER = """\
# Documented misses of `lolpim validate`: for each row whose note starts "known miss", the value
# the docs describe (documented) and the band it may drift within. A documented miss outside its
# band, or with no entry here, is a FAIL (validate exits 1; the anchor tests fail).
# Written by benchmarks/known_misses.py --record; re-record a row only together with the docs
# change that explains its new value.
"""


def band_for(value: float, tolerance: float, error_kind: str, expected: float) -> tuple[float, float]:
    if not math.isfinite(value):     # e.g. an unbounded ratio (nothing to divide by): it must stay so
        return value, value
    width = RELATIVE_BAND * abs(value)
    # the row's tolerance in the row's unit (a relative tolerance is a fraction of the expected value)
    tol_unit = tolerance * abs(expected) if error_kind == "relative" else tolerance
    width = max(width, MIN_BAND_OF_TOLERANCE * tol_unit)
    if width == 0 or not math.isfinite(width):
        width = 1e-9
    return value - width, value + width


def _toml_float(x: float) -> str:
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else f"{x:.6g}"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(entries: dict[str, tuple[float, tuple[float, float]]], path: Path) -> None:
    lines = [HEADER]
    for name in sorted(entries):
        documented, (lo, hi) = entries[name]
        lines += ["[[miss]]", f"name = {_toml_str(name)}", f"documented = {_toml_float(documented)}",
                  f"band = [{_toml_float(lo)}, {_toml_float(hi)}]", ""]
    write_text(path, "\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", action="append", help="only these areas (repeatable)")
    ap.add_argument("--record", action="store_true", help="write entries for documented misses without one")
    ap.add_argument("--od-grid", metavar="JSON", help="read the ocular-dominance grid's experiments from this file "
                    "(docs/figures/od_controls.json, benchmarks/od_controls_grid.py) instead of rerunning them "
                    "(~55 min at K = 32); see orchestration/anchors/plasticity.py OD_GRID_ENV")
    ap.add_argument("--rerecord", nargs="*", default=[], metavar="NAME",
                    help="with --record: also re-record these rows (their current value becomes the documented one)")
    args = ap.parse_args(argv)
    if args.od_grid:
        os.environ["LOLPIM_OD_GRID"] = str(Path(args.od_grid).resolve())
    checks = all_checks(set(args.area) if args.area else None)
    recorded = {name: (m.documented, m.band) for name, m in documented_misses().items()}
    entries = dict(recorded)
    drifted = 0
    for c in checks:
        if not c.documented_as_miss:
            continue
        value = float(c.simulated)
        old = recorded.get(c.name)
        state = "PASSES (update the docs)" if c.passed else "no record" if old is None else (
            "drifted" if c.drifted else "in band")
        drifted += state == "drifted"
        old_text = "" if old is None else f"  documented {old[0]:.4g} [{old[1][0]:.4g}, {old[1][1]:.4g}]"
        print(f"{state:>24}  {value:.4g}{old_text}  {c.name}")
        if args.record and not c.passed and (old is None or c.name in args.rerecord):
            entries[c.name] = (value, band_for(value, c.tolerance, c.error_kind, c.expected))
    unknown = sorted(set(args.rerecord) - {c.name for c in checks})
    if unknown:
        print(f"--rerecord: no such documented miss in the areas run: {unknown}", file=sys.stderr)
        return 2
    if args.record:
        if not args.area:   # every row ran: drop the records of rows that are no longer documented misses
            current = {c.name for c in checks if c.documented_as_miss and not c.passed}
            for name in sorted(set(entries) - current):
                print(f"{'dropped':>24}  {name}")
                del entries[name]
        write(entries, KNOWN_MISSES_FILE)
        print(f"wrote {KNOWN_MISSES_FILE} ({len(entries)} documented misses)")
    return 1 if drifted and not args.record else 0


if __name__ == "__main__":
    sys.exit(main())
