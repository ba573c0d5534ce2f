"""`lolpim plot RESULTS.jsonl`: scaling plots of a sweep.

  throughput_vs_modules.png  decode throughput against the number of modules/devices
  throughput_vs_context.png  decode throughput against the mean input length
  speedup.png                left: each system's speedup over its smallest module count
                             (with the ideal line); right: LoL-PIM's speedup over each
                             baseline at equal settings
  points.csv                 one row per finished point

Lines are the groups of points that differ only in the x axis; their labels name the
axes that vary across lines.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

THROUGHPUT = "throughput_tokens_per_s"


def _x_modules(rec) -> float:
    return rec["point"].get("modules", rec["result"]["devices"])


def _x_context(rec) -> float:
    return rec["trace"]["mean_input_tokens"]


def _groups(records, x_axis: str, x_of) -> dict:
    """{line key: [(x, record)]}: the points that agree on every axis but ``x_axis``."""
    lines = defaultdict(list)
    for rec in records:
        key = tuple(sorted((k, json.dumps(v)) for k, v in rec["point"].items() if k != x_axis))
        lines[key].append((x_of(rec), rec))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in lines.items()}


def _order(item) -> list:
    """Sort lines by their axis values as numbers/strings, not as JSON text ("4" before "16")."""
    return [(k, json.loads(v)) for k, v in item[0]]


def _style(key: tuple) -> str:
    """LoL-PIM solid, baselines dashed, so systems read apart at a glance."""
    system = dict(key).get("system")
    return "-" if system is None or json.loads(system) == "lolpim" else "--"


def _label(key: tuple, varying: set) -> str:
    parts = [f"{k}={json.loads(v)}" for k, v in key if k in varying]
    return ", ".join(parts) or "all"


def _varying(records, exclude: str) -> set:
    values = defaultdict(set)
    for rec in records:
        for k, v in rec["point"].items():
            values[k].add(json.dumps(v))
    return {k for k, v in values.items() if len(v) > 1 and k != exclude}


def scaling_rows(records) -> list[dict]:
    rows = []
    for rec in records:
        r = rec["result"]
        rows.append({**{f"axis_{k}": v for k, v in rec["point"].items()}, "seed": rec["seed"],
                     "system": r["system"], "devices": r["devices"], "stages": r["stages"],
                     "mean_input_tokens": rec["trace"]["mean_input_tokens"], THROUGHPUT: r[THROUGHPUT],
                     "tpot_mean_s": r["tpot_mean_s"], "kv_used_utilisation": r["kv_used_utilisation"],
                     "module_utilisation": r["module_utilisation"], "events": r["events"],
                     "sim_wall_s": r["wall_s"]})
    return rows


def speedups_over_baselines(records) -> dict:
    """{(baseline system, other axes): [(modules, LoL-PIM tok/s / baseline tok/s)]}, matching
    every axis but the system."""
    index = {}
    for rec in records:
        key = tuple(sorted((k, json.dumps(v)) for k, v in rec["point"].items() if k != "system"))
        index[(rec["result"]["system"], key)] = rec
    curves = defaultdict(list)
    for (system, key), rec in index.items():
        ours = index.get(("lolpim", key))
        if system == "lolpim" or ours is None:
            continue
        rest = tuple(kv for kv in key if kv[0] != "modules")
        curves[(system, rest)].append((_x_modules(rec), ours["result"][THROUGHPUT] / rec["result"][THROUGHPUT]))
    return {k: sorted(v) for k, v in curves.items()}


def plot_results(records, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for axis, x_of, xlabel, name in (("modules", _x_modules, "modules / devices", "throughput_vs_modules.png"),
                                     ("context", _x_context, "mean input tokens", "throughput_vs_context.png")):
        groups = {k: v for k, v in _groups(records, axis, x_of).items() if len(v) > 1}
        if not groups:
            continue
        varying = _varying(records, axis)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, pts in sorted(groups.items(), key=_order):
            ax.plot([p[0] for p in pts], [p[1]["result"][THROUGHPUT] for p in pts], _style(key), marker="o",
                    label=_label(key, varying))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("decode throughput [tokens/s]")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(out / name)
    scaling = {k: v for k, v in _groups(records, "modules", _x_modules).items() if len(v) > 1}
    baselines = speedups_over_baselines(records)
    if scaling or baselines:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        varying = _varying(records, "modules")
        top = 1.0
        for key, pts in sorted(scaling.items(), key=_order):
            x0, t0 = pts[0][0], pts[0][1]["result"][THROUGHPUT]
            left.plot([p[0] / x0 for p in pts], [p[1]["result"][THROUGHPUT] / t0 for p in pts], _style(key),
                      marker="o",
                      label=_label(key, varying))
            top = max(top, pts[-1][0] / x0)
        left.plot([1, top], [1, top], "k--", lw=0.8, label="ideal (relative modules)")
        left.set_xlabel("modules relative to the smallest")
        left.set_ylabel("throughput speedup")
        left.set_title("scaling with modules")
        for (system, rest), pts in sorted(baselines.items(), key=lambda kv: (kv[0][0], _order((kv[0][1],)))):
            right.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                       label=", ".join([f"over {system}"] + [f"{k}={json.loads(v)}" for k, v in rest
                                                             if k in varying]))
        right.axhline(1.0, color="k", lw=0.8)
        right.set_xlabel("modules / devices")
        right.set_ylabel("LoL-PIM throughput / baseline")
        right.set_title("LoL-PIM speedup at equal settings")
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "speedup.png", dpi=110)
        plt.close(fig)
        written.append(out / "speedup.png")
    return written


def run(args) -> int:
    from ..errors import UserError
    from ..results import write_csv
    from ..sweep import read_results
    records = [r for r in read_results(args.results) if r.get("status") == "ok"]
    if not records:
        raise UserError(f"{args.results} holds no finished points")
    out = Path(args.out)
    written = [write_csv(out / "points.csv", scaling_rows(records))] + plot_results(records, out)
    if args.json:
        print(json.dumps({"points": len(records), "files": [str(p) for p in written]}))
    else:
        for path in written:
            print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("plot", help="scaling plots of a sweep's results (throughput vs modules/context, speedups)")
    p.add_argument("results", help="results file written by `lolpim sweep` (JSON lines)")
    p.add_argument("--out", default="results/plots", help="directory for the PNG and CSV files")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=run)
