"""LoL-PIM against multi-GPU and GPU+PIM across models and context lengths (a study, printed).

For each (model, trace, PIM capacity) it simulates the four systems on the same closed-loop
trace and prints sustained (steady-state) and end-to-end throughput ratios. LoL-PIM is run with
1, 2, 4 and 8 modules per pipeline stage (and the automatic choice's, if wider) (tensor-parallel
groups) and its best shape is kept, as a designer would choose it; the GPU baselines run
capacity-matched and CENT in its own best estimated shape (cent.tensor_parallel = 0: one
pipeline as published, and at its best end with pipelines side by side where the estimate picks
them, cent.data_parallel = 0), so no ratio rests on a baseline in a poor shape; each bracketed
baseline (hardware/systems/config.py BASELINE_ENDS) runs as published and at its best end (a best
end slower than the published one is not credited), so its ratio is [vs best, vs published].
The paper's abstract reports "up to 8.54x over multi-GPU and 16.0x over GPU-PIM" for a setup
that is not public; nothing here is
fitted to those numbers. It also prints which shape the automatic choice (lolpim.tensor_parallel
= 0, hardware/systems/shape.py) would have taken, and how close that shape's simulated
throughput is to the best one's.

Run: .venv/bin/python benchmarks/lolpim_speedups.py [--requests 48] [--output-tokens 64] [--csv FILE]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

from lolpim.orchestration import config
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.bracket import end_config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.core.errors import ParameterError
from lolpim.hardware.systems.shape import choose_tensor_parallel
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration.llm.systems import make_trace
from lolpim.orchestration.results import write_csv

BASELINES = ("gpu", "gpu-pim", "cent")
CASES = [  # model, trace, PIM capacity (GB): the paper's 7B/128 GB and 72B/512 GB systems
    ("qwen1.5-7b", "longbench-qmsum", 128), ("qwen1.5-7b", "longbench-musique", 128),
    ("llama3.1-8b", "lveval-multifieldqa", 128), ("llama3.1-8b", "lveval-loogle-sd", 128),
    ("qwen1.5-72b", "longbench-musique", 512), ("llama3.1-70b", "lveval-multifieldqa", 512),
    ("llama3.1-70b", "lveval-loogle-sd", 512),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    rows = []
    print(f"{'model':14s} {'trace':22s} {'GB':>4s} | steady tok/s: {'lolpim':>7s} {'gpu':>7s} {'gpu-pim':>7s} "
          f"{'cent':>7s} | speedup vs gpu, gpu-pim, cent (steady; end-to-end)")
    for model, trace, gb in CASES:
        t0 = time.perf_counter()
        cfg = config.load(RunConfig, None, [f"model={model}", f"workload.source={trace}", f"pim_capacity_gib={gb}",
                                            f"workload.requests={args.requests}",
                                            f"workload.output_tokens={args.output_tokens}", "cent.tensor_parallel=0",
                                            "cent.data_parallel=1"])
        result = {s["system"]: s for s in run_systems(cfg, BASELINES, "inline", 0).to_dict()["systems"]}
        for kind in registry.bracketed():   # each bracketed baseline at both ends, whichever its defaults are
            if str(kind) in result:
                ends = {}
                for end in ("published", "best"):
                    end_cfg = end_config(cfg, kind, end)
                    if end == "best" and hasattr(end_cfg.table(kind), "data_parallel"):
                        # a PIM baseline at its best: its automatic shape, pipelines side by side included
                        end_cfg = end_cfg.with_table(kind, replace(end_cfg.table(kind), data_parallel=0))
                    ends[end] = (result[str(kind)] if end_cfg == cfg else
                                 run_systems(end_cfg, (kind,), "inline", 0).to_dict()["systems"][0])
                result[str(kind)] = ends["published"]
                result[f"{kind}-best"] = max(ends["best"], ends["published"],
                                             key=lambda s: s["steady_throughput_tokens_per_s"])
        shapes, tried = [], []
        for tp in (1, 2, 4, 8):
            try:
                c = config.load(RunConfig, None, [f"model={model}", f"workload.source={trace}",
                                                  f"pim_capacity_gib={gb}",
                                                  f"workload.requests={args.requests}",
                                                  f"workload.output_tokens={args.output_tokens}",
                                                  f"lolpim.tensor_parallel={tp}"])
                shapes.append(run_systems(c, ("lolpim",), "inline", 0).to_dict()["systems"][0])
                tried.append(tp)
            except ParameterError as exc:   # e.g. tp does not divide the module count
                print(f"  (tensor_parallel={tp} skipped: {exc})")
        auto_cfg = config.load(RunConfig, None, [f"model={model}", f"workload.source={trace}", f"pim_capacity_gib={gb}",
                                                 f"workload.requests={args.requests}",
                                                 f"workload.output_tokens={args.output_tokens}",
                                                 "lolpim.tensor_parallel=0"])
        auto = choose_tensor_parallel(load_llm(auto_cfg.model), auto_cfg.lolpim, auto_cfg.pim_capacity_gib,
                                      make_trace(auto_cfg, 0))
        # the widths above are one pipeline each; the automatic shape may be wider, or several pipelines
        auto_tp = auto.tensor_parallel if auto.replicas == 1 else f"{auto.replicas} x {auto.tensor_parallel}"
        if auto_tp not in tried:      # the estimate may prefer a wider group than 8, or several pipelines
            shapes.append(run_systems(auto_cfg, ("lolpim",), "inline", 0).to_dict()["systems"][0])
            tried.append(auto_tp)
        result["lolpim"] = max(shapes, key=lambda s: s["steady_throughput_tokens_per_s"])
        auto_run = shapes[tried.index(auto_tp)]
        steady = {k: v["steady_throughput_tokens_per_s"] for k, v in result.items()}
        steady_best = steady["lolpim"]
        e2e = {k: v["throughput_tokens_per_s"] for k, v in result.items()}
        row = {"model": model, "trace": trace, "pim_gb": gb, "gpus": result["gpu"]["devices"],
               "lolpim_shape": result["lolpim"]["description"], "auto_tensor_parallel": auto_tp,
               "auto_over_best": auto_run["steady_throughput_tokens_per_s"] / steady_best}
        for k in (k for k in result if k != "lolpim"):
            row[f"steady_speedup_vs_{k}"] = steady["lolpim"] / steady[k]
            row[f"e2e_speedup_vs_{k}"] = e2e["lolpim"] / e2e[k]
        row.update({f"steady_{k}": v for k, v in steady.items()})
        rows.append(row)
        best_ends = [k for k in BASELINES if f"{k}-best" in result]
        print(f"{model:14s} {trace:22s} {gb:4d} | {'':14s}{steady['lolpim']:7.0f} {steady['gpu']:7.0f} "
              f"{steady['gpu-pim']:7.0f} {steady['cent']:7.0f} | "
              + ", ".join(f"{row[f'steady_speedup_vs_{k}']:.2f}x ({row[f'e2e_speedup_vs_{k}']:.2f}x)"
                          for k in BASELINES)
              + "".join(f"; vs {k} at its best {row[f'steady_speedup_vs_{k}-best']:.2f}x "
                        f"({row[f'e2e_speedup_vs_{k}-best']:.2f}x)" for k in best_ends)
              + f"   [{time.perf_counter() - t0:.0f} s wall]\n    LoL-PIM: {row['lolpim_shape']}"
              + f"\n    auto shape: {auto_tp} per stage, {row['auto_over_best']:.1%} of the best simulated", flush=True)
    for k, paper in (("gpu", "8.54x"), ("gpu-pim", "16.0x"), ("cent", "11.3x (v3, against CENT as published)")):
        best = max(rows, key=lambda r: r[f"steady_speedup_vs_{k}"])
        print(f"largest speedup vs {k}: {best[f'steady_speedup_vs_{k}']:.2f}x ({best['model']}, {best['trace']}); "
              f"paper: up to {paper}")
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
