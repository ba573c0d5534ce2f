"""The main job: LoL-PIM against its baselines on one trace, as a table, JSON, CSV and a plot."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
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
    ("preemptions", "preempt", "{}"),
)


def run_systems(cfg: RunConfig, kinds, executor_name: str, seed: int, address=None, max_processes=None,
                show_progress: bool = False) -> dict:
    """Simulate each system on the same trace. On Ray the systems run side by side (each
    coordinator waits on its own Ray processes); inline they run one after another."""
    trace = make_trace(cfg, seed)
    built = [build(kind, cfg, trace, seed) for kind in kinds]   # config errors surface before any run
    total_tokens = int(trace.output_tokens.sum()) * len(built)
    bar = Progress("simulating", total=1.0, enabled=show_progress)
    done_events: dict[str, int] = {}

    def progress(kind):
        def update(_t, n):
            done_events[kind] = n
            # about six events per output token per system: a rough but monotone estimate
            bar.update(min(0.99, sum(done_events.values()) / (6.0 * total_tokens + 1)),
                       f"{sum(done_events.values())} events")
        return update

    def simulate(system):
        executor = make_executor(executor_name, address, max_processes=max_processes, progress=progress(system.kind))
        return summarise(system, executor.run(system.spec))

    try:
        if executor_name == "ray" and len(built) > 1:
            from lolpim.actors.ray_executor import ensure_ray
            ensure_ray(address)
            with ThreadPoolExecutor(len(built)) as pool:
                summaries = list(pool.map(simulate, built))
        else:
            summaries = [simulate(system) for system in built]
    finally:
        bar.close()
    base = next((s for s in summaries if s["system"] == "lolpim"), None)
    for s in summaries:
        s["speedup"] = base["throughput_tokens_per_s"] / s["throughput_tokens_per_s"] if base else math.nan
    return {"model": cfg.model, "pim_capacity_gb": cfg.pim_capacity_gb, "trace": trace.name,
            "requests": len(trace), "mean_input_tokens": float(trace.input_tokens.mean()),
            "mean_output_tokens": float(trace.output_tokens.mean()), "prefill": cfg.prefill,
            "executor": executor_name, "seed": seed, "systems": summaries}


def format_table(result: dict) -> str:
    rows = [[c[1] for c in TABLE_COLUMNS]]
    for s in result["systems"]:
        row = []
        for col in TABLE_COLUMNS:
            value = s[col[0]]
            if len(col) > 3:
                value = value * col[3]
            row.append("-" if isinstance(value, float) and math.isnan(value) else col[2].format(value))
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
             write_csv(out / "comparison.csv", [{k: v for k, v in s.items() if k != "per_request"}
                                                for s in result["systems"]]),
             write_csv(out / "requests.csv", [dict(system=s["system"], **r) for s in result["systems"]
                                              for r in s["per_request"]])]
    paths.append(plot(result, out / "comparison.png"))
    return paths


def plot(result: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    systems = [s["system"] for s in result["systems"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [("throughput_tokens_per_s", "throughput [output tokens/s]", 1.0, "%.0f"),
              ("tpot_mean_s", "mean time per output token [ms]", 1e3, "%.1f"),
              ("kv_used_utilisation", "KV capacity in use [%]", 100.0, "%.0f")]
    for ax, (key, label, scale, fmt) in zip(axes, panels):
        values = [s[key] * scale for s in result["systems"]]
        bars = ax.bar(systems, values, color=["#c0392b" if s == "lolpim" else "#7f8c8d" for s in systems])
        ax.bar_label(bars, fmt=fmt, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{result['model']}, {result['pim_capacity_gb']:.0f} GB PIM, {result['trace']} "
                 f"({result['requests']} requests)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
