"""What one conservative window costs the Ray executor's driver (issue 24), at P = 1, 2, 4 processes.

The workload is a grid of tile actors (actors/demo/grid.py) with nearest-neighbour spikes in
every window: the shape of the cortical sheet. ``--system module:function`` points it at any
other system (a function returning a SystemSpec, e.g. the sheet once it exists).

Printed per P (a warm run: the processes are started by a first, unmeasured run):
  driver calls per window, bytes through the driver per window (call arguments + replies),
  the driver's CPU time per window (its main thread), cross-process events per window,
  wall time, events/s, and the inline run's wall time beside it.
Counts and bytes do not depend on the machine's load; CPU and wall time do (the load is printed).

Run:  .venv/bin/python benchmarks/window_cost.py [--routing push|driver] [--processes 1,2,4] [--json]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import time

from lolpim.actors.demo.grid import GridShape
from lolpim.actors.kernel.inline import InlineExecutor


def load_system(ref: str | None, shape: GridShape):
    if not ref:
        return shape.system()
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)()


def measure(system, processes: list[int], routing: str, repeats: int = 1) -> dict:
    from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
    t = time.perf_counter()
    inline = InlineExecutor().run(system)
    inline_wall = time.perf_counter() - t
    ensure_ray()
    rows = []
    for p in processes:
        ex = RayExecutor(max_processes=p, keep_processes=True, routing=routing)
        ex.run(system)                         # starts the processes; not measured
        best = None
        for _ in range(repeats):
            run = ex.run(system)
            if best is None or run.stats["wall_s"] < best.stats["wall_s"]:
                best = run
        ex.close()
        if best.comparable() != inline.comparable():
            raise SystemExit(f"P={p}: the Ray run differs from the inline run")
        s, w = best.stats, best.stats["windows"]
        rows.append({"processes": p, "routing": routing, "windows": w, "events": best.events,
                     "calls_per_window": s["calls"] / w, "driver_bytes_per_window": s["driver_bytes"] / w,
                     "driver_cpu_us_per_window": 1e6 * s["driver_cpu_s"] / w,
                     "cross_events_per_window": s.get("cross_events", 0) / w,
                     "host_cpu_us_per_window": 1e6 * s.get("host_cpu_s", 0.0) / w,
                     "wall_s": s["wall_s"], "events_per_s": best.events / s["wall_s"]})
    return {"inline_wall_s": inline_wall, "inline_events": inline.events, "rows": rows,
            "load": os.getloadavg(), "cores": os.cpu_count()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", default="1,2,4", help="comma-separated process counts (default 1,2,4)")
    ap.add_argument("--routing", choices=("push", "driver"), default="push",
                    help="push: hosts send cross-process batches to each other; driver: through the coordinator")
    ap.add_argument("--side", type=int, default=8, help="grid side in tiles (default 8: 64 tiles)")
    ap.add_argument("--steps", type=int, default=100, help="windows (steps) simulated (default 100)")
    ap.add_argument("--messages", type=int, default=4, help="spike messages per neighbour per step (default 4)")
    ap.add_argument("--payload-bytes", type=int, default=256, help="bytes per spike message (default 256)")
    ap.add_argument("--repeats", type=int, default=2, help="warm runs per P; the fastest is kept (default 2)")
    ap.add_argument("--system", default=None, help="module:function returning a SystemSpec instead of the grid")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    try:
        processes = [int(x) for x in args.processes.split(",")]
    except ValueError:
        ap.error(f"--processes must be comma-separated integers, got '{args.processes}'")
    if min(processes) < 1:
        ap.error("--processes: each count must be >= 1")
    shape = GridShape(side=args.side, steps=args.steps, messages=args.messages, payload_bytes=args.payload_bytes)
    try:
        system = load_system(args.system, shape)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        ap.error(f"--system '{args.system}' must name module:function returning a SystemSpec ({exc})")
    out = measure(system, processes, args.routing, args.repeats)
    out["workload"] = None if args.system else {"side": args.side, "steps": args.steps, "messages": args.messages,
                                                "payload_bytes": args.payload_bytes}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"machine: {out['cores']} cores, load {', '.join(f'{x:.1f}' for x in out['load'])}; routing: {args.routing}")
    print(f"inline: {out['inline_events']} events in {out['inline_wall_s']:.2f} s")
    print(f"{'P':>2} {'windows':>7} {'calls/w':>8} {'driver B/w':>11} {'drv CPU us/w':>12} {'cross ev/w':>10} "
          f"{'wall s':>7} {'events/s':>9}")
    for r in out["rows"]:
        print(f"{r['processes']:>2} {r['windows']:>7} {r['calls_per_window']:>8.2f} "
              f"{r['driver_bytes_per_window']:>11,.0f} {r['driver_cpu_us_per_window']:>12,.0f} "
              f"{r['cross_events_per_window']:>10.1f} {r['wall_s']:>7.2f} "
              f"{r['events_per_s']:>9,.0f}")


if __name__ == "__main__":
    main()
