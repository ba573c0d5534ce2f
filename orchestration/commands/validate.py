"""`lolpim validate`: every anchor comparison, computed live, in one table."""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from lolpim.core.errors import UserError
from lolpim.orchestration.progress import Progress
from lolpim.orchestration.results import write_csv, write_text
from lolpim.orchestration.validation import (all_checks, allowed_names, area_of, format_table, kind_counts,
                                             select_modules)


def _row(c) -> dict:
    # a failing documented miss: the value the docs describe and the band it may drift within
    # (nulls when never recorded: then the row is a FAIL); null for every other row
    known_miss = None
    if c.documented_as_miss and not c.passed:
        miss = c.documented_miss
        known_miss = {"documented": miss.documented if miss else None, "band": list(miss.band) if miss else None}
    return dict(dataclasses.asdict(c), simulated=float(c.simulated), error=float(c.error), passed=c.passed,
                status=c.status, known_miss=known_miss)


def write_outputs(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "validation.json", out_dir / "validation.csv"]
    write_text(paths[0], json.dumps(rows, indent=1))
    write_csv(paths[1], rows, fields=list(rows[0]) if rows else ["area", "name"])
    return paths


def run(args) -> int:
    names = [n for a in args.area or [] for n in a.split(",") if n.strip()]
    if args.area and not names:    # `--area ,` named nothing: not "every area"
        raise UserError(f"--area {','.join(args.area)!r}: names no area; leave the flag out for every area")
    select_modules(names)                       # an unknown area exits 2 before anything runs
    # which anchor module runs (one can take minutes: the LoL-PIM traces, the plasticity networks):
    # on a terminal a line redrawn every second, elsewhere (--progress) one line per module
    bar = Progress("validate", delay_s=0.0, enabled=args.progress or sys.stderr.isatty(), log_lines=True,
                   log_every=0, heartbeat_s=1.0)

    def report(i: int, n: int, module: str | None) -> None:
        if module is None:
            bar.close()
            if bar.enabled:
                sys.stderr.write(f"validate: {n} modules in {time.monotonic() - bar.t0:.0f} s\n")
            return
        bar.total = n
        area = area_of(module)
        bar.update(i, f"[{i + 1}/{n}] {area if area == module else f'{area}: {module}'}")
    try:
        checks = all_checks(set(names) or None, progress=report)
    finally:
        bar.close()     # after an error, the message then starts on a line of its own
    rows = [_row(c) for c in checks]
    files = write_outputs(rows, Path(args.out)) if args.out else []
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(format_table(checks))
        passed = sum(c.passed for c in checks)
        known = sum(c.known_miss for c in checks)
        print(f"\n{passed} passed, {known} known misses (MISS*, reasons above), "
              f"{len(checks) - passed - known} failed"
              + ("" if args.out else "; whole names and sources: --json or --out DIR"))
        # only held-out rows are validation; calibration rows were fitted, consistency rows check
        # the model against itself (docs/anchors.md)
        print(f"rows by kind: {kind_counts(checks)}")
        for f in files:
            print(f"wrote {f}")
    # exit 1 for any failure, including a documented miss that drifted out of its recorded band
    return 0 if all(c.passed or c.known_miss for c in checks) else 1


def register(sub) -> None:
    p = sub.add_parser("validate", help="compare the models with every published/measured anchor",
                       description="Compare the models with every published or measured anchor, computed "
                                   "live (a few minutes in all: lolpim and plasticity take the longest). "
                                   "Exit 0 when every row passes or is a documented miss (MISS*), 1 otherwise.")
    p.add_argument("--area", action="append", metavar="AREA",
                   help=f"only this area, as shown in the table's first column (repeatable or "
                        f"comma-separated): {allowed_names()}; e.g. --area hardware")
    p.add_argument("--json", action="store_true", help="machine-readable output: every row in full")
    p.add_argument("--out", metavar="DIR", help="write validation.json and validation.csv (every row in full) here")
    p.add_argument("--progress", action="store_true",
                   help="report each module on stderr even when it is not a terminal")
    p.set_defaults(func=run)
