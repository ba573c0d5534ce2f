"""GPU+PIM throughput against its HBM-PIM capacity, both attention placements, next to the GPUs alone.

For each case (model, trace, GPU count) it simulates `gpu` once and `gpu-pim` with 1, 2, 4, 8
and 16 HBM-PIM stacks per GPU (`gpu_pim.stacks_per_device`, 16 GiB each) under
`gpu_pim.attention_placement = hbm-pim` (AttAcc as published: all KV and attention in HBM-PIM,
1 FLOP per byte) and `best` (KV also in the GPUs' spare HBM, each step's attention split where
it finishes first, GQA-aware FLOPs per byte), all on the same closed-loop trace. The GPUs are
the same in every run (the count the default capacity-matching gives), so only the HBM-PIM
capacity moves.

Run: .venv/bin/python benchmarks/gpu_pim_capacity.py [--csv FILE] [--png FILE] [--requests 32]
(`benchmarks/docs_figures.py --parts gpu-pim` writes docs/figures/gpu_pim_capacity.{csv,png}
and the table in docs/hardware-gpu.md.)
"""
from __future__ import annotations

import argparse
import time

from lolpim.core.errors import ParameterError
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.results import save_figure, write_csv

# model, trace, GPUs (the count capacity-matching gives at the speedup study's 128 / 512 GiB):
# an MHA model (HBM-PIM attention is faster than the GPU's), GQA groups 4 and 8 (slower at 1 FLOP/B)
CASES = [("qwen1.5-7b", "longbench-qmsum", 2), ("llama3.1-8b", "lveval-multifieldqa", 2),
         ("llama3.1-70b", "lveval-multifieldqa", 8)]
STACKS = (1, 2, 4, 8, 16)
PLACEMENTS = ("hbm-pim", "best")


def simulate(model: str, trace: str, gpus: int, requests: int, system: str, extra: list[str]) -> dict:
    cfg = config.load(RunConfig, None, [f"model={model}", f"workload.source={trace}", f"workload.requests={requests}",
                                        f"gpu.count={gpus}", f"gpu_pim.count={gpus}", *extra])
    return run_systems(cfg, (system,), "inline", 0).to_dict()["systems"][0]


def study(requests: int) -> list[dict]:
    rows = []
    for model, trace, gpus in CASES:
        t0 = time.perf_counter()
        gpu = simulate(model, trace, gpus, requests, "gpu", [])
        for stacks in STACKS:
            for placement in PLACEMENTS:
                row = {"model": model, "trace": trace, "gpus": gpus, "stacks_per_device": stacks,
                       "hbm_pim_gib": gpus * stacks * 16, "placement": placement,
                       "gpu_tok_s": round(gpu["throughput_tokens_per_s"], 1)}
                try:
                    r = simulate(model, trace, gpus, requests, "gpu-pim",
                                 [f"gpu_pim.stacks_per_device={stacks}", f"gpu_pim.attention_placement={placement}"])
                except ParameterError as exc:     # the longest request does not fit in the KV memory
                    row.update(gpu_pim_tok_s="", over_gpu="", kv_gib="", ops_per_byte="", note=str(exc).split(":")[0])
                else:
                    tput = r["throughput_tokens_per_s"]
                    row.update(gpu_pim_tok_s=round(tput, 1), over_gpu=round(tput / gpu["throughput_tokens_per_s"], 3),
                               kv_gib=round(r["kv_capacity_gib"], 1), ops_per_byte=r["hbm_pim_ops_per_byte"], note="")
                rows.append(row)
                print(f"{model:13s} {trace:20s} {gpus} GPUs {stacks:2d} stacks {placement:8s} "
                      f"gpu-pim {row['gpu_pim_tok_s'] or row['note']:>8} gpu {row['gpu_tok_s']:8.1f}", flush=True)
        print(f"  [{time.perf_counter() - t0:.0f} s wall]", flush=True)
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = list(dict.fromkeys((r["model"], r["trace"], r["gpus"]) for r in rows))
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.9), squeeze=False)
    for ax, (model, trace, gpus) in zip(axes[0], cases):
        mine = [r for r in rows if (r["model"], r["trace"], r["gpus"]) == (model, trace, gpus)]
        for placement, style, label in (("best", "-o", "gpu-pim, best placement"),
                                        ("hbm-pim", "--s", "gpu-pim, hbm-pim (AttAcc as published)")):
            pts = [(r["hbm_pim_gib"], r["gpu_pim_tok_s"]) for r in mine if r["placement"] == placement
                   and r["gpu_pim_tok_s"] != ""]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        ax.axhline(mine[0]["gpu_tok_s"], color="k", ls=":", label="the same A100s alone (gpu)")
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["hbm_pim_gib"] for r in mine if r["placement"] == "best"])
        ax.set_xticklabels([str(r["hbm_pim_gib"]) for r in mine if r["placement"] == "best"])
        ax.set_xlabel(f"HBM-PIM GiB ({gpus} GPUs x 1-16 stacks)")
        ax.set_ylabel("decode tok/s")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{model}, {trace}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--csv", default=None)
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    rows = study(args.requests)
    if args.csv:
        write_csv(args.csv, rows)
    if args.png:
        plot(rows, args.png)


if __name__ == "__main__":
    main()
