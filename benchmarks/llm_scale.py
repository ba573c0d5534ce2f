"""The LLM path's simulator cost against system size: LoL-PIM, Llama-3.1-70B at a 1M-token context
(the long-context study's 1M case, docs/long-context.md) on 64, 256 and 1024 modules of 16 GB.

Weak scaling: 8 requests per 64 modules (the study's 8 on 64, 32 on 256, 128 on 1024), every
prompt 1,048,544 tokens and 32 output tokens, so more requests wait than the KV memory holds at
every size; the automatic shape (`lolpim.tensor_parallel=0`: modules per stage, and with
`lolpim.data_parallel=0` how many pipelines side by side), inline executor.
Each case runs in a fresh process (its own CPU time and peak memory). Per case it prints:

  modules, shape (pipelines x stages x modules per stage), events, messages by kind, wall s,
  user CPU s, events per wall s and per CPU s, CPU cost per event relative to the 64-module
  case, simulated tok/s (steady: while requests wait), KV used (the model's KV tokens over the
  run, and while requests wait) and KV allocated (chunks mapped, with replicated KV heads).

``--one-pipeline`` runs the same with ``lolpim.data_parallel=1`` (the best single pipeline, the
automatic shape before data parallelism); ``--with-one-pipeline`` runs both (the docs table).

Messages are counted by wrapping the event loop's delivery (a few % of the run). The case of
each size is what `lolpim run` does with the same keys:

    lolpim run --executor inline --set systems=lolpim --set model=llama3.1-70b-1m \\
      --set workload.source=fixed --set workload.input_tokens=1048544 --set workload.output_tokens=32 \\
      --set workload.requests=128 --set lolpim.modules=1024 --set lolpim.tensor_parallel=0 \
      --set lolpim.data_parallel=0

    .venv/bin/python benchmarks/llm_scale.py            # 64, 256, 1024 modules (~1 min on a quiet 2-core machine)
    .venv/bin/python benchmarks/llm_scale.py --modules 64 256 --json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter

REQUESTS_PER_64_MODULES = 8
BASE = ["system=lolpim", "model=llama3.1-70b-1m", "workload.source=fixed", "workload.input_tokens=1048544",
        "workload.output_tokens=32", "lolpim.tensor_parallel=0"]


def overrides(modules: int, one_pipeline: bool = False) -> list[str]:
    requests = max(1, REQUESTS_PER_64_MODULES * modules // 64)
    return BASE + [f"lolpim.modules={modules}", f"workload.requests={requests}",
                   f"lolpim.data_parallel={1 if one_pipeline else 0}"]


def run_one(modules: int, one_pipeline: bool = False) -> dict:
    """In the child process: simulate one size and measure it."""
    from lolpim.actors.kernel import loop
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.orchestration import config
    from lolpim.orchestration.llm.config import RunConfig
    from lolpim.orchestration.llm.result_types import system_result
    from lolpim.orchestration.llm.systems import build, make_trace

    kinds: Counter = Counter()
    deliver = loop.deliver

    def counting(actor, event, limit):
        kinds[f"{event.kind} -> {type(actor).__name__}"] += 1
        return deliver(actor, event, limit)

    loop.deliver = counting
    cfg = config.load(RunConfig, None, overrides(modules, one_pipeline))
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
    built = build("lolpim", cfg, make_trace(cfg, 0), 0)
    run = InlineExecutor().run(built.spec)
    s = system_result(built, run).to_dict()
    cpu, wall = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0, time.perf_counter() - wall0
    pipes = s.get("pipelines", 1)
    return {"modules": s["devices"], "requests": s["requests"], "pipelines": pipes, "stages": s["stages"],
            "tensor_parallel": s["devices"] // (pipes * s["stages"]), "actors": len(built.spec.actors),
            "events": run.events,
            "messages": dict(sorted(kinds.items())), "wall_s": wall, "user_cpu_s": cpu,
            "events_per_wall_s": run.events / wall, "events_per_cpu_s": run.events / cpu,
            "tokens_per_s": s["throughput_tokens_per_s"], "steady_tokens_per_s": s["steady_throughput_tokens_per_s"],
            "kv_used": s["kv_used_utilisation"], "kv_used_while_waiting": s["kv_used_utilisation_saturated"],
            "kv_allocated": s["kv_allocated_utilisation"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(sizes, one_pipeline: bool = False) -> list[dict]:
    rows = []
    for modules in sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(modules)]
                              + (["--one-pipeline"] if one_pipeline else []), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = rows[0]["user_cpu_s"] / rows[0]["events"]
    for r in rows:
        r["cpu_per_event_us"] = 1e6 * r["user_cpu_s"] / r["events"]
        r["cost_per_event_ratio"] = r["user_cpu_s"] / r["events"] / base
    return rows


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def table(rows) -> str:
    lines = ["| modules | requests | shape | events | plan / granted / DPA free messages | wall s | user CPU s "
             "| events / CPU s | CPU per event vs 64 | tok/s (steady) | KV used (while waiting) | KV allocated |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["messages"]
        pipes = r.get("pipelines", 1)
        shape = (f"{pipes} x " if pipes > 1 else "") + f"{r['stages']} x {r['tensor_parallel']}"
        lines.append(f"| {r['modules']} | {r['requests']} | {shape} | {r['events']:,} "
                     f"| {m.get('plan -> KvManager', 0):,} / {m.get('granted -> LlmHost', 0):,} / "
                     f"{m.get('free -> KvManager', 0):,} | {r['wall_s']:.1f} | {r['user_cpu_s']:.1f} "
                     f"| {r['events_per_cpu_s'] / 1e3:.1f}k | {r['cost_per_event_ratio']:.2f}x "
                     f"| {r['tokens_per_s']:.0f} ({r['steady_tokens_per_s']:.0f}) "
                     f"| {r['kv_used']:.1%} ({r['kv_used_while_waiting']:.1%}) | {r['kv_allocated']:.1%} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", type=int, nargs="+", default=[64, 256, 1024],
                    help="module counts, the first one the cost-per-event reference (default: 64 256 1024)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one-pipeline", action="store_true",
                    help="lolpim.data_parallel=1: the best single pipeline (the shape before data parallelism)")
    ap.add_argument("--with-one-pipeline", action="store_true",
                    help="also run every size with one pipeline (JSON: one_pipeline_rows; a second table)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.one_pipeline)))
        return 0
    if any(m < 1 for m in args.modules):
        print(f"llm_scale.py: error: --modules: {args.modules}: allowed 1 or more", file=sys.stderr)
        return 2
    before = load_average()
    rows = measure(args.modules, args.one_pipeline)
    single = measure(args.modules, one_pipeline=True) if args.with_one_pipeline else None
    note = (f"load average (1 / 5 / 15 min) {before} before and {load_average()} after the runs, "
            f"{os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps({"load": note, "rows": rows, **({"one_pipeline_rows": single} if single else {})}, indent=1))
    else:
        print(table(rows))
        if single:
            print("\nOne pipeline (lolpim.data_parallel=1):\n\n" + table(single))
        print(f"({note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
