"""Simulator speed for the LoL-PIM system (printed, never asserted):

  * simulated output tokens per wall second, inline and on Ray (same run, same numbers);
  * wall time and peak memory (max RSS of a fresh process per point) against the number of
    PIM modules and against context length.

Run: .venv/bin/python benchmarks/system.py [--quick] [--no-ray]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig

BASE = ["workload.source=fixed", "workload.output_tokens=16", "systems=lolpim"]


def _point(args, queue) -> None:
    overrides, executor = args
    cfg = config.load(RunConfig, None, overrides)
    t0 = time.perf_counter()
    result = run_systems(cfg, ("lolpim",), executor, 0).to_dict()["systems"][0]
    wall = time.perf_counter() - t0
    if executor == "ray":
        import ray
        ray.shutdown()
    queue.put({"wall_s": wall, "tokens": result["output_tokens"], "events": result["events"],
               "sim_s": result["makespan_s"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def measure(overrides, executor="inline") -> dict:
    """Each point in a fresh process, so max RSS is that point's own peak."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_point, args=((overrides, executor), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def show(label, m) -> None:
    print(f"{label:42s} wall {m['wall_s']:6.2f} s  {m['tokens'] / m['wall_s']:8.0f} sim tokens/s  "
          f"{m['events'] / m['wall_s']:8.0f} events/s  peak RSS {m['peak_rss_mb']:6.0f} MB  "
          f"(simulated {m['sim_s']:.3f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    requests = 16 if args.quick else 48

    print("== inline vs Ray, qwen1.5-7b, 8 modules, 16K-token prompts ==")
    common = BASE + ["model=qwen1.5-7b", "workload.input_tokens=16384", f"workload.requests={requests}"]
    inline = measure(common)
    show("inline", inline)
    if not args.no_ray:
        on_ray = measure(common, "ray")
        show("ray (1 process per system, incl. ray.init)", on_ray)
        print(f"ray / inline wall-time ratio: {on_ray['wall_s'] / inline['wall_s']:.1f}x")

    print("== modules (llama3.1-70b, 8K-token prompts; 70B needs >= 16 x 16 GB) ==")
    for modules in (16, 32, 64, 80):
        show(f"{modules} modules", measure(BASE + ["model=llama3.1-70b", "workload.input_tokens=8192",
                                                   f"workload.requests={requests}", f"lolpim.modules={modules}"]))
    print("== context length (llama3.1-8b, 16 modules) ==")
    for context in (4096, 16384, 65536, 131072 - 64):
        show(f"context {context}", measure(BASE + ["model=llama3.1-8b", f"workload.input_tokens={context}",
                                                   f"workload.requests={requests}", "lolpim.modules=16"]))


if __name__ == "__main__":
    main()
