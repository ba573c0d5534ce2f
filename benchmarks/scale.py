"""Scale benchmark: LoL-PIM runs with many simulated PIM modules on this machine.

Each case runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own.
Prints, per case: modules, actors, events, wall time, peak memory and the simulated decode
throughput. The default study is Llama-3.1-70B at a 1M-token context (GQA keeps one request's
KV at 320 GiB), 16 requests of 256 output tokens, on 32..256 modules of 16 GB:

  * pipeline-parallel over 80 modules (one layer each: the most stages an 80-layer model has),
  * hybrids of pipeline stages x tensor-parallel groups: 128 modules as 64 x 2, 32 x 4 or
    16 x 8, and 256 modules as 32 x 8 (one DPA controller actor per module throughout),
  * the 16 x 8 run again on the Ray executor packed into 2 processes (this machine's cores).
Pure tensor parallelism is not in the list: the model has 8 KV heads, so a group wider than 8
modules replicates KV heads and a 1M-token request no longer fits a module's memory.

    .venv/bin/python benchmarks/scale.py              # the table above
    .venv/bin/python benchmarks/scale.py --quick      # 128 modules (16 x 8), inline only
    .venv/bin/python benchmarks/scale.py --json       # machine-readable
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

# the 1M-context preset (Llama-3.1-70B shapes); 1,048,576 less the 256 output tokens: the last token reaches 1M
BASE = ["system=lolpim", "model=llama3.1-70b-1m", "workload.source=fixed", "workload.input_tokens=1048320",
        "workload.requests=16", "workload.output_tokens=256"]


def cases(quick: bool) -> list[dict]:
    def shape(stages, tp, executor="inline", procs=None):
        label = f"pipeline {stages} x tensor {tp}" + (f" ({executor}, {procs} processes)" if executor == "ray" else "")
        return {"label": label, "set": BASE + [f"lolpim.modules={stages * tp}", f"lolpim.tensor_parallel={tp}"],
                "executor": executor, "max_processes": procs}
    if quick:
        return [shape(16, 8)]
    return [shape(80, 1), shape(64, 2), shape(32, 4), shape(16, 8), shape(32, 8), shape(16, 8, "ray", 2)]


def run_one(case: dict) -> dict:
    """Runs in the child process: simulate one case and measure it."""
    from lolpim.orchestration import config as cfgmod
    from lolpim.orchestration.executors import make_executor
    from lolpim.orchestration.llm.config import RunConfig
    from lolpim.orchestration.llm.result_types import system_result
    from lolpim.orchestration.llm.systems import build, make_trace
    cfg = cfgmod.load(RunConfig, None, case["set"])
    wall0 = time.perf_counter()
    built = build(cfg.system, cfg, make_trace(cfg, 0), 0)
    run = make_executor(case["executor"], max_processes=case["max_processes"]).run(built.spec)
    s = system_result(built, run).to_dict()
    wall = time.perf_counter() - wall0
    if case["executor"] == "ray":
        import ray
        ray.shutdown()
    return {"label": case["label"], "modules": s["devices"], "stages": s["stages"],
            "actors": len(built.spec.actors), "events": s["events"], "wall_s": wall, "sim_wall_s": s["wall_s"],
            "windows": run.stats.get("windows"), "calls": run.stats.get("calls"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "simulated_s": s["makespan_s"], "tokens": s["output_tokens"],
            "tokens_per_s": s["throughput_tokens_per_s"], "kv_used": s["kv_used_utilisation"],
            "description": s["description"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return 0
    rows = []
    for case in cases(args.quick):
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps(case)], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if not args.json:
            r = rows[-1]
            if len(rows) == 1:
                print(f"{'case':34s} {'modules':>7s} {'actors':>6s} {'events':>8s} {'sim wall s':>10s} "
                      f"{'peak MB':>8s} {'sim tok/s':>9s} {'KV used':>7s}")
            print(f"{r['label']:34s} {r['modules']:7d} {r['actors']:6d} {r['events']:8d} {r['sim_wall_s']:10.2f} "
                  f"{r['peak_rss_mb']:8.0f} {r['tokens_per_s']:9.1f} {r['kv_used']:7.1%}", flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
