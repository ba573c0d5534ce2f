"""Draw a `lolpim run --timeline` trace as a PNG: one row per track, spans as bars, counters as
lines, instants as ticks; the time axis in milliseconds of simulated time. For docs (there is
no browser to screenshot Perfetto in) and for a quick look without one.

    .venv/bin/python benchmarks/timeline_png.py trace.json out.png [--process lolpim]
        [--from-ms 0 --to-ms 50] [--no-links]

A counter row is scaled to its own largest value (written at the row's right). Spans shorter
than about a pixel (link transfers: microseconds) are drawn a pixel wide.
"""
from __future__ import annotations

import argparse
import json
import sys
from lolpim.orchestration.results import save_figure
from collections import defaultdict
from pathlib import Path

SPAN_COLOURS = {"decode": "#2e86c1", "prefill": "#e67e22", "decode+prefill": "#8e44ad", "transfer": "#7f8c8d",
                "gpu prefill": "#e67e22"}
INSTANT_COLOURS = {"alloc": "#27ae60", "free": "#95a5a6", "refused": "#c0392b", "admission refused": "#c0392b",
                   "preempt": "#c0392b"}
SERIES_COLOURS = {"waiting": "#e67e22", "running": "#222222", "allocated chunks": "#8e44ad"}
OTHER_SERIES = ["#16a085", "#d35400", "#2c3e50"]


def read_tracks(trace: dict, process: str | None):
    """(process name, [(track name, [events])] in the trace's track order)."""
    events = trace["traceEvents"]
    procs = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    if not procs:
        raise SystemExit("timeline_png: the file has no process_name metadata: not a lolpim trace")
    pid = next(iter(procs)) if process is None else next((p for p, n in procs.items() if n == process), None)
    if pid is None:
        raise SystemExit(f"timeline_png: no process {process!r}; the trace has {', '.join(procs.values())}")
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == pid}
    order = {e["tid"]: e["args"]["sort_index"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_sort_index" and e["pid"] == pid}
    by_tid = defaultdict(list)
    for e in events:
        if e["ph"] != "M" and e["pid"] == pid:
            by_tid[e["tid"]].append(e)
    tids = sorted(names, key=lambda t: (order.get(t, t), t))
    return procs[pid], [(names[t], by_tid[t]) for t in tids]


def draw(trace: dict, out: Path, process=None, from_ms=None, to_ms=None, links=True) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    name, tracks = read_tracks(trace, process)
    if not links:
        tracks = [(t, evs) for t, evs in tracks if not t.endswith(" link")]
    ends = [(e["ts"] + e.get("dur", 0)) / 1e3 for _, evs in tracks for e in evs]
    lo = 0.0 if from_ms is None else from_ms
    hi = (max(ends) if ends else 1.0) if to_ms is None else to_ms
    fig, ax = plt.subplots(figsize=(13, 0.42 * len(tracks) + 1.6))
    used = set()
    # a link transfer lasts microseconds next to passes of milliseconds: draw every span at least
    # about a pixel wide, so that it shows where it is (its length then is not to scale)
    min_ms = (hi - lo) / 1400
    for row, (_track, evs) in enumerate(tracks):
        y = len(tracks) - 1 - row          # the first track on top, as in a trace viewer
        bars = defaultdict(list)
        for e in evs:
            if e["ph"] == "X":
                start, dur = e["ts"] / 1e3, e["dur"] / 1e3
                if start + dur >= lo and start <= hi:
                    bars[e["name"]].append((start, max(dur, min_ms)))
        for label, spans in bars.items():
            # a thin white edge shows where one pass ends and the next starts; not on the
            # pixel-wide transfers, which it would hide
            edge = {"linewidth": 0} if label == "transfer" else {"edgecolor": "white", "linewidth": 0.5}
            ax.broken_barh(spans, (y - 0.35, 0.7), facecolors=SPAN_COLOURS.get(label, "#34495e"), **edge)
            used.add(("span", label))
        ticks = defaultdict(list)
        for e in evs:
            if e["ph"] == "i" and lo <= e["ts"] / 1e3 <= hi:
                ticks[e["name"]].append(e["ts"] / 1e3)
        for label, xs in ticks.items():
            colour = INSTANT_COLOURS.get(label, "black")
            ax.vlines(xs, y - 0.4, y + 0.4, colors=colour, linewidth=0.8 if colour != "#c0392b" else 1.6)
            used.add(("instant", label))
        samples = [e for e in evs if e["ph"] == "C"]
        if samples:
            series = list(dict.fromkeys(k for e in samples for k in e["args"]))
            top = max(max(e["args"].values()) for e in samples) or 1
            for i, key in enumerate(series):
                xs, ys, last = [], [], 0
                for e in samples:   # a gauge holds its value until the next sample: draw steps
                    t = e["ts"] / 1e3
                    last = e["args"].get(key, last)
                    xs.append(t)
                    ys.append(y - 0.4 + 0.8 * last / top)
                if xs:
                    xs.append(hi)
                    ys.append(ys[-1])
                    colour = SERIES_COLOURS.get(key, OTHER_SERIES[i % len(OTHER_SERIES)])
                    ax.step(xs, ys, where="post", color=colour, linewidth=1.2)
                    used.add(("series", key, colour))
            ax.text(hi, y + 0.25, f" max {top:g}", fontsize=7, va="center", ha="left", clip_on=False)
    ax.set_yticks(range(len(tracks)), [t for t, _ in reversed(tracks)], fontsize=8)
    ax.set_ylim(-0.7, len(tracks) - 0.3)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("simulated time [ms]")
    ax.grid(axis="x", alpha=0.3)
    handles = []
    rank = {"span": 0, "instant": 1, "series": 2}
    for kind, *rest in sorted(used, key=lambda u: (rank[u[0]], u[1])):
        if kind == "span":
            handles.append(Patch(color=SPAN_COLOURS.get(rest[0], "#34495e"), label=rest[0]))
        elif kind == "instant":
            handles.append(Patch(color=INSTANT_COLOURS.get(rest[0], "black"), label=f"| {rest[0]}"))
        else:
            handles.append(plt.Line2D([], [], color=rest[1], label=f"{rest[0]} (counter)"))
    ax.legend(handles=handles, fontsize=7, ncol=min(len(handles), 6) or 1, loc="lower left",
              bbox_to_anchor=(0, 1.0), frameon=False)
    cut = (trace.get("otherData") or {}).get("truncated_at_ms") or {}
    title = f"{name}: timeline of the simulated run"
    if name in cut:
        title += f" (recording capped at {cut[name]:.3f} ms)"
    fig.suptitle(title, fontsize=10, y=0.995)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace", type=Path, help="a trace written by lolpim run --timeline")
    p.add_argument("out", type=Path, help="the PNG to write")
    p.add_argument("--process", default=None, help="the system to draw (default: the first in the trace)")
    p.add_argument("--from-ms", type=float, default=None, help="start of the window [ms of simulated time]")
    p.add_argument("--to-ms", type=float, default=None, help="end of the window [ms of simulated time]")
    p.add_argument("--no-links", dest="links", action="store_false", help="leave out the link-transfer rows")
    args = p.parse_args(argv)
    try:
        trace = json.loads(args.trace.read_text())
    except (OSError, ValueError) as exc:
        print(f"timeline_png: cannot read {args.trace}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {draw(trace, args.out, args.process, args.from_ms, args.to_ms, args.links)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
