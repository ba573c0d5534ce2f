"""The cortical sheet (`lolpim plasticity od-map`) against processes: wall time, synapse-events/s and
cross-process messages per simulated second, inline beside Ray with P = 1, 2 (more with --processes).

    .venv/bin/python benchmarks/od_map.py --scaling [--size 32] [--synapses 100] [--seconds 2]
        [--processes 1,2] [--sizes 16,32] [--eye-threads 1|2] [--json-out PATH]

Every run is the same sheet, seed and simulated time, tiled in one row of tiles per process
(inline: one row of tiles per P as well, so each P's inline run is its own bit-for-bit reference);
every Ray run must equal its inline run bit for bit (checked, printed as "identical").
"tile CPU s" is the CPU time the tiles spent in their own handlers, summed over tiles (each
handler's thread time: the simulation's work, without the executor's or Ray's).
"cross-process messages" are lateral-spike messages between tiles in different processes (one per
window and pair of tiles with spikes to send), counted per simulated second. Machine load (the
1-minute load average before and after) is printed with each row: the development machine is
shared, so wall times there are indicative.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.plasticity import od_map as actors
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import od_map as om
from lolpim.orchestration.learning_config import OdMapRun
from lolpim.orchestration.plasticity import od_map as cli
from lolpim.orchestration.plasticity.od_map import process_of_tiles
from lolpim.orchestration.results import write_text

CHECKPOINT_SIM_S = 5.0


def _cross(results, tiles: int, processes: int) -> tuple[int, int, int]:
    """(lateral messages, those crossing processes, windows in which at least one crossed). A tile
    sends its window's spikes to all its target tiles at once, so every window it sent in
    (``sent_windows``) has a crossing if any of its targets sits in another process."""
    where = process_of_tiles(tiles, processes)
    total = cross = 0
    crossing_windows: set[int] = set()
    for r in results.values():
        if "tile" not in r:
            continue
        crosses = False
        for dst, count in r["sent"].items():
            total += count
            if where[r["tile"]] != where[int(dst[1:])]:
                cross += count
                crosses = True
        if crosses:
            crossing_windows.update(np.frombuffer(r["sent_windows"], dtype=np.int64).tolist())
    return total, cross, len(crossing_windows)


def run_one(size: int, synapses: int, seconds: float, executor: str, processes: int, seed: int = 0,
            tiles: int | None = None, eye_threads: int = 1) -> dict:
    params = cascade.load_params("cortical")
    cfg, variant = om.load_sheet(size=size, synapses_per_eye=synapses, binocular_s=seconds, sample_interval_s=seconds)
    tiles = tiles or processes
    system = actors.sheet_system(params, cfg, variant, seed, 1, tiles, eye_threads=eye_threads)
    load0 = os.getloadavg()[0]
    if executor == "inline":
        ex = InlineExecutor()
    else:
        from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
        ensure_ray(None)
        ex = RayExecutor(max_processes=processes,
                         checkpoint_every=max(1, round(CHECKPOINT_SIM_S * 1e12 / actors.window_ps(cfg))))
    t0, c0 = time.perf_counter(), time.process_time()
    run = ex.run(system)
    wall, driver_cpu = time.perf_counter() - t0, time.process_time() - c0
    data = actors.collect(run.results, size)
    total, cross, crossing = _cross(run.results, tiles, processes if executor == "ray" else 1)
    windows = math.ceil(round(seconds * 1e12) / actors.window_ps(cfg))    # the lookahead's windows of the run
    return {"size": size, "synapses_per_eye": synapses, "synapses": 2 * size * size * synapses,
            "simulated_s": seconds, "executor": executor, "processes": processes if executor == "ray" else 1,
            "tiles": tiles, "eye_threads": eye_threads, "wall_s": wall, "driver_cpu_s": driver_cpu,
            "tile_cpu_s": sum(r["measured"]["cpu_s"] for r in run.results.values() if "tile" in r),
            "synapse_events": data["events"], "synapse_events_per_s": data["events"] / wall,
            "lateral_messages": total, "cross_process_messages": cross,
            "cross_process_messages_per_simulated_s": cross / seconds,
            "lookahead_windows": windows, "windows_with_crossing": crossing,
            "windows": run.stats.get("windows"), "driver_calls": run.stats.get("calls"),
            "load_before": load0, "load_after": os.getloadavg()[0],
            "_weights": data["mean_w"][-1], "_spikes": data["spikes"]}


def scaling(size: int, synapses: int, seconds: float, processes: list[int], eye_threads: int = 1) -> list[dict]:
    """Every run with the same tiling (one row of tiles per process of the largest P), so the runs
    differ only in processes: inline, then Ray at each P, each checked against inline."""
    tiles = max(processes)
    ref = run_one(size, synapses, seconds, "inline", 1, tiles=tiles, eye_threads=eye_threads)
    rows = [ref]
    for p in processes:
        ray_row = run_one(size, synapses, seconds, "ray", p, tiles=tiles, eye_threads=eye_threads)
        ray_row["identical_to_inline"] = bool(np.array_equal(ref["_weights"], ray_row["_weights"])
                                              and np.array_equal(ref["_spikes"], ray_row["_spikes"]))
        rows.append(ray_row)
    return rows


def print_rows(rows: list[dict]) -> None:
    print("size  S     synapses  sim s  executor  P  tiles  wall s  tile CPU s  synapse-events/s  "
          "cross-process msgs/sim s  windows with a crossing  windows  identical  load")
    for r in rows:
        same = "-" if r["executor"] == "inline" else ("yes" if r["identical_to_inline"] else "NO")
        print(f"{r['size']:4d}  {r['synapses_per_eye']:4d}  {r['synapses']:9,d}  {r['simulated_s']:5g}  "
              f"{r['executor']:8s}  {r['processes']:1d}  1x{r['tiles']:<3d} {r['wall_s']:7.1f}  "
              f"{r['tile_cpu_s']:10.1f}  "
              f"{r['synapse_events_per_s']:16.3g}  {r['cross_process_messages_per_simulated_s']:24.0f}  "
              f"{r['windows_with_crossing']:>11d} of {r['lookahead_windows']:<10d}"
              f"{r['windows'] or '-':>7}  {same:>9}  {r['load_before']:.1f}-{r['load_after']:.1f}")


# -- the maps of docs/od-map.md ----------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "od-map.md"
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures" / "od_map"


# controls of the map study that change the preset (--variant): the folder's name, the preset values
VARIANTS = {"lateral-off": {"lateral_exc_mV": 0.0, "lateral_inh_mV": 0.0}}


def map_run(size: int, synapses: int, seconds: float, seed: int, deprivation_s: float, normalisation: str,
            out_dir: Path | None, eye_threads: int = 1, overrides: dict | None = None) -> dict:
    """One `lolpim plasticity od-map` experiment (inline), through the command's own functions."""
    config = OdMapRun(size=size, synapses=synapses, binocular_s=float(seconds), deprivation_s=float(deprivation_s),
                      seed=seed, eye_threads=eye_threads)
    partial: dict = {"finished": False}
    cli.experiment(config, partial, normalisation=normalisation, sheet_overrides=overrides)
    if out_dir is not None:
        cli.write_outputs(partial, out_dir, size)
    return partial["summary"]


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def maps_table(rows: list[dict]) -> str:
    head = ["normalisation", "seed", "bimodality (Sarle)", "bimodal", "wavelength (neurons)", "spectral prominence",
            "monocular (abs OD > 0.5)", "post rate (Hz)", "lid suture vs control: OD index",
            "deprived / open eye vs control", "open-eye dominated, lid suture vs control", "wall (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        d = r.get("deprivation")
        md = _fmt(d and d["od_shift_vs_control"], "+.3f")
        eyes = "n/a" if d is None else f"{100 * d['deprived_vs_control']:+.1f}% / {100 * d['open_vs_control']:+.1f}%"
        dom = "n/a" if d is None else (f"{100 * d['lid_suture']['open_dominated_fraction']:.0f}% vs "
                                       f"{100 * d['binocular']['open_dominated_fraction']:.0f}%")
        lines.append("| " + " | ".join([r["normalisation"], str(r["seed"]), _fmt(r["od_bimodality"], ".3f"),
                                          "yes" if r["od_bimodal"] else "no", _fmt(r["od_wavelength_neurons"], ".1f"),
                                          _fmt(r["od_spectrum_prominence"], ".2f"),
                                          _fmt(r["monocular_fraction"], ".2f"),
                                          _fmt(r["post_rate_hz"], ".2f"), md, eyes, dom, f"{r['wall_s']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def maps_names(size: int) -> tuple[str, str]:
    """The docs block and the figure folders' prefix of a map study: the 16 x 16 study keeps its
    first names, other sizes their own (docs/od-map.md has a block per size)."""
    return ("od-map-results", "") if size == 16 else (f"od-map-results-{size}", f"size{size}_")


def do_maps(size: int, synapses: int, seconds: float, seeds: list[int], deprivation_s: float, controls: list[int],
            docs: bool, eye_threads: int = 1, variant: str | None = None) -> list[dict]:
    """The seeds with synaptic conservation and the control seeds without; with ``variant`` (a
    VARIANTS control) the seeds only, in folders of the variant's name, outside the docs table."""
    rows = []
    prefix = maps_names(size)[1]
    for normalisation, which in (("subtractive", seeds), ("none", [] if variant else controls)):
        for seed in which:
            folder = f"{prefix}{variant or normalisation}_seed{seed}"
            out = FIGURES / folder if docs else None
            s = map_run(size, synapses, seconds, seed, deprivation_s if normalisation != "none" else 0.0,
                        normalisation, out, eye_threads, VARIANTS.get(variant or ""))
            rows.append({**s, "normalisation": normalisation})
            print(f"{normalisation} seed {seed}: bimodality {_fmt(s['od_bimodality'], '.3f')}, wavelength "
                  f"{_fmt(s['od_wavelength_neurons'], '.1f')}, wall {s['wall_s']:.0f} s", flush=True)
    if docs:
        write_maps_block(stored_rows(size, synapses, seconds), size, synapses, seconds, deprivation_s)
    return rows


def stored_rows(size: int, synapses: int, seconds: float) -> list[dict]:
    """Every map of this size stored under docs/figures/od_map (this run's and earlier seeds'), from
    the runs' own JSON summaries: the docs table lists them all. All must share S and the
    binocular time."""
    prefix = maps_names(size)[1]
    rows = []
    for normalisation in ("subtractive", "none"):
        for path in sorted(FIGURES.glob(f"{prefix}{normalisation}_seed*/od_map.json")):
            s = json.loads(path.read_text())["summary"]
            if s["size"] != size or s["synapses_per_eye"] != synapses or s["binocular_s"] != seconds:
                raise SystemExit(f"{path}: a {s['size']} x {s['size']} map with S = {s['synapses_per_eye']} and "
                                 f"{s['binocular_s']:g} s binocular, not {size}, {synapses}, {seconds:g}: "
                                 f"move it aside")
            rows.append({**s, "normalisation": normalisation})
    return sorted(rows, key=lambda r: (r["normalisation"] == "none", r["seed"]))


def write_maps_block(rows, size, synapses, seconds, deprivation_s) -> None:
    from docs_figures import (
        write_block,  # benchmarks/ is on sys.path when run as a script
    )
    body = (f"{size} x {size} neurons, S = {synapses} per eye, {seconds:g} s binocular"
            + (f", then {deprivation_s:g} s lid suture vs control (synaptic conservation rows)"
               if deprivation_s else "")
            + f"; inline; generated by benchmarks/od_map.py --maps --size {size} --synapses {synapses} "
              f"--seconds {seconds:g} --deprivation-s {deprivation_s:g} --docs\n\n" + maps_table(rows))
    write_block(DOCS, maps_names(size)[0], body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scaling", action="store_true", help="inline and Ray at each P (the default study)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--synapses", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0, help="simulated seconds per run")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--eye-threads", type=int, default=1, choices=(1, 2),
                    help="2: each tile's two eyes step in two threads (the same bits)")
    ap.add_argument("--sizes", default=None, help="comma-separated sheet sides: inline only, wall time against size")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--maps", action="store_true", help="the map study: seeds with synaptic conservation, "
                                                        "controls without it")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variant", default=None, choices=sorted(VARIANTS),
                    help="--maps: a control that changes the preset (figures in its own folders, not in the table)")
    ap.add_argument("--controls", default="0", help="seeds of the no-normalisation control")
    ap.add_argument("--deprivation-s", type=float, default=10.0)
    ap.add_argument("--rows-from", default=None, help="comma-separated --json-out files of --maps runs: write "
                                                        "their rows into docs/od-map.md (runs split over processes)")
    ap.add_argument("--docs", action="store_true", help="write the figures, and the table of every stored map of "
                                                        "this size, into docs/od-map.md")
    args = ap.parse_args()
    if args.rows_from:
        rows = [r for path in args.rows_from.split(",") for r in json.load(open(path))]
        rows.sort(key=lambda r: (r["normalisation"] == "none", r["seed"]))
        write_maps_block(rows, args.size, args.synapses, args.seconds, args.deprivation_s)
        print(maps_table(rows))
        return
    if args.maps:
        rows = do_maps(args.size, args.synapses, args.seconds, [int(v) for v in args.seeds.split(",") if v],
                       args.deprivation_s, [int(v) for v in args.controls.split(",") if v], args.docs,
                       args.eye_threads, args.variant)
        if args.json_out:
            write_text(args.json_out, json.dumps(rows, indent=1, default=str))
        return
    rows = []
    if args.sizes:
        for n in (int(v) for v in args.sizes.split(",")):
            for tiles in (1, 2):
                rows.append(run_one(n, args.synapses, args.seconds, "inline", 1, tiles=tiles,
                                    eye_threads=args.eye_threads))
    if args.scaling or not args.sizes:
        rows += scaling(args.size, args.synapses, args.seconds, [int(v) for v in args.processes.split(",")],
                        args.eye_threads)
    print_rows(rows)
    if args.json_out:
        write_text(args.json_out, json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                                             indent=1))


if __name__ == "__main__":
    main()
