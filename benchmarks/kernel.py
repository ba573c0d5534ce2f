"""Kernel speed figures (printed, never asserted):

  1. inline events/s on null-work actor rings;
  2. Ray-executor delivered messages/s with batching (many events per window call);
  3. wall-time ratio ray / inline for the 8-stage demo pipeline;
  4. Ray start-up time (ray.init) and per-process start.

Run: .venv/bin/python benchmarks/kernel.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import time

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.demo.random_graph import node
from lolpim.actors.kernel.system import SystemSpec



def ring(n_actors: int, tokens: int, hops: int, lookahead_ps: int = 10) -> SystemSpec:
    """n actors in a ring, ``tokens`` pings per actor, each forwarded ``hops`` times, no work."""
    names = [f"r{i:03d}" for i in range(n_actors)]
    return SystemSpec(tuple(node(name,
        targets=[names[(i + 1) % n_actors]], lookahead_ps=lookahead_ps, delay_choices_ps=[0],
        initial_pings=tokens, max_hops=hops, null_work=True) for i, name in enumerate(names)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    args = ap.parse_args()
    scale = 1 if args.quick else 4

    print(f"machine: {os.cpu_count()} cores")
    system = ring(8, 50 * scale, 250)
    t = time.perf_counter()
    run = InlineExecutor().run(system)
    wall = time.perf_counter() - t
    inline_eps = run.events / wall
    print(f"inline null-work ring (8 actors): {run.events} events in {wall:.2f} s = {inline_eps:,.0f} events/s")

    import ray
    from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
    t = time.perf_counter()
    ensure_ray()
    print(f"ray.init (embedded local): {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    ex = RayExecutor(keep_processes=True)
    run_ray = ex.run(system)
    wall_first = time.perf_counter() - t
    t = time.perf_counter()
    run_ray = ex.run(system)
    wall_ray = time.perf_counter() - t
    ex.close()
    assert run_ray.comparable() == run.comparable()
    print(f"ray ring, 8 processes: first run {wall_first:.2f} s (incl. starting 8 processes), warm run "
          f"{wall_ray:.2f} s: {run_ray.events / wall_ray:,.0f} delivered messages/s over "
          f"{run_ray.stats['windows']} windows, {run_ray.stats['calls']} calls "
          f"({run_ray.events / run_ray.stats['calls']:.0f} messages per call)")

    shape = PipelineShape((1000,) * 8, 100, 8, 25 * scale)
    t = time.perf_counter()
    inline_pipe = InlineExecutor().run(shape.system())
    w_inline = time.perf_counter() - t
    t = time.perf_counter()
    ray_pipe = RayExecutor().run(shape.system())
    w_ray = time.perf_counter() - t
    assert ray_pipe.comparable() == inline_pipe.comparable()
    print(f"8-stage pipeline ({inline_pipe.events} events): inline {w_inline:.3f} s, ray {w_ray:.2f} s "
          f"(ratio ray/inline {w_ray / w_inline:,.0f}x; {ray_pipe.stats['windows']} windows)")
    ray.shutdown()


if __name__ == "__main__":
    main()
