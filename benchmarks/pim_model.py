"""PIM module model figures: closed form vs command reference, speed, GEMV and attention numbers.

    .venv/bin/python benchmarks/pim_model.py [--shapes 1000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lolpim.hardware.cost import total
from lolpim.hardware.pim import (PARTITIONINGS, load_pim_module, pim_attention_cost, pim_decode_layers_cost,
                                 pim_gemv_cost, pim_gemv_reference, pim_module_names)
from lolpim.models.llm.architecture import load_llm


def agreement(n_shapes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    specs = {name: load_pim_module(name) for name in pim_module_names()}
    errors = []
    start = time.perf_counter()
    for i in range(n_shapes):
        spec = specs[sorted(specs)[i % len(specs)]]
        k = int(np.exp(rng.uniform(0, np.log(9000))))
        n = int(np.exp(rng.uniform(0, np.log(20000))))
        batch, bits = int(rng.integers(1, 9)), int(rng.choice([16, 8, 3, 2, 1]))
        fast, ref = pim_gemv_cost(spec, k, n, batch, bits), pim_gemv_reference(spec, k, n, batch, bits)
        errors.append(abs(fast.time_s / ref.time_s - 1))
    errors = np.array(errors)
    print(f"fast vs command reference, {n_shapes} random GEMVs (seed {seed}): mean |err| {errors.mean():.3%}, "
          f"p99 {np.percentile(errors, 99):.3%}, max {errors.max():.3%}, share > 2%: {(errors > 0.02).mean():.2%} "
          f"({time.perf_counter() - start:.1f} s)")


def speed() -> None:
    spec, model = load_pim_module("lolpim-module"), load_llm("llama3.1-8b")
    ctx = np.random.default_rng(1).integers(1000, 60000, 32)
    for partitioning in PARTITIONINGS:
        times = []
        for step in range(300):
            t = time.perf_counter()
            pim_decode_layers_cost(spec, model, ctx + step, 4, partitioning)
            times.append(time.perf_counter() - t)
        print(f"pim_decode_layers_cost, 32 requests, {partitioning}: median {np.median(times) * 1e3:.3f} ms, "
              f"p95 {np.percentile(times, 95) * 1e3:.3f} ms per call (first {times[0] * 1e3:.1f} ms)")


def figures() -> None:
    for name in pim_module_names():
        spec = load_pim_module(name)
        c = pim_gemv_cost(spec, 4096, 4096)
        print(f"{name:15s} peak {spec.internal_bandwidth_bytes_per_s / 1e12:6.2f} TB/s, GEMV 4096x4096: "
              f"{c.time_s * 1e6:8.2f} us, effective {c.detail['array_bytes'] / c.time_s / 1e12:6.2f} TB/s "
              f"({c.detail['array_bytes'] / c.time_s / spec.internal_bandwidth_bytes_per_s:.0%} of peak), "
              f"{c.energy_j * 1e6:7.1f} uJ")
    spec = load_pim_module("lolpim-module")
    for bits in (16, 8, 3, 2, 1):
        c = pim_gemv_cost(spec, 4096, 11008, 1, bits)
        print(f"lolpim-module GEMV 4096x11008 at {bits:2d} bit: {c.time_s * 1e6:7.2f} us, {c.energy_j * 1e6:6.1f} uJ")
    for model_name, module in (("qwen1.5-7b", "lolpim-module"), ("llama3.1-8b", "lolpim-module"),
                               ("llama3.1-8b", "cent-module")):
        model, spec = load_llm(model_name), load_pim_module(module)
        for batch in (1, 4, 16):
            row = []
            for p in PARTITIONINGS:
                a = pim_attention_cost(spec, model, [16384] * batch, p)
                row.append(f"{p} {a.time_s * 1e6:8.1f} us util {a.detail['channel_utilisation']:.2f}")
            print(f"attention {model_name} on {module}, batch {batch:2d}, 16K: " + " | ".join(row))
    model, spec = load_llm("qwen1.5-7b"), load_pim_module("lolpim-module")
    parts = pim_decode_layers_cost(spec, model, [16384] * 4, 4)
    print("decode step, qwen1.5-7b, 4 layers, 4 x 16K on lolpim-module: " +
          ", ".join(f"{k} {v.time_s * 1e6:.0f} us" for k, v in parts.items()) +
          f"; total {total(parts).time_s * 1e3:.2f} ms, {total(parts).energy_j * 1e3:.2f} mJ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", type=int, default=1000)
    args = parser.parse_args()
    figures()
    speed()
    agreement(args.shapes)
