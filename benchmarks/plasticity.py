"""Synapse updates per wall second: Graupner-Brunel DP synapses, event-driven here vs Brian2.

    .venv/bin/python benchmarks/plasticity.py [--n 10000] [--duration-s 100] [--brian-duration-s 5]

1. Speed: N independent DP synapses (noise on), independent 1 Hz Poisson pre and post trains,
   integrated exactly from one calcium jump to the next (models/plasticity/graupner_brunel.py).
   Reported as "synapse-steps/s" = N x (simulated time / 0.1 ms) / wall time, the unit of a
   dt = 0.1 ms clock-driven simulator, and as calcium events per second.
2. Accuracy: the same integrator with the noise off against a tight-tolerance ODE solution
   (scipy DOP853 on each piece between threshold crossings), next to dt = 0.1 ms Heun stepping
   with spikes on the time grid (what Brian2 does). The event-driven error must not exceed Heun's.
3. Brian2 2.9 on the same model, run as a subprocess in its own virtualenv when it exists
   ($LOLPIM_BRIAN2_PYTHON, default /tmp/brianvenv/bin/python; build it with
   `python3 -m venv /tmp/brianvenv && /tmp/brianvenv/bin/pip install "brian2==2.9.*" "numpy<2" cython`).
4. Memory per million synapses: model state, and peak traced memory of the speed run.

With --scaling (only this runs; benchmarks/plasticity_scaling.py): the ocular-dominance network
at K x S = 1000 x 1000 inline and on Ray with P = 1, 2 (more when the machine has the cores),
wall time and synapse-steps/s, every Ray run checked bit-identical to inline; --sizes adds the
cost-against-size table (1 x 10 to 1000 x 1000).

    .venv/bin/python benchmarks/plasticity.py --scaling [--sizes] [--neurons 1000 --synapses 1000]

With --cascade (only this runs): the speed anchor on the seed model itself, the calcium-cascade
synapse, lolpim's CascadePopulation against the same equations in Brian2
(benchmarks/brian2_cascade.py, same virtualenv as above) at equal N and equal accuracy:

    .venv/bin/python benchmarks/plasticity.py --cascade [--json-out cascade.json]

a. Accuracy case: --cascade-accuracy-n synapses (default 40) for --cascade-accuracy-duration-s
   (default 5 s) of seeded events (benchmarks/cascade_reference.py: 1-3 Hz Poisson pre spikes, a bAP
   at a fixed per-synapse offset in [-40, +40] ms after 90% of them, 0.2 Hz extra bAPs, all on a
   0.1 ms grid). Reference: DOP853, rtol 1e-10, atol 1e-12, event to event with exact jumps (and
   again at rtol 1e-8, atol 1e-10 to show it has converged). Error = max over synapses of
   |w - w_ref|, i.e. of the error in dw.
b. Brian2 sweep on the accuracy case: every method in --cascade-methods at every dt in
   --cascade-dts-ms. For each method the coarsest dt whose error <= lolpim's is its equal-accuracy
   dt; a probe (the largest N, 500 steps of 0.1 ms) measures each method's cost per synapse-step, and the
   equal-accuracy configuration with the lowest predicted wall time is the one compared.
c. Timing at each N in --cascade-n (default 10,000 and 100,000) for --cascade-duration-s (default
   2 s) of events from the same generator: lolpim, Brian2 at equal accuracy, and Brian2 at
   dt = 0.1 ms (the chosen method and the fastest method) for reference. Wall time is the run
   only (a warm-up run first on both sides; Brian2's network construction and code generation are
   reported separately as build_s). synapse-steps/s = N x simulated time / 0.1 ms / wall. The
   error column is the accuracy case's (same method and dt); at each N the largest |w_lolpim -
   w_Brian2| is also reported, and at the smallest N Brian2 rk4 at dt 0.1 ms (accurate to ~1e-10 on
   the accuracy case) serves as reference for every synapse: the error over N synapses, not 40.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from lolpim.models.plasticity import graupner_brunel as gb
from lolpim.models.plasticity.cascade import CascadePopulation, load_params as cascade_params

DT_REFERENCE_S = 1e-4
BRIAN_SCRIPT = Path(__file__).with_name("brian2_graupner_brunel.py")


def poisson_events(p: gb.GraupnerBrunelParams, n: int, rate_hz: float, duration_s: float, rng):
    """Per-synapse calcium jump trains (pre jumps delayed by D), sorted, padded with the end time."""
    counts_pre = rng.poisson(rate_hz * duration_s, n)
    counts_post = rng.poisson(rate_hz * duration_s, n)
    width = int((counts_pre + counts_post).max())
    times = np.full((n, width), duration_s)
    amps = np.zeros((n, width))
    for i in range(n):
        t = np.concatenate([rng.uniform(0, duration_s, counts_pre[i]) + p.delay_pre_s,
                            rng.uniform(0, duration_s, counts_post[i])])
        a = np.concatenate([np.full(counts_pre[i], p.c_pre), np.full(counts_post[i], p.c_post)])
        keep = t < duration_s
        t, a = t[keep], a[keep]
        order = np.argsort(t)
        times[i, :len(t)] = t[order]
        amps[i, :len(t)] = a[order]
    return times, amps


def initial_rho(p, n):
    return np.where(np.arange(n) < round(p.beta * n), 0.0, 1.0)


def speed(n: int, duration_s: float, seed: int) -> dict:
    p = gb.load_params("DP")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    times, amps = poisson_events(p, n, 1.0, duration_s, rng)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rho = gb.run_independent_trains(p, initial_rho(p, n), times, amps, duration_s, rng)
    wall_s = time.perf_counter() - t0
    steps = n * duration_s / DT_REFERENCE_S
    events = int((amps > 0).sum())
    return {"n_synapses": n, "duration_s": duration_s, "wall_s": wall_s, "spike_generation_s": gen_s,
            "synapse_steps_per_s": steps / wall_s, "synapse_steps_per_s_with_generation": steps / (wall_s + gen_s),
            "calcium_events_per_s": events / wall_s, "mean_rho": float(rho.mean())}


# -- accuracy -----------------------------------------------------------------------------------


def reference_solution(p, rho0, times, amps, duration_s):
    """Noise-free rho at the end, by DOP853 on every piece of constant H(c - theta)."""
    from scipy.integrate import solve_ivp
    out = np.empty(len(rho0))
    for i in range(len(rho0)):
        rho, c, t = rho0[i], 0.0, 0.0
        for t_next, a in list(zip(times[i], amps[i])) + [(duration_s, 0.0)]:
            gap = t_next - t
            cuts = sorted({min(gap, max(0.0, p.tau_ca_s * np.log(c / th))) if c > 0 else 0.0
                           for th in (p.theta_p, p.theta_d)} | {gap})
            start = 0.0
            for end in cuts:
                if end > start:
                    mid_c = c * np.exp(-0.5 * (start + end) / p.tau_ca_s)
                    hp, hd = float(mid_c > p.theta_p), float(mid_c > p.theta_d)
                    f = lambda _t, r, hp=hp, hd=hd: [(-r[0] * (1 - r[0]) * (p.rho_star - r[0])
                                                      + p.gamma_p * (1 - r[0]) * hp - p.gamma_d * r[0] * hd) / p.tau_s]
                    rho = solve_ivp(f, (start, end), [rho], method="DOP853", rtol=1e-12, atol=1e-14).y[0, -1]
                start = max(start, end)
            c = c * np.exp(-gap / p.tau_ca_s) + a
            t = t_next
        out[i] = rho
    return out


def heun_fixed_step(p, rho0, times, amps, duration_s, dt_s=DT_REFERENCE_S):
    """Clock-driven Heun at dt with spikes applied on the time grid (noise off)."""
    n_steps = int(round(duration_s / dt_s))
    jumps = np.zeros((n_steps + 1, len(rho0)))
    for i in range(len(rho0)):
        k = np.rint(times[i][amps[i] > 0] / dt_s).astype(int)
        np.add.at(jumps[:, i], np.minimum(k, n_steps), amps[i][amps[i] > 0])
    decay = np.exp(-dt_s / p.tau_ca_s)

    def drift(r, c):
        return (-r * (1 - r) * (p.rho_star - r) + p.gamma_p * (1 - r) * (c > p.theta_p)
                - p.gamma_d * r * (c > p.theta_d)) / p.tau_s

    rho, c = np.array(rho0, dtype=float), np.zeros(len(rho0))
    for k in range(n_steps):
        c = c + jumps[k]
        c_next = c * decay
        k1 = drift(rho, c)
        k2 = drift(rho + dt_s * k1, c_next)
        rho = rho + 0.5 * dt_s * (k1 + k2)
        c = c_next
    return rho


def accuracy(n: int = 20, duration_s: float = 20.0, seed: int = 3) -> dict:
    p = gb.load_params("DP", sigma=0.0)
    rng = np.random.default_rng(seed)
    times, amps = poisson_events(p, n, 1.0, duration_s, rng)
    rho0 = rng.uniform(0.0, 1.0, n)
    ref = reference_solution(p, rho0, times, amps, duration_s)
    event = gb.run_independent_trains(p, rho0, times, amps, duration_s)
    heun = heun_fixed_step(p, rho0, times, amps, duration_s)
    return {"n_synapses": n, "duration_s": duration_s,
            "event_driven_max_abs_error": float(np.abs(event - ref).max()),
            "heun_dt_0.1ms_max_abs_error": float(np.abs(heun - ref).max())}


# -- memory and Brian2 ---------------------------------------------------------------------------


def memory_per_million() -> dict:
    n = 1_000_000
    gb_pop = gb.GraupnerBrunelPopulation(gb.load_params("DP"), n)
    cascade = CascadePopulation(cascade_params(), n)
    gb_bytes = gb_pop.rho.nbytes + gb_pop.c.nbytes
    cascade_bytes = cascade.state.nbytes   # one float64 row of kernel.N_STATE columns per synapse
    del gb_pop, cascade
    tracemalloc.start()
    speed(20_000, 10.0, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"graupner_brunel_state_bytes": gb_bytes, "cascade_state_bytes": cascade_bytes,
            "event_driven_run_peak_bytes_per_million": peak * (n / 20_000)}


def brian2(n: int, duration_s: float, targets: list[str]) -> list[dict]:
    python = os.environ.get("LOLPIM_BRIAN2_PYTHON", "/tmp/brianvenv/bin/python")
    if not Path(python).exists():
        print(f"Brian2 skipped: no interpreter at {python} (set LOLPIM_BRIAN2_PYTHON)")
        return []
    proc = subprocess.run([python, str(BRIAN_SCRIPT), str(n), str(duration_s), *targets],
                          capture_output=True, text=True, cwd="/tmp")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode:
        print(f"Brian2 failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return rows


# -- cascade: the seed model against Brian2 at equal accuracy ------------------------------------

CASCADE_BRIAN_SCRIPT = Path(__file__).with_name("brian2_cascade.py")


def sibling_module(name: str):
    """A module of benchmarks/ (not a package), whether this file runs as a script or is imported."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cascade_reference_module():
    return sibling_module("cascade_reference")


def brian2_python() -> str | None:
    python = os.environ.get("LOLPIM_BRIAN2_PYTHON", "/tmp/brianvenv/bin/python")
    return python if Path(python).exists() else None


def lolpim_cascade(params, times, kinds, duration_s: float):
    """Weights and wall time of CascadePopulation.run_schedule (+ advance to the end)."""
    n = times.shape[0]
    t0 = time.perf_counter()
    pop = CascadePopulation(params, n)
    pop.run_schedule(times, kinds)
    pop.advance(duration_s)
    wall = time.perf_counter() - t0
    return pop.weights().copy(), wall


def brian2_cascade_runs(params, pre, bap, duration_s: float, runs: list[dict], workdir: Path,
                        return_weights: bool = True) -> list[dict]:
    """Run benchmarks/brian2_cascade.py on these events; one result dict per run ([] without Brian2)."""
    python = brian2_python()
    if python is None:
        return []
    cr = cascade_reference_module()
    pre_i, pre_t = cr.flat_events(pre)
    bap_i, bap_t = cr.flat_events(bap)
    npz = workdir / f"events_{len(pre)}_{duration_s:g}.npz"
    np.savez(npz, pre_i=pre_i, pre_t=pre_t, bap_i=bap_i, bap_t=bap_t)
    cfg = {"params": params.to_dict(), "n": len(pre), "duration_s": duration_s, "events": {"npz": str(npz)},
           "runs": runs, "return_weights": return_weights}
    cfg_path = workdir / "brian2_cascade.json"
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.run([python, str(CASCADE_BRIAN_SCRIPT), str(cfg_path)], capture_output=True, text=True,
                          cwd=str(workdir))
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode:
        raise RuntimeError(f"Brian2 failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return rows


def _brian_label(method: str, dt_s: float) -> str:
    return f"Brian2 {method} dt {dt_s * 1e3:g} ms"


def cascade_benchmark(ns: list[int], duration_s: float, accuracy_n: int, accuracy_duration_s: float,
                      dts_ms: list[float], methods: list[str], target: str, seed: int) -> dict:
    cr = cascade_reference_module()
    params = cascade_params()
    report = {"params": params.to_dict(), "seed": seed, "target": target,
              "brian2_available": brian2_python() is not None}
    with tempfile.TemporaryDirectory(prefix="lolpim_cascade_") as tmp:
        workdir = Path(tmp)
        # warm-up of lolpim (matters if the integrator is ever JIT-compiled)
        wpre, wbap = cr.build_events(50, 0.5, seed + 99)
        lolpim_cascade(params, *cr.schedule_arrays(wpre, wbap), 0.5)

        # a. accuracy case
        pre, bap = cr.build_events(accuracy_n, accuracy_duration_s, seed)
        t0 = time.perf_counter()
        ref = cr.reference_weights(params.to_dict(), pre, bap, accuracy_duration_s)
        ref_s = time.perf_counter() - t0
        ref_loose = cr.reference_weights(params.to_dict(), pre, bap, accuracy_duration_s, rtol=1e-8, atol=1e-10)
        w_lolpim, _ = lolpim_cascade(params, *cr.schedule_arrays(pre, bap), accuracy_duration_s)
        lolpim_err = float(np.abs(w_lolpim - ref).max())
        dw = ref - 1.0
        report["accuracy"] = {
            "n_synapses": accuracy_n, "duration_s": accuracy_duration_s,
            "events_per_synapse": float(np.mean([len(a) + len(b) for a, b in zip(pre, bap)])),
            "reference": "DOP853 rtol 1e-10 atol 1e-12, event to event", "reference_wall_s": ref_s,
            "reference_vs_rtol_1e-8_max_abs": float(np.abs(ref - ref_loose).max()),
            "reference_dw_min": float(dw.min()), "reference_dw_max": float(dw.max()),
            "synapses_ltp_over_0.05": int((dw > 0.05).sum()), "synapses_ltd_under_-0.02": int((dw < -0.02).sum()),
            "lolpim_max_abs_error": lolpim_err,
            "lolpim_median_abs_error": float(np.median(np.abs(w_lolpim - ref))),
            "brian2": []}

        # b. Brian2 sweep and choice
        sweep = []
        if report["brian2_available"]:
            runs = [{"dt_s": dt * 1e-3, "method": m, "target": target} for m in methods for dt in dts_ms]
            for r in brian2_cascade_runs(params, pre, bap, accuracy_duration_s, runs, workdir):
                w = np.asarray(r.pop("weights"))
                sweep.append({"method": r["method"], "dt_s": r["dt_s"], "max_abs_error": float(np.abs(w - ref).max()),
                              "median_abs_error": float(np.median(np.abs(w - ref))), "brian2": r["brian2"]})
            report["accuracy"]["brian2"] = sweep
            probe_n, probe_steps = max(ns), 500
            ppre, pbap = cr.build_events(probe_n, probe_steps * 1e-4, seed + 7)
            probes = brian2_cascade_runs(params, ppre, pbap, probe_steps * 1e-4,
                                         [{"dt_s": 1e-4, "method": m, "target": target} for m in methods],
                                         workdir, return_weights=False)
            cost = {r["method"]: r["run_s"] / (probe_n * r["steps"]) for r in probes}   # s per synapse-step
            report["brian2_probe_s_per_synapse_step"] = cost
            report["brian2_probe_n"] = probe_n
            candidates = []
            for m in methods:
                ok = [row for row in sweep if row["method"] == m and row["max_abs_error"] <= lolpim_err]
                if ok:
                    best = max(ok, key=lambda row: row["dt_s"])
                    candidates.append({**best, "predicted_s_per_synapse_second": cost[m] / best["dt_s"]})
            report["brian2_equal_accuracy_candidates"] = candidates
            chosen = min(candidates, key=lambda c: c["predicted_s_per_synapse_second"]) if candidates else None
            report["brian2_equal_accuracy_choice"] = chosen
            fastest_01 = min(methods, key=lambda m: cost[m])
            configs = []
            if chosen is not None:
                configs.append(("equal accuracy", chosen["method"], chosen["dt_s"]))
            for m in dict.fromkeys(([chosen["method"]] if chosen else []) + [fastest_01]):
                if not any(c[1] == m and abs(c[2] - 1e-4) < 1e-12 for c in configs):
                    configs.append(("dt 0.1 ms", m, 1e-4))
        else:
            configs = []
        err_of = {(row["method"], round(row["dt_s"], 12)): row["max_abs_error"] for row in sweep}

        # c. timing at equal N
        rows = []
        proxy_ok = report["brian2_available"] and "rk4" in methods
        for n in ns:
            pre_n, bap_n = cr.build_events(n, duration_s, seed + n)
            times, kinds = cr.schedule_arrays(pre_n, bap_n)
            w_l, wall = lolpim_cascade(params, times, kinds, duration_s)
            events = int((kinds != 0).sum())
            base = {"n_synapses": n, "duration_s": duration_s, "events": events}
            lol = {**base, "engine": "lolpim", "config": "CascadePopulation.run_schedule", "wall_s": wall,
                   "build_s": None, "synapse_steps_per_s": n * duration_s / DT_REFERENCE_S / wall,
                   "max_abs_error_accuracy_case": lolpim_err}
            rows.append(lol)
            # at the smallest N, Brian2 rk4 at dt 0.1 ms (error ~1e-10 on the accuracy case) serves as
            # a reference for all N synapses: the tail of the error over many synapses
            with_proxy = proxy_ok and n == min(ns) and not any(c[1] == "rk4" and abs(c[2] - 1e-4) < 1e-12
                                                               for c in configs)
            n_configs = configs + ([("proxy reference", "rk4", 1e-4)] if with_proxy else [])
            if n_configs:
                runs = [{"dt_s": dt, "method": m, "target": target} for _, m, dt in n_configs]
                weights_b = []
                b_runs = brian2_cascade_runs(params, pre_n, bap_n, duration_s, runs, workdir)
                for (role, m, dt), r in zip(n_configs, b_runs):
                    w_b = np.asarray(r.pop("weights"))
                    weights_b.append((m, dt, w_b))
                    rows.append({**base, "engine": "Brian2", "role": role, "config": _brian_label(m, dt),
                                 "method": m, "dt_s": dt, "target": target, "wall_s": r["run_s"],
                                 "build_s": r["build_s"], "warmup_s": r["warmup_s"],
                                 "synapse_steps_per_s": r["synapse_steps_per_s"],
                                 "max_abs_error_accuracy_case": err_of.get((m, round(dt, 12))),
                                 "max_abs_weight_difference_vs_lolpim": float(np.abs(w_b - w_l).max()),
                                 "lolpim_speed_ratio": lol["synapse_steps_per_s"] / r["synapse_steps_per_s"],
                                 "brian2": r["brian2"]})
                proxy = [w for m, dt, w in weights_b if m == "rk4" and abs(dt - 1e-4) < 1e-12]
                if proxy and n == min(ns):
                    errs = {"lolpim": float(np.abs(w_l - proxy[0]).max())}
                    errs.update({_brian_label(m, dt): float(np.abs(w - proxy[0]).max())
                                 for m, dt, w in weights_b if not (m == "rk4" and abs(dt - 1e-4) < 1e-12)})
                    report["proxy_reference"] = {"n_synapses": n, "reference": _brian_label("rk4", 1e-4),
                                                 "max_abs_error": errs}
        report["timing"] = rows
    return report


def print_cascade(report: dict) -> None:
    a = report["accuracy"]
    print(f"calcium-cascade synapse (hippocampal set), accuracy case: {a['n_synapses']} synapses, "
          f"{a['duration_s']:g} s, {a['events_per_synapse']:.1f} events/synapse; reference {a['reference']} "
          f"({a['reference_wall_s']:.1f} s; differs from rtol 1e-8 by {a['reference_vs_rtol_1e-8_max_abs']:.1e})")
    print(f"  reference dw from {a['reference_dw_min']:+.3f} to {a['reference_dw_max']:+.3f}; "
          f"{a['synapses_ltp_over_0.05']} synapses with dw > +0.05, {a['synapses_ltd_under_-0.02']} with dw < -0.02")
    print(f"  lolpim max |dw error| {a['lolpim_max_abs_error']:.2e} (median {a['lolpim_median_abs_error']:.2e})")
    if not report["brian2_available"]:
        print("  Brian2 skipped: no interpreter (set LOLPIM_BRIAN2_PYTHON or build /tmp/brianvenv)")
    else:
        methods = list(dict.fromkeys(r["method"] for r in a["brian2"]))
        dts = sorted({r["dt_s"] for r in a["brian2"]}, reverse=True)
        print("  Brian2 max |dw error| vs reference (" + report["target"] + "):")
        print("    " + f"{'method':<18}" + "".join(f"{'dt ' + format(dt * 1e3, 'g') + ' ms':>15}" for dt in dts))
        for m in methods:
            errs = {r["dt_s"]: r["max_abs_error"] for r in a["brian2"] if r["method"] == m}
            print("    " + f"{m:<18}" + "".join(f"{errs[dt]:>15.2e}" if dt in errs else f"{'-':>15}" for dt in dts))
        cost = report["brian2_probe_s_per_synapse_step"]
        print(f"  Brian2 cost per synapse-step (probe, {report['brian2_probe_n']} synapses, 500 steps): "
              + ", ".join(f"{m} {c * 1e9:.0f} ns" for m, c in cost.items()))
        for c in report["brian2_equal_accuracy_candidates"]:
            print(f"  equal-accuracy candidate: {c['method']} at dt {c['dt_s'] * 1e3:g} ms "
                  f"(error {c['max_abs_error']:.2e}), "
                  f"predicted {c['predicted_s_per_synapse_second'] * 1e6:.2f} s per 1e6 synapse-seconds")
        ch = report["brian2_equal_accuracy_choice"]
        print("  chosen: " + (f"{ch['method']} at dt {ch['dt_s'] * 1e3:g} ms" if ch else
                              "none - no Brian2 configuration in the sweep reached lolpim's error"))
    print()
    head = (f"{'N':>8} {'sim s':>6} {'engine / configuration':<44} {'wall s':>8} {'build s':>8} "
            f"{'syn-steps/s':>12} {'max err':>9} {'lolpim/Brian2':>13} {'max|w_l-w_b|':>12}")
    print(head)
    print("-" * len(head))
    for r in report["timing"]:
        label = "lolpim" if r["engine"] == "lolpim" else f"{r['config']} [{r['role']}]"
        build = "-" if r["build_s"] is None else f"{r['build_s']:.2f}"
        err = r["max_abs_error_accuracy_case"]
        ratio = f"{r['lolpim_speed_ratio']:.1f}x" if "lolpim_speed_ratio" in r else ""
        diff = f"{r['max_abs_weight_difference_vs_lolpim']:.1e}" if "max_abs_weight_difference_vs_lolpim" in r else ""
        print(f"{r['n_synapses']:>8} {r['duration_s']:>6g} {label:<44} {r['wall_s']:>8.2f} {build:>8} "
              f"{r['synapse_steps_per_s']:>12.3g} {(format(err, '.2e') if err is not None else '-'):>9} "
              f"{ratio:>13} {diff:>12}")
    if "proxy_reference" in report:
        pr = report["proxy_reference"]
        print(f"over all {pr['n_synapses']} synapses of the N = {pr['n_synapses']} run, "
              f"against {pr['reference']} as reference "
              "(its accuracy-case error is in the sweep above): max |dw error| "
              + ", ".join(f"{k} {v:.2e}" for k, v in pr["max_abs_error"].items()))
    print("syn-steps/s = N x simulated s / 0.1 ms / wall s; max err = max |dw - dw_ref| on the accuracy case "
          "at the same method and dt; build s = Brian2 network construction + code generation (after a warm-up "
          "that absorbs compilation); lolpim/Brian2 = speed ratio at equal N.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--duration-s", type=float, default=100.0)
    ap.add_argument("--brian-duration-s", type=float, default=5.0)
    ap.add_argument("--brian-targets", default="cython,numpy")
    ap.add_argument("--no-brian", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scaling", action="store_true", help="the ocular-dominance network against Ray processes "
                                                           "(benchmarks/plasticity_scaling.py)")
    scaling = sibling_module("plasticity_scaling")
    scaling.add_arguments(ap)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", type=Path, help="also write the report as JSON to this file")
    ap.add_argument("--cascade", action="store_true",
                    help="only the cascade speed anchor: lolpim vs Brian2 at equal N and equal accuracy")
    ap.add_argument("--cascade-n", default="10000,100000", help="comma-separated synapse counts to time")
    ap.add_argument("--cascade-duration-s", type=float, default=2.0)
    ap.add_argument("--cascade-accuracy-n", type=int, default=40)
    ap.add_argument("--cascade-accuracy-duration-s", type=float, default=5.0)
    ap.add_argument("--cascade-dts-ms", default="0.2,0.1,0.05,0.025,0.01")
    ap.add_argument("--cascade-methods", default="exponential_euler,euler,rk2,rk4")
    ap.add_argument("--cascade-target", default="cython")
    args = ap.parse_args(argv)
    if args.scaling:
        scaling.main(args)
        return 0

    if args.cascade:
        report = cascade_benchmark([int(x) for x in args.cascade_n.split(",")], args.cascade_duration_s,
                                   args.cascade_accuracy_n, args.cascade_accuracy_duration_s,
                                   [float(x) for x in args.cascade_dts_ms.split(",")],
                                   args.cascade_methods.split(","), args.cascade_target, args.seed)
        print_cascade(report)
        if args.json_out:
            args.json_out.write_text(json.dumps(report, indent=1))
        if args.json:
            print(json.dumps(report))
        return 0

    report = {"speed": speed(args.n, args.duration_s, args.seed), "accuracy": accuracy(),
              "memory": memory_per_million(), "brian2": []}
    s, a, m = report["speed"], report["accuracy"], report["memory"]
    print(f"event-driven Graupner-Brunel DP, N={s['n_synapses']}, {s['duration_s']:.0f} s simulated, "
          f"1 Hz Poisson pre and post, noise on")
    print(f"  wall {s['wall_s']:.2f} s (+{s['spike_generation_s']:.2f} s spike generation): "
          f"{s['synapse_steps_per_s']:.3g} synapse-steps/s at dt 0.1 ms equivalent "
          f"({s['synapse_steps_per_s_with_generation']:.3g} with generation), "
          f"{s['calcium_events_per_s']:.3g} calcium events/s")
    print(f"  accuracy vs DOP853 reference (noise off, {a['n_synapses']} synapses, {a['duration_s']:.0f} s): "
          f"event-driven max |drho| {a['event_driven_max_abs_error']:.2e}, "
          f"Heun dt 0.1 ms {a['heun_dt_0.1ms_max_abs_error']:.2e}")
    print(f"  memory per million synapses: Graupner-Brunel state {m['graupner_brunel_state_bytes'] / 1e6:.0f} MB, "
          f"cascade state {m['cascade_state_bytes'] / 1e6:.0f} MB, benchmark run peak "
          f"{m['event_driven_run_peak_bytes_per_million'] / 1e6:.0f} MB (10 s of 1 Hz trains, mostly the trains)")
    if not args.no_brian:
        report["brian2"] = brian2(args.n, args.brian_duration_s, args.brian_targets.split(","))
        for r in report["brian2"]:
            print(f"  Brian2 {r['brian2']} {r['target']}: {r['synapse_steps_per_s']:.3g} synapse-steps/s "
                  f"({r['duration_s']} s simulated in {r['wall_s']:.1f} s; compile/setup {r['setup_s']:.1f} s); "
                  f"event-driven is {s['synapse_steps_per_s'] / r['synapse_steps_per_s']:.0f}x faster")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
