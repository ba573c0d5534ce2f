"""The ocular-dominance acceptance grid of issue 23, as tables for docs/plasticity-cascade.md.

    .venv/bin/python benchmarks/od_controls_grid.py [--seeds 0-4] [--synapses 50,200,1000]
        [--neurons 8] [--jobs 2] [--docs] [--tables-only]

Each point (seed, S) is one experiment of orchestration/plasticity/od_controls.py, made by the
same function as the `lolpim validate --area plasticity` rows (orchestration/anchors/plasticity.py
od_experiment: inline, the OD parameter set, 15 s of deprivation, lid suture at 1 and 3 Hz).
Results go to docs/figures/od_controls.json; --docs rewrites the blocks od-controls-grid,
od-controls-specificity and od-controls-summary of docs/plasticity-cascade.md from them
(--tables-only: from those results, without simulating). `make docs-figures PARTS=od-controls`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "docs" / "figures" / "od_controls.json"   # kept: --tables-only rereads it
PARTIAL = ROOT / "build" / "od_controls.partial.json"      # finished points of a grid under way
DOC = ROOT / "docs" / "plasticity-cascade.md"


def _point(args):
    synapses, neurons, seed = args
    from lolpim.orchestration.anchors import plasticity as anchors
    t0 = time.perf_counter()
    summary = anchors.od_experiment(synapses, neurons, seed)
    wall = time.perf_counter() - t0
    print(f"  S = {synapses}, K = {neurons}, seed {seed}: {wall:.0f} s", flush=True)
    return {"synapses": synapses, "neurons": neurons, "seed": seed, "protocol": anchors.od_protocol(neurons),
            "wall_s": wall, "summary": summary}


def run_grid(seeds, synapses, neurons, jobs: int, partial: Path | None = None) -> list[dict]:
    """Every (S, seed) point; each finished point is appended to ``partial`` at once (a JSON list
    rewritten whole), and points already there for the same protocol are not rerun, so a grid of
    hours survives an interrupted session."""
    from lolpim.orchestration.anchors import plasticity as anchors
    from lolpim.orchestration.results import json_safe, write_text
    done = []
    if partial is not None and partial.exists():
        done = [p for p in json.loads(partial.read_text()) if p.get("protocol") == anchors.od_protocol(neurons)]
    have = {(p["synapses"], p["seed"]) for p in done}
    points = [(s, neurons, seed) for s in synapses for seed in seeds if (s, seed) not in have]
    if have:
        print(f"  {len(have)} points kept from {partial}", flush=True)

    def keep(point):
        done.append(point)
        if partial is not None:
            write_text(partial, json.dumps(json_safe(done), indent=1))

    if jobs <= 1:
        for p in points:
            keep(_point(p))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:       # the largest S first: no long tail
            for point in as_completed([pool.submit(_point, p) for p in sorted(points, key=lambda p: -p[0])]):
                keep(point.result())
    wanted = {(s, seed) for s in synapses for seed in seeds}
    return sorted((p for p in done if (p["synapses"], p["seed"]) in wanted), key=lambda r: (r["synapses"], r["seed"]))


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:+.1f}%"


def mv(v) -> str:
    return "no bAP" if v is None else f"{v:.1f}"


def yes(v) -> str:
    return "-" if v is None else ("yes" if v else "**no**")


def grid_rows(points) -> list[list[str]]:
    rows = []
    for p in points:
        s = p["summary"]
        c, st = s["controls"], s["steady_state"]
        sweep = {x["sutured_rate_hz"]: x for x in s["sutured_rate_sweep"]}
        hi = max(sweep)
        drift = "-" if st["drift_per_s"] is None else f"{st['drift_per_s']:.1e}"
        fixed = c.get("no_homeostasis")         # the homeostatic threshold's control (absent without it)
        rows.append([str(p["synapses"]), str(p["seed"]), f"{st['binocular_s']:g}", drift,
                     pct(c["lid_suture"]["deprived_vs_control"]), pct(c["ttx"]["deprived_vs_control"]),
                     pct(sweep[hi]["deprived_vs_control"]), pct(c["lid_suture"]["open_vs_control"]),
                     f"{c['lid_suture']['deprived_half_time_s']} / {c['lid_suture']['open_half_time_s']}",
                     f"{c['binocular']['post_rate_hz']:.2f} / {c['lid_suture']['post_rate_hz']:.2f}",
                     "-" if fixed is None else f"{pct(fixed['deprived_vs_control'])} / {pct(fixed['open_vs_control'])}"
                                               f" / {fixed['post_rate_hz']:.2f}",
                     "-" if fixed is None else f"{c['lid_suture']['homeostasis']['threshold_shift_mV']:+.1f}"])
    return rows


GRID_HEAD = ["S", "seed", "binocular s", "drift /s", "lid suture: deprived vs control", "TTX: deprived vs control",
             "lid suture 3 Hz: deprived vs control", "open vs control", "half-times dep / open (s)",
             "post Hz control / lid", "threshold fixed: deprived / open vs own control, post Hz",
             "lid: threshold shift at the end (mV)"]


def specificity_rows(points) -> list[list[str]]:
    rows = []
    for p in points:
        c = p["summary"]["controls"]
        a, b = c["no_boost_rate_matched"], c["uniform_bap"]
        ratio = {k: float("inf") if v is None else v for k, v in p["summary"]["criteria"]["specificity_ratio"].items()}
        rows.append([str(p["synapses"]), str(p["seed"]), pct(c["lid_suture"]["shift_vs_control"]),
                     f"{mv(c['lid_suture']['bap_mean_mV'])} / {mv(c['lid_suture']['bap_max_mV'])}",
                     pct(a["shift_vs_control"]),
                     f"x{a['rate_search']['epsp_scale']:.2f}, {a['post_rate_hz']:.2f} / "
                     f"{a['rate_search']['target_hz']:.2f}",
                     pct(b["shift_vs_control"]), f"{b['bap_amplitude_mV']:.1f}",
                     f"{ratio['no_boost_rate_matched']:+.2f} / {ratio['uniform_bap']:+.2f}"])
    return rows


SPEC_HEAD = ["S", "seed", "boosted: shift vs control", "boosted bAP mean / max (mV)",
             "(a) no boost: shift vs own control",
             "(a) EPSP scale, rate / target (Hz)", "(b) uniform bAP: shift vs own control", "(b) bAP (mV)",
             "ratio (a) / (b)"]
CRITERIA = (("deprived_below_control", "deprived eye below the binocular control (lid suture)"),
            ("suture_deeper_than_ttx", "deprived eye falls more with lid suture than with TTX"),
            ("higher_suture_rate_deepens", "3 Hz residual activity deepens the depression (vs 1 Hz)"),
            ("open_above_control", "open eye above the binocular control"),
            ("deprived_first", "deprived eye's fall reaches half before the open eye's rise"),
            ("specificity_needed", "seed's claim: (a) and (b) both shift <= 0.5 x the boosted shift"))


def summary_rows(points) -> list[list[str]]:
    sizes = sorted({p["synapses"] for p in points})
    rows = []
    for key, label in CRITERIA:
        cells = []
        for s in sizes:
            at = [p for p in points if p["synapses"] == s]
            cells.append(f"{sum(bool(p['summary']['criteria'][key]) for p in at)} of {len(at)}")
        rows.append([label, *cells])
    settled = [f"{sum(p['summary']['steady_state']['settled'] for p in points if p['synapses'] == s)} of "
               f"{sum(p['synapses'] == s for p in points)}" for s in sizes]
    rows.insert(0, ["binocular phase settled (consistency)", *settled])
    fixed = []
    for s in sizes:
        at = [p for p in points if p["synapses"] == s]
        met = [p["summary"]["criteria"].get("open_above_control_without_homeostasis") for p in at]
        fixed.append("-" if any(m is None for m in met) else f"{sum(met)} of {len(at)}")
    rows.append(["homeostasis control: open eye above the control with the threshold fixed", *fixed])
    return rows


def markdown(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_docs(points) -> None:
    from docs_figures import write_block
    sizes = sorted({p["synapses"] for p in points})
    k = points[0]["neurons"]
    seeds = sorted({p["seed"] for p in points})
    caption = (f"K = {k}, seeds {seeds[0]}-{seeds[-1]}, S in {{{', '.join(map(str, sizes))}}}; "
               "generated by benchmarks/od_controls_grid.py --docs\n\n")
    write_block(DOC, "od-controls-summary",
                caption + markdown(["criterion", *(f"S = {s}" for s in sizes)], summary_rows(points)))
    write_block(DOC, "od-controls-grid", markdown(GRID_HEAD, grid_rows(points)))
    write_block(DOC, "od-controls-specificity", markdown(SPEC_HEAD, specificity_rows(points)))


def _ints(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--synapses", default="50,200,1000")
    ap.add_argument("--neurons", type=int, default=None, help="neurons K (default: the validation rows' K)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--docs", action="store_true", help="rewrite the generated blocks of docs/plasticity-cascade.md")
    ap.add_argument("--tables-only", action="store_true", help="tables from docs/figures/od_controls.json")
    args = ap.parse_args(argv)
    if args.tables_only:
        points = json.loads(RESULTS.read_text())
    else:
        t0 = time.perf_counter()
        from lolpim.orchestration.anchors import plasticity as anchors
        PARTIAL.parent.mkdir(parents=True, exist_ok=True)
        points = run_grid(_ints(args.seeds), _ints(args.synapses), args.neurons or anchors.OD_NEURONS, args.jobs,
                          PARTIAL)
        print(f"grid: {time.perf_counter() - t0:.0f} s wall", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        from lolpim.orchestration.results import json_safe, write_text
        write_text(RESULTS, json.dumps(json_safe(points), indent=1))
    print(markdown(["criterion", *(f"S = {s}" for s in sorted({p['synapses'] for p in points}))],
                   summary_rows(points)))
    print(markdown(GRID_HEAD, grid_rows(points)))
    print(markdown(SPEC_HEAD, specificity_rows(points)))
    if args.docs:
        write_docs(points)
        print(f"rewrote the od-controls blocks of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
