"""How many neurons the ocular-dominance comparison needs: the deprived eye against its control,
with the standard error of the neurons' paired differences, and the steady state's own noise.

    .venv/bin/python benchmarks/od_power.py [--seeds 0-4] [--synapses 50] [--neurons 8,32]
        [--deprivation-s 15,60] [--jobs 2] [--docs]

Each point (S, K, seed, deprivation length): the binocular phase until settled (od.SteadyState),
then, from that state, the binocular control, lid suture (1 Hz) and TTX only (the specificity
controls do not enter this question). Printed per point: the lid-suture deprived eye against the
control and its standard error (the K neurons' paired differences: each neuron has its own
scene and inputs, so they are independent), z = difference / error, and the K at which the mean
difference would be two errors from zero (K x (2 error / difference)^2, the error falling as
1/sqrt(K)). From the binocular phase's last window: the mean weight's standard deviation and its
autocorrelation time (the first lag where the autocorrelation falls below 1/e), which say how far
one control run can wander in one deprivation interval.

Results go to docs/figures/od_power.json; --docs rewrites the od-power block of
docs/plasticity-cascade.md. `make docs-figures PARTS=od-power`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "docs" / "figures" / "od_power.json"
HOMEOSTAT_RESULTS = ROOT / "docs" / "figures" / "od_power_homeostat.json"
DOC = ROOT / "docs" / "plasticity-cascade.md"

from docs_figures import markdown  # noqa: E402  (benchmarks/ on the path above)
from od_controls_grid import _ints, pct  # noqa: E402  (the grid's seed lists and percentages)


def steady_noise(series: dict, window_s: float) -> dict:
    """The mean weight of the deprived eye over the binocular phase's last window: its standard
    deviation relative to its mean, and its autocorrelation time (s; None if it never falls below 1/e)."""
    t = np.asarray(series["time_s"])
    w = np.asarray(series["w_left"])[t >= t[-1] - window_s - 1e-9]
    x = w - w.mean()
    dt = float(np.median(np.diff(t)))
    tau = None
    for lag in range(1, x.size // 2):
        if np.dot(x[:-lag], x[lag:]) / max(np.dot(x, x), 1e-300) < np.exp(-1):
            tau = lag * dt
            break
    return {"sd_rel": float(w.std(ddof=1) / w.mean()), "autocorr_s": tau}


def _steady_start(synapses: int, neurons: int, seed: int, deprivation_s: float):
    """The binocular phase until settled (od.SteadyState): (runner, config, the config resumed at
    the phase's end, the phase's result, its length in s, the drift rule)."""
    from dataclasses import replace

    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.anchors import plasticity as anchors
    from lolpim.orchestration.plasticity import od_controls as ctl

    cfg = od.OcularDominanceConfig(neurons=neurons, synapses_per_eye=synapses, deprivation_s=deprivation_s,
                                   contrast_spread=od.load_variant("network").contrast_spread)
    runner = ctl.Runner(InlineExecutor(), cascade.load_params(anchors.OD_PARAMS), "network", seed)
    rule = od.SteadyState()
    steady = ctl.binocular_phase(runner, cfg, rule)
    b = steady["steady_state"]["binocular_s"]
    return runner, cfg, replace(cfg, binocular_s=b, start_s=b), steady, b, rule


def _point(args):
    synapses, neurons, seed, deprivation_s = args
    from lolpim.orchestration.plasticity import od_controls as ctl

    t0 = time.perf_counter()
    runner, _, cfg, steady, b, rule = _steady_start(synapses, neurons, seed, deprivation_s)
    runs = {name: ctl._condition_run(runner, cfg, steady["states"], name, name)
            for name in ("binocular", "lid_suture", "ttx")}
    lid = ctl.against(runs["lid_suture"], runs["binocular"], b, b + deprivation_s)
    d, se = lid["deprived_vs_control"], lid["deprived_vs_control_se"]
    wall = time.perf_counter() - t0
    print(f"  S = {synapses}, K = {neurons}, seed {seed}, {deprivation_s:g} s: {wall:.0f} s", flush=True)
    return {"synapses": synapses, "neurons": neurons, "seed": seed, "deprivation_s": deprivation_s,
            "binocular_s": b, "settled": steady["steady_state"]["settled"],
            "noise": steady_noise(steady["series"], rule.window_s),
            "control_deprived_change": runs["binocular"]["deprived_change"],
            "lid_deprived_change": runs["lid_suture"]["deprived_change"],
            "ttx_deprived_change": runs["ttx"]["deprived_change"],
            "deprived_vs_control": d, "se": se, "z": d / se if se else None,
            "neurons_for_2se": (neurons * (2 * se / d) ** 2) if se and d < 0 else None, "wall_s": wall}


def _homeostat_point(args):
    """The binocular control three ways from one steady state: with the homeostat (as shipped: it
    starts at the onset in every condition), with the threshold fixed, and the binocular phase
    simply continued (its own inputs, no onset): does the homeostat move its own control?"""
    synapses, neurons, seed, deprivation_s = args
    from dataclasses import replace

    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.plasticity import od_controls as ctl

    t0 = time.perf_counter()
    variant = od.load_variant("network")
    runner, cfg, at_b, steady, b, _ = _steady_start(synapses, neurons, seed, deprivation_s)
    fixed = replace(variant, homeostasis=replace(variant.homeostasis, enabled=False))
    on = ctl._condition_run(runner, at_b, steady["states"], "binocular", "binocular")
    off = ctl._condition_run(runner, at_b, steady["states"], "binocular", "binocular, threshold fixed",
                             variant=fixed)
    go_on = replace(cfg, binocular_s=b + deprivation_s, start_s=b, deprivation_s=0.0, recovery_s=0.0,
                    condition="binocular")
    summary, _ = runner.run(go_on, "binocular phase continued", resume=steady["states"])
    mean = (np.asarray(summary["w_left"]) + np.asarray(summary["w_right"])) / 2
    both = lambda r: (r["deprived_change"] + r["open_change"]) / 2     # noqa: E731 (the start is shared)
    wall = time.perf_counter() - t0
    print(f"  homeostat: S = {synapses}, K = {neurons}, seed {seed}, {deprivation_s:g} s: {wall:.0f} s", flush=True)
    return {"synapses": synapses, "neurons": neurons, "seed": seed, "deprivation_s": deprivation_s,
            "binocular_s": b, "control_homeostat": both(on), "control_fixed": both(off),
            "continued": float(mean[-1] / mean[0] - 1), "homeostat_minus_fixed": both(on) - both(off),
            "wall_s": wall}


HOMEOSTAT_HEAD = ["S", "K", "deprivation s", "seed", "binocular s", "control with the homeostat",
                  "control, threshold fixed", "binocular phase continued", "homeostat - fixed (points)"]


def homeostat_rows(points) -> list[list[str]]:
    return [[str(p["synapses"]), str(p["neurons"]), f"{p['deprivation_s']:g}", str(p["seed"]),
             f"{p['binocular_s']:g}", pct(p["control_homeostat"]), pct(p["control_fixed"]), pct(p["continued"]),
             f"{100 * p['homeostat_minus_fixed']:+.1f}"] for p in points]


def run_points(points, jobs: int, fn=None) -> list[dict]:
    fn = fn or _point
    if jobs <= 1:
        return [fn(p) for p in points]
    with ProcessPoolExecutor(max_workers=jobs) as pool:     # the costliest first: no long tail
        done = list(pool.map(fn, sorted(points, key=lambda p: -p[0] * p[1] * p[3])))
    return sorted(done, key=lambda r: (r["synapses"], r["deprivation_s"], r["neurons"], r["seed"]))


HEAD = ["S", "K", "deprivation s", "seed", "binocular s", "steady: sd of mean w / autocorrelation s",
        "control: deprived eye", "lid suture: deprived eye", "TTX: deprived eye",
        "lid vs control +- se", "z", "K for 2 se"]


def rows(points) -> list[list[str]]:
    out = []
    for p in points:
        n = p["noise"]
        out.append([str(p["synapses"]), str(p["neurons"]), f"{p['deprivation_s']:g}", str(p["seed"]),
                    f"{p['binocular_s']:g}", f"{100 * n['sd_rel']:.1f}% / {n['autocorr_s'] or '-'}",
                    pct(p["control_deprived_change"]), pct(p["lid_deprived_change"]), pct(p["ttx_deprived_change"]),
                    f"{pct(p['deprived_vs_control'])} +- {100 * p['se']:.1f}",
                    "-" if p["z"] is None else f"{p['z']:+.1f}",
                    "-" if p["neurons_for_2se"] is None else f"{p['neurons_for_2se']:.0f}"])
    return out


def main(argv=None) -> None:
    from docs_figures import write_block

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--synapses", default="50")
    ap.add_argument("--neurons", default="8,32")
    ap.add_argument("--deprivation-s", default="15")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--docs", action="store_true", help="rewrite the od-power block of docs/plasticity-cascade.md")
    ap.add_argument("--tables-only", action="store_true", help="the table from docs/figures/od_power.json")
    ap.add_argument("--homeostat", action="store_true",
                    help="the binocular control with the homeostat, with it fixed and the phase continued "
                         "(docs/figures/od_power_homeostat.json, block od-power-homeostat)")
    args = ap.parse_args(argv)
    results = HOMEOSTAT_RESULTS if args.homeostat else RESULTS
    if args.tables_only:
        points = json.loads(results.read_text())
    else:
        grid = [(s, k, seed, float(d)) for s in _ints(args.synapses) for k in _ints(args.neurons)
                for seed in _ints(args.seeds) for d in args.deprivation_s.split(",")]
        t0 = time.perf_counter()
        points = run_points(grid, args.jobs, _homeostat_point if args.homeostat else _point)
        print(f"{len(points)} points: {time.perf_counter() - t0:.0f} s wall", flush=True)
        from lolpim.orchestration.results import json_safe, write_text
        write_text(results, json.dumps(json_safe(points), indent=1))
    if args.homeostat:
        table = markdown(HOMEOSTAT_HEAD, homeostat_rows(points))
        print(table)
        if args.docs:
            write_block(DOC, "od-power-homeostat", "Changes of the mean weight (both eyes) over the interval; "
                        "generated by benchmarks/od_power.py --homeostat --docs\n\n" + table)
        return
    table = markdown(HEAD, rows(points))
    print(table)
    if args.docs:
        sizes = ",".join(str(x) for x in sorted({p["synapses"] for p in points}))
        ks = ",".join(str(x) for x in sorted({p["neurons"] for p in points}))
        deps = ",".join(f"{x:g}" for x in sorted({p["deprivation_s"] for p in points}))
        seeds = sorted({p["seed"] for p in points})
        caption = (f"Cortical set, inline, lid suture at 1 Hz; generated by benchmarks/od_power.py --seeds "
                   f"{seeds[0]}-{seeds[-1]} --synapses {sizes} --neurons {ks} --deprivation-s {deps} --docs\n\n")
        write_block(DOC, "od-power", caption + table)
        print(f"rewrote the od-power block of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
