"""Ocular-dominance network speed: cost against size, and Ray processes against inline.

    .venv/bin/python benchmarks/plasticity.py --scaling [--neurons 1000 --synapses 1000]
        [--binocular-s 2.5 --deprivation-s 2.5] [--processes 1,2] [--sizes] [--json-out PATH]

1. Sizes (--sizes): K x S from 1 x 10 to 1000 x 1000 (inline, boosting on, the same simulated
   time): wall time, presynaptic events, integration steps, wall time per synapse-event and per
   synapse-second. Linear cost means the last two stay flat (or fall, as per-tick overheads
   amortise) as K x S grows.
2. Processes: the same K x S on Ray with P = 1, 2 (and more when the machine has the cores),
   one neuron block per process, beside the inline run; every Ray run must equal inline bit for
   bit (checked here, printed as "identical").
"synapse-steps/s" = 2 K S synapses x simulated seconds / 0.1 ms / wall seconds: the step rate a
dt = 0.1 ms clock-driven simulator would need to keep up. Memory: model state bytes per synapse
(cascade rows + the applied-bAP counter) and per neuron (bAP rings, somata), and the process's
peak resident memory.
"""
from __future__ import annotations

import json
import os
import resource
import time

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.plasticity.ocular_dominance import ocular_dominance_system, summarise_run
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.orchestration.results import write_text

DT_REFERENCE_S = 1e-4
SIZES = [(1, 10), (10, 100), (100, 100), (100, 1000), (1000, 1000)]
WINDOW_PS = 200_000_000_000          # 0.2 s simulated per Ray window (progress, checkpoints)


def _cfg(k, s, binocular_s, deprivation_s):
    return od.OcularDominanceConfig(neurons=k, synapses_per_eye=s, binocular_s=binocular_s,
                                    deprivation_s=deprivation_s)


def _row(label, cfg, run, wall_s):
    summary = summarise_run(run.results, cfg)
    synapses = 2 * cfg.neurons * cfg.synapses_per_eye
    sim_s = cfg.duration_s()
    return {"run": label, "neurons": cfg.neurons, "synapses_per_eye": cfg.synapses_per_eye,
            "synapses": synapses, "simulated_s": sim_s, "wall_s": wall_s,
            "synapse_events": summary["synapse_events"], "integration_steps": summary["integration_steps"],
            "ns_per_synapse_event": 1e9 * wall_s / max(summary["synapse_events"], 1),
            "us_per_synapse_second": 1e6 * wall_s / (synapses * sim_s),
            "synapse_steps_per_s": synapses * sim_s / DT_REFERENCE_S / wall_s,
            "summary": {k: summary[k] for k in ("w_left", "w_right", "phases")}}


def run_inline(cfg, seed=0):
    system = ocular_dominance_system(cascade.load_params("hippocampal"), cfg, seed=seed)
    t0 = time.perf_counter()
    run = InlineExecutor().run(system)
    return run, time.perf_counter() - t0


def run_ray(cfg, processes, seed=0):
    from lolpim.actors.kernel.ray_executor import RayExecutor
    system = ocular_dominance_system(cascade.load_params("hippocampal"), cfg, seed=seed, blocks=processes)
    executor = RayExecutor(max_processes=processes, checkpoint_every=25, max_window_ps=WINDOW_PS)
    t0 = time.perf_counter()
    run = executor.run(system)
    return run, time.perf_counter() - t0


def memory_per_synapse(cfg) -> dict:
    per_synapse, per_neuron = od.BYTES_PER_SYNAPSE, od.BYTES_PER_NEURON
    return {"state_bytes_per_synapse": per_synapse, "bytes_per_neuron": per_neuron,
            "bytes_per_synapse_all_in": per_synapse + per_neuron / (2 * cfg.synapses_per_eye)}


def sizes_table(binocular_s, deprivation_s) -> list[dict]:
    rows = []
    for k, s in SIZES:
        cfg = _cfg(k, s, binocular_s, deprivation_s)
        run, wall = run_inline(cfg)
        rows.append(_row("inline", cfg, run, wall) | memory_per_synapse(cfg))
        r = rows[-1]
        print(f"  {k:>5} x {s:<5} {r['synapses']:>9} syn  wall {wall:7.1f} s  events {r['synapse_events']:>11,}  "
              f"{r['ns_per_synapse_event']:8.0f} ns/syn-event  {r['us_per_synapse_second']:7.2f} us/syn-s  "
              f"{r['synapse_steps_per_s']:.2e} syn-steps/s  {r['bytes_per_synapse_all_in']:.0f} B/syn", flush=True)
    return rows


def processes_table(neurons, synapses, binocular_s, deprivation_s, processes) -> list[dict]:
    from lolpim.actors.kernel.ray_executor import ensure_ray
    cfg = _cfg(neurons, synapses, binocular_s, deprivation_s)
    ref, wall = run_inline(cfg)
    rows = [_row("inline", cfg, ref, wall)]
    print(f"  inline      wall {wall:7.1f} s  {rows[0]['synapse_steps_per_s']:.2e} syn-steps/s", flush=True)
    ensure_ray()
    reference = summarise_run(ref.results, cfg)
    for p in processes:
        run, wall = run_ray(cfg, p)
        row = _row(f"ray P={p}", cfg, run, wall)
        row["identical_to_inline"] = summarise_run(run.results, cfg) == reference
        row["windows"] = run.stats["windows"]
        rows.append(row)
        print(f"  ray P={p:<4}  wall {wall:7.1f} s  {row['synapse_steps_per_s']:.2e} syn-steps/s  "
              f"windows {row['windows']}  identical {row['identical_to_inline']}", flush=True)
    base = next((r for r in rows if r["run"] == "ray P=1"), None)
    for r in rows:
        r["speedup_vs_ray_p1"] = base["wall_s"] / r["wall_s"] if base else None
        r["speedup_vs_inline"] = rows[0]["wall_s"] / r["wall_s"]
    return rows


def main(args) -> dict:
    out = {"cpus": os.cpu_count()}
    print(f"ocular-dominance network, boosting on, variant network, {os.cpu_count()} CPUs")
    if args.sizes:
        print(f"cost against size (inline, {args.binocular_s + args.deprivation_s:g} s simulated):")
        out["sizes"] = sizes_table(args.binocular_s, args.deprivation_s)
    processes = [int(p) for p in args.processes.split(",")]
    print(f"Ray processes at {args.neurons} x {args.synapses} ({args.binocular_s + args.deprivation_s:g} s simulated):")
    out["processes"] = processes_table(args.neurons, args.synapses, args.binocular_s, args.deprivation_s, processes)
    for r in out["processes"]:
        ratio = f"{r['speedup_vs_ray_p1']:.2f}x vs P=1" if r["speedup_vs_ray_p1"] else ""
        print(f"  {r['run']:<10} {r['wall_s']:8.1f} s  {ratio:>14}  {r['speedup_vs_inline']:.2f}x vs inline")
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver peak RSS {out['peak_rss_mb']:.0f} MB")
    if args.json_out:
        write_text(args.json_out, json.dumps(out, indent=1))
    return out


def add_arguments(p) -> None:
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--synapses", type=int, default=1000)
    p.add_argument("--binocular-s", type=float, default=2.5)
    p.add_argument("--deprivation-s", type=float, default=2.5)
    p.add_argument("--processes", default="1,2" if (os.cpu_count() or 1) < 4 else
                   ",".join(str(p) for p in (1, 2, 4, 8, 16) if p <= (os.cpu_count() or 1)))
    p.add_argument("--sizes", action="store_true", help="also the cost-against-size table")


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--json-out")
    main(parser.parse_args())
