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
5. With --ray: the ocular-dominance actor system (K neurons x 2 cascade populations) inline and on
   Ray with 1, 2, 4 processes: cascade synapse updates per wall second against the process count.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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
    cascade_bytes = sum(getattr(cascade, k).nbytes for k in ("t_s", "t_event_s", "g", "boost", "a_fast",
                                                            "a_slow", "ca", "c1", "c2", "phos", "v_base"))
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


def ray_scaling(neurons: int, synapses: int, duration_s: float, processes: list[int]) -> list[dict]:
    """Cascade synapse-steps/s (dt 0.1 ms equivalent) of the ocular-dominance actor system."""
    from lolpim.actors.inline import InlineExecutor
    from lolpim.actors.plasticity import ocular_dominance_system
    from lolpim.actors.ray_executor import RayExecutor, ensure_ray
    from lolpim.models.plasticity.ocular_dominance import OcularDominanceConfig
    cfg = OcularDominanceConfig(neurons=neurons, synapses_per_eye=synapses, binocular_s=duration_s / 2,
                                deprivation_s=duration_s / 2)
    system = ocular_dominance_system(cascade_params(), cfg, seed=0)
    total = 2 * neurons * synapses * duration_s / DT_REFERENCE_S
    rows = []
    t0 = time.perf_counter()
    reference = InlineExecutor().run(system)
    rows.append({"executor": "inline", "processes": 1, "wall_s": time.perf_counter() - t0})
    ensure_ray()
    for n in processes:
        ex = RayExecutor(max_processes=n, keep_processes=True)
        ex.run(system)                      # first run starts the processes; time the second
        t0 = time.perf_counter()
        run = ex.run(system)
        rows.append({"executor": "ray", "processes": n, "wall_s": time.perf_counter() - t0,
                     "identical_to_inline": run.results == reference.results})
        ex.close()
    for r in rows:
        r["synapse_steps_per_s"] = total / r["wall_s"]
        r.update(neurons=neurons, synapses_per_eye=synapses, duration_s=duration_s)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--duration-s", type=float, default=100.0)
    ap.add_argument("--brian-duration-s", type=float, default=5.0)
    ap.add_argument("--brian-targets", default="cython,numpy")
    ap.add_argument("--no-brian", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ray", action="store_true", help="also the actor system on Ray (starts a local Ray)")
    ap.add_argument("--ray-neurons", type=int, default=4)
    ap.add_argument("--ray-synapses", type=int, default=50)
    ap.add_argument("--ray-duration-s", type=float, default=4.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

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
    if args.ray:
        report["ray"] = ray_scaling(args.ray_neurons, args.ray_synapses, args.ray_duration_s, [1, 2, 4])
        for r in report["ray"]:
            extra = f", identical to inline: {r['identical_to_inline']}" if "identical_to_inline" in r else ""
            print(f"  cascade OD actors ({r['neurons']} neurons x 2 x {r['synapses_per_eye']} synapses, "
                  f"{r['duration_s']:.0f} s) {r['executor']} {r['processes']} process(es): "
                  f"{r['synapse_steps_per_s']:.3g} synapse-steps/s, wall {r['wall_s']:.1f} s{extra}")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
