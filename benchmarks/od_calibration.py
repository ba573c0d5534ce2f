"""Calibration of the OD network's free parameters on rows the validation never uses.

    .venv/bin/python benchmarks/od_calibration.py [--param eye_epsp_mV|homeo_tau_s] [--values 20,30]
        [--jobs 2] [--docs] [--tables-only]

Rows: seeds 5-9, S = 100 synapses per eye, K = 8 neurons (the validation grid is seeds 0-4 x
S in {50, 200, 1000}: no row shared). Parameter: eye_epsp_mV of the network variant (the summed
EPSP of one eye's S synapses at weight 1). Objective, fixed before any run: the number of
(seed, criterion) pairs met, over the five criteria of the deprivation itself (deprived eye below
the binocular control, lid suture deeper than TTX, a higher residual rate deeper, open eye above
the control, deprived eye first); the seed paper's specificity claim is the question the controls
test and is not in the objective. Ties go to the preset's current value. Everything else as in the
validation rows (cortical set, 15 s of deprivation from a steady state, lid suture at 1 and 3 Hz).
Results: docs/figures/od_calibration.json; --docs rewrites the od-calibration block of
docs/plasticity-cascade.md. (The eye-EPSP rows were run before the homeostatic threshold existed:
its model is the network variant with homeo_enabled false.)

--param homeo_tau_s: the homeostatic threshold's time constant (od.Homeostasis; everything else
the preset, eye EPSP 20 mV), on the same rows, with the same objective, written down before its
runs; values within the cited range of presets/bounds.toml [homeostasis], and "off" (the
homeostasis disabled: the same model as the eye-EPSP calibration's row at the preset's eye EPSP,
whose stored points it reuses). Ties go to the slower homeostat (the larger tau; "off" last).
Results: docs/figures/od_calibration_homeostasis.json, docs block od-calibration-homeostasis.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "docs" / "figures" / "od_calibration.json"
HOMEO_RESULTS = ROOT / "docs" / "figures" / "od_calibration_homeostasis.json"
DOC = ROOT / "docs" / "plasticity-cascade.md"
SEEDS = (5, 6, 7, 8, 9)
SYNAPSES = 100
NEURONS = 8
# The calibration rows were run with the steady state's first drift window (30 s); the validation
# grid uses od.SteadyState's 60 s (docs/plasticity-cascade.md section 3). Pinned so a rerun
# reproduces the stored rows.
STEADY_WINDOW_S = 30.0
OBJECTIVE = ("deprived_below_control", "suture_deeper_than_ttx", "higher_suture_rate_deepens", "open_above_control",
             "deprived_first")


def _variant(param: str, value):
    from lolpim.models.plasticity import ocular_dominance as od
    base = od.load_variant("network")
    if param == "eye_epsp_mV":     # run before the homeostatic threshold existed: it stays off
        return replace(base, neuron=replace(base.neuron, eye_epsp_mV=value),
                       homeostasis=replace(base.homeostasis, enabled=False))
    if value == "off":
        return replace(base, homeostasis=replace(base.homeostasis, enabled=False))
    return replace(base, homeostasis=replace(base.homeostasis, enabled=True, tau_s=value))


def _point(args):
    param, value, seed = args
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.anchors import plasticity as anchors
    from lolpim.orchestration.plasticity import od_controls
    variant = _variant(param, value)
    cfg = od.OcularDominanceConfig(neurons=NEURONS, synapses_per_eye=SYNAPSES, deprivation_s=anchors.OD_DEPRIVATION_S,
                                   contrast_spread=variant.contrast_spread)
    t0 = time.perf_counter()
    runner = od_controls.Runner(InlineExecutor(), cascade.load_params(anchors.OD_PARAMS), variant, seed)
    summary = od_controls.experiment(runner, cfg, od.SteadyState(window_s=STEADY_WINDOW_S),
                                     extra_sutured_rates_hz=(anchors.OD_HIGH_SUTURED_HZ,))["summary"]
    print(f"  {param} {value}, seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return {param: value, "seed": seed, "summary": summary}


def table(points, param: str = "eye_epsp_mV") -> tuple[list[list[str]], object]:
    from lolpim.models.plasticity import ocular_dominance as od
    values = sorted({p[param] for p in points}, key=lambda v: (v != "off", v if v != "off" else 0))
    scores = {v: sum(bool(p["summary"]["criteria"][k]) for p in points if p[param] == v for k in OBJECTIVE)
              for v in values}
    if param == "eye_epsp_mV":
        current = od.load_variant("network").neuron.eye_epsp_mV
        best = max(values, key=lambda v: (scores[v], v == current))
    else:                          # ties: the slower homeostat, "off" last
        best = max(values, key=lambda v: (scores[v], -1 if v == "off" else v))
    rows = []
    for v in values:
        at = [p for p in points if p[param] == v]
        per = [f"{sum(bool(p['summary']['criteria'][k]) for p in at)}/{len(at)}" for k in OBJECTIVE]
        spec = sum(bool(p["summary"]["criteria"]["specificity_needed"]) for p in at)
        rate = sum(p["summary"]["controls"]["binocular"]["post_rate_hz"] for p in at) / len(at)
        label = v if v == "off" else f"{v:g}"
        row = [label + (" (chosen)" if v == best else ""), *per, f"{scores[v]} of {len(at) * len(OBJECTIVE)}",
               f"{rate:.2f}", f"{spec}/{len(at)} (not in the objective)"]
        if param != "eye_epsp_mV":
            lid = sum(p["summary"]["controls"]["lid_suture"]["post_rate_hz"] for p in at) / len(at)
            row.insert(-1, f"{lid:.2f}")
        rows.append(row)
    return rows, best


HEAD = ["eye EPSP (mV)", "deprived below control", "suture deeper than TTX", "3 Hz deeper", "open above control",
        "deprived first", "objective", "binocular rate (Hz)", "specificity needed"]
HOMEO_HEAD = ["homeostasis tau (s)", *HEAD[1:-1], "lid-suture rate (Hz)", HEAD[-1]]


def markdown(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _value(text: str):
    return "off" if text == "off" else float(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param", choices=("eye_epsp_mV", "homeo_tau_s"), default="eye_epsp_mV")
    ap.add_argument("--values", default=None, help="values of --param (eye_epsp_mV default 20,30; homeo_tau_s "
                                                   "default off,5,10)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--docs", action="store_true")
    ap.add_argument("--tables-only", action="store_true")
    args = ap.parse_args(argv)
    homeo = args.param == "homeo_tau_s"
    results = HOMEO_RESULTS if homeo else RESULTS
    values = args.values or ("off,5,10" if homeo else "20,30")
    if args.tables_only:
        points = json.loads(results.read_text())
    else:
        todo = [(args.param, _value(v), seed) for v in values.split(",") for seed in SEEDS]
        reused = []
        if homeo and any(v == "off" for _, v, _ in todo) and RESULTS.exists():
            # "off" is the eye-EPSP calibration's model at the preset's eye EPSP: reuse its points
            from lolpim.models.plasticity import ocular_dominance as od
            eye = od.load_variant("network").neuron.eye_epsp_mV
            reused = [{args.param: "off", "seed": p["seed"], "summary": p["summary"], "reused": "eye_epsp_mV"}
                      for p in json.loads(RESULTS.read_text()) if p["eye_epsp_mV"] == eye]
            if len(reused) == len(SEEDS):
                todo = [t for t in todo if t[1] != "off"]
            else:
                reused = []
        t0 = time.perf_counter()
        if args.jobs > 1:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                points = reused + list(pool.map(_point, todo))
        else:
            points = reused + [_point(p) for p in todo]
        print(f"calibration: {time.perf_counter() - t0:.0f} s wall", flush=True)
        from lolpim.orchestration.results import json_safe
        results.write_text(json.dumps(json_safe(points), indent=1))
    rows, best = table(points, args.param)
    if homeo:
        text = (f"Calibration rows: seeds {SEEDS[0]}-{SEEDS[-1]}, S = {SYNAPSES}, K = {NEURONS}, eye EPSP 20 mV; "
                f"generated by benchmarks/od_calibration.py --param homeo_tau_s --docs (the off row reuses the "
                f"eye-EPSP calibration's 20 mV points: the same model); "
                f"steady state over {STEADY_WINDOW_S:g} s windows; "
                f"the objective's choice: {best if best == 'off' else f'{best:g} s'}\n\n" + markdown(HOMEO_HEAD, rows))
    else:
        text = (f"Calibration rows: seeds {SEEDS[0]}-{SEEDS[-1]}, S = {SYNAPSES}, K = {NEURONS}, homeostatic "
                f"threshold off (run before it existed); generated by benchmarks/od_calibration.py --docs; the "
                f"objective's choice: {best:g} mV\n\n" + markdown(HEAD, rows))
    print(text)
    if args.docs:
        from docs_figures import write_block
        write_block(DOC, "od-calibration-homeostasis" if homeo else "od-calibration", text)
        print(f"rewrote the od-calibration{'-homeostasis' if homeo else ''} block of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
