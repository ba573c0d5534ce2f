"""`lolpim plot RESULTS.jsonl`: scaling plots of a sweep.

  throughput_vs_modules.png  decode throughput against the number of PIM modules (a fixed
                             baseline, e.g. "4 x A100" from a [[baseline]] table, is a
                             horizontal line across the module range)
  throughput_vs_context.png  decode throughput against the mean input length
  speedup.png                left: each system's speedup over its smallest module count,
                             with ideal (linear) scaling; right: LoL-PIM's speedup over each
                             baseline at equal settings (equal workload; equal modules where
                             the baseline has modules too)
  points.csv                 one row per finished point

Lines are the groups of points that differ only in the x axis; a group of one point is
drawn as a marker. Each figure is titled with the model, trace, requests and output tokens;
x ticks sit at the values actually run. Colours stand for the workload (trace, context, ...)
when it varies, else for the system, and are the same in every panel; line style and marker
stand for the system.
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from lolpim.core.errors import UserError
from lolpim.core.presets import parsing
from lolpim.orchestration.llm import registry
from lolpim.orchestration.results import save_figure, write_csv
from lolpim.orchestration.sweep import _hardware, is_hardware_axis, read_results

THROUGHPUT = "throughput_tokens_per_s"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


# each system's name, place in the legends and style come from its registered kind
# (orchestration/llm/registry.py); a system a results file names but this install does not know
# (a plugin not installed here) keeps its own name, comes last and takes the default style
def _kind(system: str):
    return registry.kinds().get(system)


def system_name(system: str) -> str:
    kind = _kind(system)
    return kind.label if kind else system


def system_rank(system: str) -> int:
    names = registry.names()
    return names.index(system) if system in names else len(names)


def system_style(system: str) -> tuple[str, str]:
    kind = _kind(system)
    return (kind.style.linestyle, kind.style.marker) if kind else ("-", "o")


def system_colours() -> dict[str, str]:
    """Each registered kind's colour: its style's, else the palette's next one no kind has taken."""
    kinds = registry.kinds().values()
    free = iter([c for c in COLOURS if c not in {k.style.colour for k in kinds}] * 4)
    return {k.name: k.style.colour or next(free, "k") for k in kinds}


def _system(rec) -> str:
    return rec["result"]["system"]


def _x_modules(rec) -> float | None:
    """A point's module count; None for a system without a modules axis (a fixed baseline)."""
    return rec["point"].get("modules")


def _x_context(rec) -> float:
    return rec["trace"]["mean_input_tokens"]


def _items(point: dict, drop=()) -> tuple:
    return tuple(sorted((k, json.dumps(v)) for k, v in point.items() if k not in drop))


def _value_order(items: tuple) -> list:
    """Sort by axis values as numbers/strings, not as JSON text ("4" before "16")."""
    return [(k, str(type(json.loads(v))), json.loads(v)) for k, v in items]


def _varying(records) -> set:
    values = defaultdict(set)
    for rec in records:
        for k, v in rec["point"].items():
            values[k].add(json.dumps(v))
    keys = {k for rec in records for k in rec["point"]}
    # an axis only some points have (a baseline without 'modules') varies too
    return {k for k in keys if len(values[k]) > 1 or any(k not in rec["point"] for rec in records)}


def _short(value) -> str:
    text = str(value)
    return text.removeprefix("longbench-")


class Palette:
    """One colour per workload (the varying axes that are not hardware, nor the x axis), or per
    system when the workload does not vary; shared by every panel of a figure."""

    def __init__(self, records, x_axis: str):
        varying = _varying(records)
        self.axes = sorted(k for k in varying if k != x_axis and (not is_hardware_axis(k) or
                                                                   (k == "modules" and x_axis != "modules")))
        self.colours: dict[Any, str]      # by workload key (a tuple) or by system name
        if self.axes:
            keys = sorted({self.key(rec) for rec in records}, key=_value_order)
            self.colours = {k: COLOURS[i % len(COLOURS)] for i, k in enumerate(keys)}
        else:
            self.colours = system_colours()

    def key(self, rec) -> tuple:
        return tuple((a, json.dumps(rec["point"].get(a))) for a in self.axes)

    def colour(self, rec) -> str:
        return self.colours[self.key(rec)] if self.axes else self.colours.get(_system(rec), "k")

    def workload_label(self, rec) -> str:
        parts = []
        for a in self.axes:
            if a not in rec["point"]:
                continue
            v = rec["point"][a]
            parts.append(_short(v) if a == "trace" else f"{v} modules" if a == "modules" else f"{a} {v}")
        return ", ".join(parts)


def _system_label(rec, varying: set, x_axis: str, shown=()) -> str:
    """'LoL-PIM' / 'CENT, kv_mode=dynamic' / 'GPU: 4 x a100-80gb (80 GB HBM), fixed'."""
    system = _system(rec)
    name = system_name(system)
    extra = [f"{k.split('.')[-1]}={json.loads(v)}" for k, v in _items(rec["point"], ("system", "gpus", x_axis))
             if k in varying and is_hardware_axis(k) and k not in shown]
    if "modules" not in rec["point"]:
        name += f": {_hardware(rec['result'])}" + (", fixed" if x_axis == "modules" else "")
    return ", ".join([name] + extra)


def _label(rec, palette: Palette, varying: set, x_axis: str) -> str:
    work = palette.workload_label(rec)
    return _system_label(rec, varying, x_axis, palette.axes) + (f" · {work}" if work else "")


def _style(rec) -> tuple[str, str]:
    return system_style(_system(rec))


def _groups(records, x_axis: str, x_of) -> dict:
    """{line key: [(x, record)]}: the points that agree on every axis but ``x_axis``. Records
    without the x axis are left out (the caller draws them as fixed references)."""
    lines = defaultdict(list)
    for rec in records:
        x = x_of(rec)
        if x is None:
            continue
        lines[_items(rec["point"], (x_axis,))].append((x, rec))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in lines.items()}


def _series_order(item) -> tuple:
    rec = item[1][0][1]
    return (system_rank(_system(rec)), _value_order(item[0]))


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


def _matches(ours: dict, theirs: dict) -> bool:
    """Equal settings: every axis both points have agrees (but the system); an axis only one
    of them has describes its own hardware (LoL-PIM's modules, the baseline's GPU count)."""
    for k in set(ours) | set(theirs):
        if k == "system":
            continue
        if k in ours and k in theirs:
            if ours[k] != theirs[k]:
                return False
        elif not is_hardware_axis(k):
            return False
    return True


def speedups_over_baselines(records) -> dict:
    """{(baseline system, baseline point without modules, LoL-PIM's own hardware axes):
    [(LoL-PIM modules, LoL-PIM tok/s / baseline tok/s, baseline record)]}. A baseline that
    has a modules axis is compared at equal modules; a fixed one (no modules axis) with every
    LoL-PIM point of the same workload."""
    present = {_system(r) for r in records}
    # "LoL-PIM" is the first registered speedup reference the records have (lolpim, else lolpim-xpu)
    reference = next((k for k in registry.speedup_references() if k in present), None)
    ours = [r for r in records if _system(r) == reference and _x_modules(r) is not None]
    curves = defaultdict(list)
    for base in records:
        if _system(base) == reference:
            continue
        for rec in ours:
            if not _matches(rec["point"], base["point"]):
                continue
            own = tuple((k, v) for k, v in _items(rec["point"], ("modules", "system"))
                        if is_hardware_axis(k) and k not in base["point"])
            key = (_system(base), _items(base["point"], ("modules",)), own)
            curves[key].append((_x_modules(rec), rec["result"][THROUGHPUT] / base["result"][THROUGHPUT], base))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in curves.items()}


def plot_title(records) -> str:
    """'llama2-7b · trace longbench-qmsum · 32 requests x 64 output tokens (mean)'."""
    def distinct(values):
        return list(dict.fromkeys(v for v in values if v is not None))
    models = distinct(r.get("model", r["point"].get("model")) for r in records)
    traces = distinct(r["trace"]["trace"] for r in records)
    requests = distinct(r["trace"]["requests"] for r in records)
    outputs = distinct(round(r["trace"]["mean_output_tokens"]) for r in records)
    parts = []
    if models:
        parts.append(", ".join(map(str, models)))
    if traces and all(t.startswith("fixed-") for t in traces):
        inputs = sorted({round(r["trace"]["mean_input_tokens"]) for r in records})
        parts.append("fixed-length prompts of " + "/".join(map(str, inputs)) + " tokens")
    elif traces:
        parts.append(("trace " if len(traces) == 1 else "traces ") + ", ".join(traces))
    parts.append("/".join(map(str, requests)) + " requests x " + "/".join(map(str, outputs)) + " output tokens")
    prefill = distinct(r.get("prefill") for r in records)
    if prefill == ["before"]:
        parts.append("decode only")
    return " · ".join(parts)


def _ticks(ax, values, fmt=lambda v: f"{v:g}") -> None:
    from matplotlib.ticker import NullLocator
    values = sorted(set(values))
    if not values or len(values) > 16:
        return
    ax.set_xticks(values)
    ax.set_xticklabels([fmt(v) for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    if len(values) == 1:
        ax.set_xlim(values[0] / 1.5, values[0] * 1.5)


def _plain_log_y(ax) -> None:
    """Log y with plain numbers (1, 2, 5, 10, ...) rather than 2 x 10^3."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def throughput_figure(records, x_axis: str):
    """Throughput against ``x_axis`` ("modules" or "context"); None if nothing to draw."""
    import matplotlib.pyplot as plt
    x_of, xlabel = {"modules": (_x_modules, "PIM modules"),
                    "context": (_x_context, "mean input tokens")}[x_axis]
    groups = _groups(records, x_axis, x_of)
    fixed = [r for r in records if x_of(r) is None] if x_axis == "modules" else []
    fixed.sort(key=lambda r: (system_rank(_system(r)), _value_order(_items(r["point"]))))
    if x_axis == "context" and not any(len(v) > 1 for v in groups.values()):
        return None   # no context axis: every point would be its own marker
    if not groups:
        return None
    palette, varying = Palette(records, x_axis), _varying(records)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    xs = [x for pts in groups.values() for x, _ in pts]
    for _key, pts in sorted(groups.items(), key=_series_order):
        rec = pts[0][1]
        ls, marker = _style(rec)
        ax.plot([p[0] for p in pts], [p[1]["result"][THROUGHPUT] for p in pts], linestyle=ls, marker=marker,
                color=palette.colour(rec), label=_label(rec, palette, varying, x_axis))
    lo, hi = min(xs), max(xs)
    for rec in fixed:   # a fixed baseline: its throughput across the whole module range
        ls, marker = _style(rec)
        y = rec["result"][THROUGHPUT]
        ax.plot([lo, hi], [y, y], linestyle=ls, marker=marker, markevery=[0], color=palette.colour(rec),
                label=_label(rec, palette, varying, x_axis))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_log_y(ax)
    _ticks(ax, xs, (lambda v: f"{v:g}") if x_axis == "modules" else (lambda v: f"{v:.0f}"))
    ax.set_xlabel(xlabel)
    # log axes: the lines span decades of modules and throughput; the label says so, since a log
    # axis does not start at zero and a small step looks larger than on a linear one
    ax.set_ylabel("decode throughput [tokens/s, log scale]")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(plot_title(records), fontsize=9)
    _legend(ax)
    fig.tight_layout()
    return fig


def speedup_figure(records):
    """Left: scaling of each system with modules, with the ideal; right: LoL-PIM over each
    baseline at equal settings. None if neither has data."""
    import matplotlib.pyplot as plt
    scaling = {k: v for k, v in _groups(records, "modules", _x_modules).items() if len(v) > 1}
    baselines = speedups_over_baselines(records)
    if not scaling and not baselines:
        return None
    palette, varying = Palette(records, "modules"), _varying(records)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    ratios = {1.0}
    starts = {pts[0][0] for pts in scaling.values()}
    for _key, pts in sorted(scaling.items(), key=_series_order):
        rec = pts[0][1]
        ls, marker = _style(rec)
        x0, t0 = pts[0][0], pts[0][1]["result"][THROUGHPUT]
        rel = [p[0] / x0 for p in pts]
        ratios.update(rel)
        label = _label(rec, palette, varying, "modules") + (f" (1 = {x0:g} modules)" if len(starts) > 1 else "")
        left.plot(rel, [p[1]["result"][THROUGHPUT] / t0 for p in pts], linestyle=ls, marker=marker,
                  color=palette.colour(rec), label=label)
    # ideal scaling: speedup = relative modules, sampled densely so it is the line y = x
    # however the axes are scaled, and passing through every module ratio run
    top = max(ratios)
    ideal = np.unique(np.concatenate([np.geomspace(1.0, top, 64), sorted(ratios)]))
    left.plot(ideal, ideal, color="k", linestyle="--", lw=0.8, label="ideal (speedup = relative modules)")
    left.set_xscale("log", base=2)
    left.set_yscale("log", base=2)
    from matplotlib.ticker import FuncFormatter, NullFormatter
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    left.yaxis.set_minor_formatter(NullFormatter())
    _ticks(left, ratios)
    left.set_xlabel("modules relative to the smallest"
                    + (f" ({min(starts):g})" if len(starts) == 1 else " of each line"))
    left.set_ylabel("throughput speedup over the smallest")
    left.set_title("scaling with modules", fontsize=10)
    xs = []
    for (_system, _base, own), pts in sorted(baselines.items(), key=lambda kv: (
            system_rank(kv[0][0]), _value_order(kv[0][1]), kv[0][2])):
        base = pts[0][2]
        ls, marker = _style(base)
        xs += [p[0] for p in pts]
        extra = [f"{k.split('.')[-1]}={json.loads(v)}" for k, v in own if k in varying]
        label = ("over " + _system_label(base, varying, "modules", palette.axes)
                 + (f" ({', '.join(extra)})" if extra else ""))
        work = palette.workload_label(base)
        right.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=ls, marker=marker,
                   color=palette.colour(base), label=label + (f" · {work}" if work else ""))
    if not baselines:   # say so, rather than draw an empty panel
        right.text(0.5, 0.5, "no baseline in these results:\nLoL-PIM's speedup needs a baseline run\n"
                   "at the same settings (e.g. system = [\"lolpim\", \"cent\"])", ha="center", va="center",
                   transform=right.transAxes, fontsize=10)
        right.set_xticks([])
        right.set_yticks([])
        xs = []
    else:
        right.axhline(1.0, color="k", lw=0.8)
        right.set_xscale("log", base=2)
        _ticks(right, xs)
    right.set_xlabel("LoL-PIM modules")
    right.set_ylabel("LoL-PIM throughput / baseline throughput")
    right.set_title("LoL-PIM speedup at equal settings", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        _legend(ax)
    fig.suptitle(plot_title(records), fontsize=10)
    fig.tight_layout()
    return fig


def plot_results(records, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in (("throughput_vs_modules.png", lambda: throughput_figure(records, "modules")),
                       ("throughput_vs_context.png", lambda: throughput_figure(records, "context")),
                       ("speedup.png", lambda: speedup_figure(records))):
        fig = make()
        if fig is None:
            continue
        save_figure(fig, out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(out / name)
    return written


MAX_PLOT_POINTS = 20_000    # a scaling figure of more points is unreadable, and slow to draw
RESULT_KEYS = ("system", "devices", "stages", "tpot_mean_s", "kv_used_utilisation", "module_utilisation", "events",
               "wall_s")
TRACE_KEYS = ("trace", "requests")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plottable(rec: dict) -> bool:
    """A finished point with every field the plots and points.csv read (a results file may be
    edited by hand, or not be a sweep's at all)."""
    result, trace = rec.get("result"), rec.get("trace")
    return (isinstance(rec.get("point"), dict) and "seed" in rec and isinstance(result, dict)
            and isinstance(trace, dict) and all(k in result for k in RESULT_KEYS) and isinstance(result["system"], str)
            and _number(result.get(THROUGHPUT)) and result[THROUGHPUT] > 0 and all(k in trace for k in TRACE_KEYS)
            and _number(trace.get("mean_input_tokens")) and _number(trace.get("mean_output_tokens")))


def run(args) -> int:
    finished = [r for r in read_results(args.results) if r.get("status") == "ok"]
    records = [r for r in finished if plottable(r)]
    lacking = f"{len(finished) - len(records)} finished point(s) without the fields a plot needs"
    if not records:
        raise UserError(f"{args.results} holds no plottable points" + (f" ({lacking})" if finished else ""))
    if len(records) < len(finished):
        print(f"lolpim: warning: {args.results}: skipped {lacking}", file=sys.stderr)
    if len(records) > MAX_PLOT_POINTS:   # 100k points took minutes and gigabytes to draw
        raise UserError(f"{args.results}: {len(records):,} plottable points, over the {MAX_PLOT_POINTS:,} a plot "
                        f"draws; plot a sweep of fewer points (the results file itself holds them all)")
    out = Path(args.out)
    # plottable() checks the fields; a value edited by hand can still divide by zero or be of the
    # wrong type deep in a figure: one line naming the file, not a traceback
    with parsing(args.results, "results", "sweep results file (JSON lines)"):
        rows = scaling_rows(records)
        written = [write_csv(out / "points.csv", rows)] + plot_results(records, out)
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
