"""What one conservative window costs the Ray executor's driver (issue 24), at P = 1, 2, 4 processes.

The workload is a grid of tile actors (actors/demo/grid.py) with nearest-neighbour spikes in
every window: the shape of the cortical sheet; ``--sheet`` runs the cortical sheet itself
(`lolpim plasticity od-map`'s tiles, a small sheet: --size, --synapses, --seconds, --tiles rows
of tiles, checkpointed as the command does, once per 5 s simulated). ``--system module:function``
points it at any other system (a function returning a SystemSpec).

Printed per P (a warm run: the processes are started by a first, unmeasured run):
  driver calls per window, bytes through the driver per window (call arguments + replies),
  the driver's CPU time per window (its main thread), cross-process events per window,
  wall time, events/s, and the inline run's wall time beside it.
Counts and bytes do not depend on the machine's load; CPU and wall time do (the load is printed).

Run:  .venv/bin/python benchmarks/window_cost.py [--routing push|driver] [--processes 1,2,4] [--json]
      .venv/bin/python benchmarks/window_cost.py --sheet [--size 16 --synapses 20 --seconds 1 --tiles 4]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from dataclasses import asdict, dataclass

from lolpim.actors.demo.grid import GridShape
from lolpim.actors.kernel.inline import InlineExecutor

SHEET_CHECKPOINT_S = 5.0       # `lolpim plasticity od-map` checkpoints its Ray runs once per this much simulated time


@dataclass(frozen=True)
class SheetShape:
    """A small cortical sheet (the od-map preset) cut into 1 x ``tiles`` rows of tiles."""
    size: int = 16
    synapses: int = 20
    seconds: float = 1.0
    tiles: int = 4
    seed: int = 0

    def config(self):
        from lolpim.models.plasticity import od_map as om
        return om.load_sheet(size=self.size, synapses_per_eye=self.synapses, binocular_s=self.seconds,
                             sample_interval_s=self.seconds)

    def system(self):
        from lolpim.actors.plasticity import od_map as sheet
        from lolpim.models.plasticity import cascade
        cfg, variant = self.config()
        return sheet.sheet_system(cascade.load_params("cortical"), cfg, variant, self.seed, 1, self.tiles)

    def window_ps(self) -> int:
        from lolpim.actors.plasticity import od_map as sheet
        return sheet.window_ps(self.config()[0])

    def checkpoint_every(self) -> int:
        return max(1, round(SHEET_CHECKPOINT_S * 1e12 / self.window_ps()))


def sheet_workload(results: dict) -> dict:
    """What the sheet's tiles did (from a run's results; the same for every executor and P): per
    tile, its spikes in all and the lateral messages it sent to each other tile."""
    tiles = sorted((r for r in results.values() if "tile" in r), key=lambda r: r["tile"])
    return {"spikes": [r["spike_total"] for r in tiles],
            "sent": [{int(dst[1:]): n for dst, n in sorted(r["sent"].items())} for r in tiles]}


def load_system(ref: str | None, shape: GridShape):
    if not ref:
        return shape.system()
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)()


def measure(system, processes: list[int], routing: str, repeats: int = 1, checkpoint_every: int = 64) -> dict:
    from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
    t, cpu = time.perf_counter(), time.process_time()
    inline = InlineExecutor().run(system)
    inline_wall, inline_cpu = time.perf_counter() - t, time.process_time() - cpu
    ensure_ray()
    rows = []
    for p in processes:
        ex = RayExecutor(max_processes=p, keep_processes=True, routing=routing, checkpoint_every=checkpoint_every)
        ex.run(system)                         # starts the processes; not measured
        best, load, cpus = None, None, []
        for _ in range(repeats):
            before = os.getloadavg()[0]
            run = ex.run(system)
            cpus.append(1e6 * run.stats["driver_cpu_s"] / run.stats["windows"])
            if best is None or run.stats["wall_s"] < best.stats["wall_s"]:
                best, load = run, (before, os.getloadavg()[0])
        ex.close()
        if best.comparable() != inline.comparable():
            raise SystemExit(f"P={p}: the Ray run differs from the inline run")
        s, w = best.stats, best.stats["windows"]
        rows.append({"processes": p, "routing": routing, "windows": w, "events": best.events,
                     "calls_per_window": s["calls"] / w, "driver_bytes_per_window": s["driver_bytes"] / w,
                     "driver_cpu_us_per_window": 1e6 * s["driver_cpu_s"] / w,
                     "cross_events_per_window": s.get("cross_events", 0) / w,
                     "host_cpu_us_per_window": 1e6 * s.get("host_cpu_s", 0.0) / w,
                     "checkpoint_bytes": s.get("checkpoint_bytes", 0), "checkpoint_every": checkpoint_every,
                     # every repeat's driver CPU (one run's varies by 30-40% on a shared machine)
                     "driver_cpu_us_per_window_runs": cpus,
                     "driver_sections_us_per_window": {k: 1e6 * v / w for k, v in s.get("driver_sections", {}).items()},
                     "wall_s": s["wall_s"], "events_per_s": best.events / s["wall_s"], "load": load})
    out = {"inline_wall_s": inline_wall, "inline_cpu_s": inline_cpu, "inline_events": inline.events, "rows": rows,
           "load": os.getloadavg(), "cores": os.cpu_count()}
    if any("tile" in r and "spike_total" in r for r in inline.results.values()):
        out["sheet_workload"] = sheet_workload(inline.results)
    return out


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
    ap.add_argument("--sheet", action="store_true", help="the cortical sheet (od-map) instead of the grid")
    ap.add_argument("--size", type=int, default=16, help="--sheet: neurons per side (default 16)")
    ap.add_argument("--synapses", type=int, default=20, help="--sheet: synapses per eye (default 20)")
    ap.add_argument("--seconds", type=float, default=1.0, help="--sheet: simulated seconds (default 1)")
    ap.add_argument("--tiles", type=int, default=4, help="--sheet: rows of tiles (default 4)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    try:
        processes = [int(x) for x in args.processes.split(",")]
    except ValueError:
        ap.error(f"--processes must be comma-separated integers, got '{args.processes}'")
    if min(processes) < 1:
        ap.error("--processes: each count must be >= 1")
    if args.sheet and args.system:
        ap.error("--sheet and --system: give one of them")
    if args.sheet:
        from lolpim.core.errors import UserError
        sheet = SheetShape(size=args.size, synapses=args.synapses, seconds=args.seconds, tiles=args.tiles)
        try:
            system = sheet.system()
        except UserError as exc:
            ap.error(f"--sheet: {exc}")
        out = measure(system, processes, args.routing, args.repeats, sheet.checkpoint_every())
        out["sheet"] = asdict(sheet)
        out["workload"] = None
    else:
        shape = GridShape(side=args.side, steps=args.steps, messages=args.messages, payload_bytes=args.payload_bytes)
        try:
            system = load_system(args.system, shape)
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            ap.error(f"--system '{args.system}' must name module:function returning a SystemSpec ({exc})")
        out = measure(system, processes, args.routing, args.repeats)
        out["workload"] = None if args.system else {"side": args.side, "steps": args.steps,
                                                    "messages": args.messages, "payload_bytes": args.payload_bytes}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"machine: {out['cores']} cores, load {', '.join(f'{x:.1f}' for x in out['load'])}; routing: {args.routing}")
    print(f"inline: {out['inline_events']} events in {out['inline_wall_s']:.2f} s ({out['inline_cpu_s']:.2f} s CPU)")
    print(f"{'P':>2} {'windows':>7} {'calls/w':>8} {'driver B/w':>11} {'drv CPU us/w':>12} {'cross ev/w':>10} "
          f"{'wall s':>7} {'events/s':>9}")
    for r in out["rows"]:
        print(f"{r['processes']:>2} {r['windows']:>7} {r['calls_per_window']:>8.2f} "
              f"{r['driver_bytes_per_window']:>11,.0f} {r['driver_cpu_us_per_window']:>12,.0f} "
              f"{r['cross_events_per_window']:>10.1f} {r['wall_s']:>7.2f} "
              f"{r['events_per_s']:>9,.0f}")


if __name__ == "__main__":
    main()
