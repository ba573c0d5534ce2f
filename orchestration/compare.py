"""The main job: LoL-PIM against its baselines on one trace, as a table, JSON, CSV and a plot."""
from __future__ import annotations

import math
from pathlib import Path

from .executors import make_executor
from .llm_config import RunConfig
from .llm_systems import build, make_trace, summarise
from .progress import Progress

TABLE_COLUMNS = (
    ("system", "system", "{}"),
    ("throughput_tokens_per_s", "tok/s", "{:.1f}"),
    ("tpot_mean_s", "TPOT mean ms", "{:.2f}", 1e3),
    ("tpot_p99_s", "TPOT p99 ms", "{:.2f}", 1e3),
    ("ttft_mean_s", "TTFT mean s", "{:.2f}"),
    ("kv_used_utilisation", "KV used", "{:.1%}"),
    ("kv_allocated_utilisation", "KV alloc", "{:.1%}"),
    ("module_utilisation", "busy", "{:.1%}"),
    ("speedup", "LoL-PIM speedup", "{:.2f}x"),
)


def run_systems(cfg: RunConfig, kinds, executor_name: str, seed: int, address=None, max_processes=None,
                show_progress: bool = False) -> dict:
    trace = make_trace(cfg, seed)
    summaries = []
    for kind in kinds:
        built = build(kind, cfg, trace, seed)
        total_tokens = int(trace.output_tokens.sum())
        bar = Progress(f"{kind:8s}", total=1.0, enabled=show_progress)
        executor = make_executor(executor_name, address, max_processes=max_processes,
                                 progress=lambda t, n, b=bar: b.update(min(0.99, n / (6.0 * total_tokens + 1)),
                                                                       f"{n} events"))
        try:
            run = executor.run(built.spec)
        finally:
            bar.close()
        summaries.append(summarise(built, run))
    base = next((s for s in summaries if s["system"] == "lolpim"), None)
    for s in summaries:
        s["speedup"] = base["throughput_tokens_per_s"] / s["throughput_tokens_per_s"] if base else math.nan
    return {"model": cfg.model, "pim_capacity_gb": cfg.pim_capacity_gb, "trace": trace.name,
            "requests": len(trace), "mean_input_tokens": float(trace.input_tokens.mean()),
            "mean_output_tokens": float(trace.output_tokens.mean()), "executor": executor_name, "seed": seed,
            "systems": summaries}


def format_table(result: dict) -> str:
    rows = [[c[1] for c in TABLE_COLUMNS]]
    for s in result["systems"]:
        row = []
        for col in TABLE_COLUMNS:
            value = s[col[0]]
            if len(col) > 3:
                value = value * col[3]
            row.append(col[2].format(value))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    head = (f"{result['model']}, {result['pim_capacity_gb']:.0f} GB of PIM, trace {result['trace']} "
            f"({result['requests']} requests, mean input {result['mean_input_tokens']:.0f}, "
            f"mean output {result['mean_output_tokens']:.0f} tokens), executor {result['executor']}")
    desc = "\n".join(f"  {s['system']:8s} {s['description']}" for s in result["systems"])
    return f"{head}\n{desc}\n\n" + "\n".join(lines)


def write_outputs(result: dict, out: Path) -> list[Path]:
    from .results import write_csv, write_json
    paths = [write_json(out / "comparison.json", result),
             write_csv(out / "comparison.csv", [{k: v for k, v in s.items()} for s in result["systems"]])]
    paths.append(plot(result, out / "comparison.png"))
    return paths


def plot(result: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    systems = [s["system"] for s in result["systems"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [("throughput_tokens_per_s", "decode throughput [tokens/s]", 1.0),
              ("tpot_mean_s", "mean time per output token [ms]", 1e3),
              ("kv_used_utilisation", "KV capacity in use [%]", 100.0)]
    for ax, (key, label, scale) in zip(axes, panels):
        values = [s[key] * scale for s in result["systems"]]
        bars = ax.bar(systems, values, color=["#c0392b" if s == "lolpim" else "#7f8c8d" for s in systems])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{result['model']}, {result['pim_capacity_gb']:.0f} GB PIM, {result['trace']} "
                 f"({result['requests']} requests)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
