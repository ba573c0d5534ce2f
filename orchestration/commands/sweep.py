"""`lolpim sweep SWEEP.toml`: run a parameter grid as Ray tasks, resumably.

Every finished point is appended to the results file (JSON lines) at once; a rerun skips
the points already there, so Ctrl-C or a crash costs only the points in flight. The results
file (and its lock) goes under results/ in the working directory unless --results or the
sweep file's 'results' key says otherwise; when the sweep ends the driver prints its table
and then the points that could not run, with their reasons.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from lolpim.core.errors import UserError
from lolpim.orchestration import interrupts
from lolpim.orchestration.llm.api import sweep
from lolpim.orchestration.progress import Progress


def run(args) -> int:
    show = (not args.json and sys.stderr.isatty()) or args.progress
    bar = Progress("sweep", total=1.0, enabled=show, delay_s=0.0)
    try:   # the same call as lolpim.sweep's
        done = sweep(args.sweep, config=args.config, results=args.results, serial=args.serial, address=args.address,
                     max_in_flight=args.max_in_flight, retry_errors=args.retry_errors,
                     progress=lambda finished, total: bar.update(finished / total, f"{finished}/{total} points"))
    finally:
        bar.close()
    report = done.report
    # stop the embedded Ray now, in the open: left to the interpreter's exit after a SIGTERM or
    # Ctrl-C had cancelled its tasks, its shutdown could crash the process
    interrupts.stop_embedded_ray(after_stop=report.interrupted)
    results = Path(report.results)
    if args.json:
        print(done.to_json())
    else:
        if results.exists():
            print(done.table())
            print()
        print(f"{report.results}: {report.points} points, {report.skipped} already done, {report.ran} run now "
              f"({report.errors} errors), {report.wall_s:.1f} s")
        if report.failed:
            print(f"{len(report.failed)} point(s) cannot run (recorded, not retried without --retry-errors):")
            for f in report.failed:
                print(f"  {json.dumps(f['point'])}: {f['error']}")
    if report.interrupted:
        print(f"lolpim: {interrupts.stopped_by()}: finished points are saved; run the same command again to "
              f"continue", file=sys.stderr)
        return interrupts.exit_code()
    if not results.exists() and report.points:
        raise UserError(f"no results were written to {results}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter grid (system x model x modules x context x ...) as Ray tasks")
    p.add_argument("sweep", help="sweep file (TOML): [grid] axes, [[baseline]] fixed systems, "
                        "[[points]] explicit points, optional [set] keys, seed, config, results")
    p.add_argument("--results", default=None,
                   help="results file (JSON lines; its lock sits beside it); default: the sweep file's 'results' key "
                        "(under results/), else results/SWEEP-NAME.jsonl")
    p.add_argument("--config", default=None,
                   help="base RunConfig file (TOML) for every point, anywhere; default: the sweep file's 'config' "
                        "key (a file in the sweep file's folder)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to run on (e.g. 'auto'); default: an embedded local Ray")
    p.add_argument("--serial", action="store_true", help="run the points one by one in this process, without Ray")
    p.add_argument("--max-in-flight", type=int, default=None,
                   help="points queued on Ray at once (default: twice the cluster's CPUs)")
    p.add_argument("--retry-errors", action="store_true", help="run again the points recorded with an error")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=run)
