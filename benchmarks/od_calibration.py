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

--param protocol: the deprivation protocol (deprivation length, and the homeostat's restoring time
on that length's time axis) at K = 32 neurons (the number the power analysis of benchmarks/od_power.py
asks for; K sets the precision, not the expected effect). Candidates, fixed before any run
(PROTOCOLS): the shipped 15 s with tau 10 s (4 days at 2.5 s per day), and 60 s (10 s per day)
with tau 10, 20 and 40 s (1, 2 and 4 days, the cited range). Same rows and objective; the
deprivation's own conditions only (binocular, TTX, lid suture at 1 and 3 Hz: the specificity
controls are not in the objective); one binocular phase per seed, shared by the candidates (the
homeostat acts from the onset only). Ties: the shorter deprivation, then the slower homeostat.
Results: docs/figures/od_calibration_protocol.json, docs block od-calibration-protocol.

--param delay: the homeostat's delay from the onset (od.Homeostasis.delay_s; Hengen et al. 2013: under
lid suture V1 firing falls for about 2 days before it recovers, which a controller acting from the
onset does not give), at K = 32 on the same rows. Written down, with the tie rule, before its runs,
after the K = 32 validation grid had found the deprived eye below its control in 2 of 15 points
and "deprived first" in 2 of 15 (the homeostat slowing the deprived eye's fall and lowering its
own control; docs/plasticity-cascade.md section 3). Candidates (DELAY_PROTOCOLS): the shipped
15 s with tau 10 s and no delay (its points reused from the protocol calibration: the same model
and rows); 15 s with a delay of 2 days (5 s) and tau 4 or 2 days (10 or 5 s); 60 s (10 s per
day) with a delay of 2 days (20 s) and tau 2 days (20 s). Objective: the same five criteria; the
protocol calibration's rows all met 25 of 25 at 15 s while the grid met 2 of 15 on two of them,
so ties are broken by the mean over seeds of the lid-suture deprived-eye z against the control
(the more negative wins: the evidence for the criterion the grid failed), then by the slower
homeostat. As written before the runs, the rule put the shorter deprivation (the validation
grid's cost) before the z; every candidate met 25 of 25, that term chose 15 s with the delay,
and it was then dropped, after these calibration runs and before any validation run with a
delay, because the grid's cost was no reason to keep the weaker evidence (mean z -1.09 against
-3.07): the table reports both rules' choices. Results: docs/figures/od_calibration_delay.json,
docs block od-calibration-delay.
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
PROTOCOL_RESULTS = ROOT / "docs" / "figures" / "od_calibration_protocol.json"
PROTOCOL_NEURONS = 32
# (deprivation s, homeostat tau s, seconds per day of the time axis): fixed before the runs
PROTOCOLS = ((15.0, 10.0, 2.5), (60.0, 10.0, 10.0), (60.0, 20.0, 10.0), (60.0, 40.0, 10.0))
DELAY_RESULTS = ROOT / "docs" / "figures" / "od_calibration_delay.json"
# (deprivation s, homeostat tau s, seconds per day, delay s): fixed before the runs
DELAY_PROTOCOLS = ((15.0, 10.0, 2.5, 0.0), (15.0, 10.0, 2.5, 5.0), (15.0, 5.0, 2.5, 5.0), (60.0, 20.0, 10.0, 20.0))
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


def protocol_label(deprivation_s: float, tau_s: float, seconds_per_day: float, delay_s: float = 0.0) -> str:
    delay = f", delay {delay_s:g} s ({delay_s / seconds_per_day:g} d)" if delay_s else ""
    return f"{deprivation_s:g} s, tau {tau_s:g} s ({tau_s / seconds_per_day:g} d){delay}"


def _protocol_seed(seed: int, protocols=PROTOCOLS) -> list[dict]:
    """One calibration seed: the binocular phase once, then every candidate of ``protocols`` from it
    ((deprivation s, tau s, seconds per day[, delay s]) each)."""
    from lolpim.actors.kernel.inline import InlineExecutor
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    from lolpim.orchestration.anchors import plasticity as anchors
    from lolpim.orchestration.plasticity import od_controls
    base = od.load_variant("network")
    cfg = od.OcularDominanceConfig(neurons=PROTOCOL_NEURONS, synapses_per_eye=SYNAPSES,
                                   contrast_spread=base.contrast_spread)
    params = cascade.load_params(anchors.OD_PARAMS)
    t0 = time.perf_counter()
    steady = od_controls.binocular_phase(od_controls.Runner(InlineExecutor(), params, base, seed), cfg,
                                         od.SteadyState())
    print(f"  seed {seed}: binocular phase {steady['steady_state']['binocular_s']:g} s simulated, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    out = []
    for deprivation_s, tau_s, per_day, *delay in protocols:
        delay_s = delay[0] if delay else 0.0
        variant = replace(base, homeostasis=replace(base.homeostasis, enabled=True, tau_s=tau_s,
                                                    seconds_per_day=per_day, delay_s=delay_s))
        runner = od_controls.Runner(InlineExecutor(), params, variant, seed)
        t1 = time.perf_counter()
        summary = od_controls.experiment(runner, replace(cfg, deprivation_s=deprivation_s), od.SteadyState(),
                                         extra_sutured_rates_hz=(anchors.OD_HIGH_SUTURED_HZ,), specificity=False,
                                         steady=steady)["summary"]
        label = protocol_label(deprivation_s, tau_s, per_day, delay_s)
        print(f"  seed {seed}, {label}: {time.perf_counter() - t1:.0f} s", flush=True)
        out.append({"protocol": label, "deprivation_s": deprivation_s, "tau_s": tau_s, "seconds_per_day": per_day,
                    "delay_s": delay_s, "neurons": PROTOCOL_NEURONS, "seed": seed, "summary": summary})
    return out


def protocol_table(points) -> tuple[list[list[str]], str]:
    labels = [protocol_label(*p) for p in PROTOCOLS]
    scores = {v: sum(bool(p["summary"]["criteria"][k]) for p in points if p["protocol"] == v for k in OBJECTIVE)
              for v in labels}
    # ties: the shorter deprivation, then the slower homeostat (the larger tau)
    preference = sorted(PROTOCOLS, key=lambda p: (p[0], -p[1]))
    rank = {protocol_label(*p): i for i, p in enumerate(preference)}
    best = max(labels, key=lambda v: (scores[v], -rank[v]))
    rows = []
    for v in labels:
        at = [p for p in points if p["protocol"] == v]
        per = [f"{sum(bool(p['summary']['criteria'][k]) for p in at)}/{len(at)}" for k in OBJECTIVE]
        lid = [p["summary"]["controls"]["lid_suture"] for p in at]
        dvc = ", ".join(f"{100 * c['deprived_vs_control']:+.1f}" for c in lid)
        z = ", ".join("-" if p["summary"]["criteria"]["deprived_vs_control_z"] is None else
                      f"{p['summary']['criteria']['deprived_vs_control_z']:+.1f}" for p in at)
        rows.append([v + (" (chosen)" if v == best else ""), *per, f"{scores[v]} of {len(at) * len(OBJECTIVE)}",
                     dvc, z])
    return rows, best




def _run_protocols(protocols, results: Path, jobs: int, reused=()) -> list[dict]:
    """Every calibration seed under ``protocols`` (plus points ``reused`` from an earlier run),
    written to ``results``."""
    t0 = time.perf_counter()
    seeds = list(SEEDS)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            fresh = [q for part in pool.map(_protocol_seed, seeds, [protocols] * len(seeds)) for q in part]
    else:
        fresh = [q for seed in seeds for q in _protocol_seed(seed, protocols)]
    print(f"calibration: {time.perf_counter() - t0:.0f} s wall", flush=True)
    from lolpim.orchestration.results import json_safe, write_text
    points = list(reused) + fresh
    write_text(results, json.dumps(json_safe(points), indent=1))
    return points


def _publish(text: str, block: str, docs: bool) -> None:
    print(text)
    if docs:
        from docs_figures import write_block
        write_block(DOC, block, text)
        print(f"rewrote the {block} block of {DOC.relative_to(ROOT)}")


def protocol_main(args) -> None:
    points = (json.loads(PROTOCOL_RESULTS.read_text()) if args.tables_only
              else _run_protocols(PROTOCOLS, PROTOCOL_RESULTS, args.jobs))
    rows, best = protocol_table(points)
    text = (f"Calibration rows: seeds {SEEDS[0]}-{SEEDS[-1]}, S = {SYNAPSES}, K = {PROTOCOL_NEURONS}, the network "
            f"variant (eye EPSP 20 mV); generated by benchmarks/od_calibration.py --param protocol --docs; steady "
            f"state by the validation's rule (60 s windows), one binocular phase per seed shared by the candidates; "
            f"ties to the shorter deprivation, then the slower homeostat; the objective's choice: {best}\n\n"
            + markdown(PROTOCOL_HEAD, rows))
    _publish(text, "od-calibration-protocol", args.docs)


def _mean_z(points) -> float:
    z = [p["summary"]["criteria"]["deprived_vs_control_z"] for p in points]
    return sum(v for v in z if v is not None) / max(1, sum(v is not None for v in z))


def delay_table(points) -> tuple[list[list[str]], str]:
    labels = [protocol_label(*p) for p in DELAY_PROTOCOLS]
    at = {v: [p for p in points if p["protocol"] == v] for v in labels}
    scores = {v: sum(bool(p["summary"]["criteria"][k]) for p in at[v] for k in OBJECTIVE) for v in labels}
    by_label = dict(zip(labels, DELAY_PROTOCOLS))
    # ties: the more negative mean z of the deprived eye against the control, then the slower
    # homeostat (the rule as first written put the shorter deprivation first: ``as_written``)
    best = max(labels, key=lambda v: (scores[v], -_mean_z(at[v]), by_label[v][1]))
    as_written = max(labels, key=lambda v: (scores[v], -by_label[v][0], -_mean_z(at[v]), by_label[v][1]))
    rows = []
    for v in labels:
        per = [f"{sum(bool(p['summary']['criteria'][k]) for p in at[v])}/{len(at[v])}" for k in OBJECTIVE]
        lid = [p["summary"]["controls"]["lid_suture"] for p in at[v]]
        dvc = ", ".join(f"{100 * c['deprived_vs_control']:+.1f}" for c in lid)
        ovc = ", ".join(f"{100 * c['open_vs_control']:+.0f}" for c in lid)
        mark = " (chosen)" if v == best else " (the rule as first written)" if v == as_written else ""
        rows.append([v + mark, *per, f"{scores[v]} of {len(at[v]) * len(OBJECTIVE)}", dvc, f"{_mean_z(at[v]):+.2f}",
                     ovc])
    return rows, best


def delay_main(args) -> None:
    if args.tables_only:
        points = json.loads(DELAY_RESULTS.read_text())
    else:
        # the no-delay candidate is the protocol calibration's shipped row: the same model and rows
        shipped = protocol_label(*DELAY_PROTOCOLS[0])
        reused = [dict(p, delay_s=0.0, reused="protocol") for p in json.loads(PROTOCOL_RESULTS.read_text())
                  if p["protocol"] == shipped]
        if len(reused) == len(SEEDS):
            points = _run_protocols(DELAY_PROTOCOLS[1:], DELAY_RESULTS, args.jobs, reused)
        else:
            points = _run_protocols(DELAY_PROTOCOLS, DELAY_RESULTS, args.jobs)
    rows, best = delay_table(points)
    text = (f"Calibration rows: seeds {SEEDS[0]}-{SEEDS[-1]}, S = {SYNAPSES}, K = {PROTOCOL_NEURONS}, the network "
            f"variant (eye EPSP 20 mV); generated by benchmarks/od_calibration.py --param delay --docs (the "
            f"no-delay row reuses the protocol calibration's points: the same model); ties to the more "
            f"negative mean z of the deprived eye against its control, then the slower homeostat (first "
            f"written with the shorter deprivation before the z); the objective's choice: {best}\n\n"
            + markdown(DELAY_HEAD, rows))
    _publish(text, "od-calibration-delay", args.docs)


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
PROTOCOL_HEAD = ["protocol (deprivation, homeostat tau)", *HEAD[1:6], "objective",
                 "lid suture: deprived vs control per seed (%)", "its z per seed"]
DELAY_HEAD = ["protocol (deprivation, homeostat tau, delay)", *HEAD[1:6], "objective",
              "lid suture: deprived vs control per seed (%)", "its mean z", "open vs control per seed (%)"]
HOMEO_HEAD = ["homeostasis tau (s)", *HEAD[1:-1], "lid-suture rate (Hz)", HEAD[-1]]


def markdown(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _value(text: str):
    return "off" if text == "off" else float(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param", choices=("eye_epsp_mV", "homeo_tau_s", "protocol", "delay"), default="eye_epsp_mV")
    ap.add_argument("--values", default=None, help="values of --param (eye_epsp_mV default 20,30; homeo_tau_s "
                                                   "default off,5,10)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--docs", action="store_true")
    ap.add_argument("--tables-only", action="store_true")
    args = ap.parse_args(argv)
    if args.param == "protocol":
        protocol_main(args)
        return
    if args.param == "delay":
        delay_main(args)
        return
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
        from lolpim.orchestration.results import json_safe, write_text
        write_text(results, json.dumps(json_safe(points), indent=1))
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
    _publish(text, "od-calibration-homeostasis" if homeo else "od-calibration", args.docs)


if __name__ == "__main__":
    main()
