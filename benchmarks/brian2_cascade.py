"""Brian2 side of ``benchmarks/plasticity.py --cascade``: N independent calcium-cascade synapses
(the equations of lolpim's CascadePopulation, docs/plasticity-cascade.md section 1), clock-driven.

Runs inside its own virtualenv (Brian2 2.9 needs numpy < 2):

    python3 -m venv /tmp/brianvenv && /tmp/brianvenv/bin/pip install "brian2==2.9.*" "numpy<2" cython
    /tmp/brianvenv/bin/python benchmarks/brian2_cascade.py CONFIG.json

CONFIG.json holds
    params        CascadeParams.to_dict()
    n, duration_s
    events        either {"pre_times_s": [[t, ...] per synapse], "bap_times_s": [[...], ...]}
                  or {"npz": PATH} with flat arrays pre_i, pre_t, bap_i, bap_t (synapse index, time s)
    dt_s, method, target    one run (target: cython or numpy; method: a Brian2 integrator name)
    runs          optional list of {"dt_s", "method", "target"[, "duration_s"]} overriding the
                  above, run in turn (each from t = 0 on a freshly built network)
    return_weights  optional, default true
and prints one JSON line per run: final weights (P / P_initial), build_s (network construction and
code generation after the warm-up), run_s (wall time of net.run(duration); run_cpu_s its CPU
time), warmup_s (the warm-up, which absorbs Cython compilation), synapse_steps_per_s = n *
duration / 0.1 ms / run_s.

Model: one NeuronGroup row per synapse. Pre spikes and bAPs come from two SpikeGeneratorGroups
through one-to-one Synapses whose on_pre statements are the model's jumps (pre: g += u (1 - g), epsp += epsp_mV,
boost = 1; bAP: A = A_bap (1 + gain boost), a_fast += f A, a_slow += (1 - f) A, Ca += k_vgcc A).
The boost trace e_i = exp(-(t - t_pre,i)/tau_boost) is integrated as d boost/dt = -boost/tau_boost.
The network schedule puts 'thresholds' and 'synapses' before 'groups', so an event
in the time bin starting at t is applied to the state at t and then integrated over [t, t + dt]
(with Brian2's default order the state would first be integrated to t + dt: a one-step delay).
Event times should lie on the dt grid (benchmarks/cascade_reference.py puts them on a 0.1 ms grid);
off the grid, SpikeGeneratorGroup moves each event to the start of its time bin.
"""
import gc
import json
import sys
import time

import numpy as np

import brian2 as b2

EQUATIONS = """
dg/dt = -g / nmda_tau : 1
dboost/dt = -boost / boost_tau : 1
da_fast/dt = -a_fast / bap_fast_tau : 1
da_slow/dt = -a_slow / bap_slow_tau : 1
depsp/dt = -epsp / dendrite_tau : 1
v = v_base + a_fast + a_slow + epsp : 1
mg_unblock = 1 / (1 + (mg_mM / 3.57) * exp(-0.062 * v)) : 1
dca/dt = -ca / ca_tau + k_nmda * g * mg_unblock * (ca_reversal - v) : 1
x1 = (clip(ca, 0, inf) / c1_half) ** {c1_hill} : 1
x2 = (clip(ca, 0, inf) / c2_half) ** {c2_hill} : 1
dc1/dt = c1_on * x1 / (1 + x1) * (1 - c1) - c1_off * c1 : 1
dc2/dt = c2_on * x2 / (1 + x2) * (1 - c2) - c2_off * c2 : 1
dphos/dt = k_phos * c1 * (1 - phos) - k_dephos * c2 * phos : 1
v_base : 1 (constant)
"""
ON_PRE = """
g_post += nmda_bind * (1 - g_post)
boost_post = 1
epsp_post += epsp_amp
"""
ON_BAP = """
amp = bap_amp * (1 + boost_gain * boosting * boost_post)
a_fast_post += bap_fast_fraction * amp
a_slow_post += (1 - bap_fast_fraction) * amp
ca_post += k_vgcc * amp
"""
C_START = 1e-30
SCHEDULE = ["start", "thresholds", "synapses", "groups", "resets", "end"]


def equations(p: dict) -> str:
    """EQUATIONS with the Hill exponents written as literals (an integer when integral: 6, not
    c1_hill), so the C compiler can turn the power into multiplications, as a Brian2 user writing
    this model would; with the exponent as a namespace variable each power is a pow() call and the
    state update is ~4x slower (rk2, N = 100,000: 7.0e6 against 2.65e7 synapse-steps/s)."""
    def literal(x):
        return str(int(x)) if float(x).is_integer() else repr(float(x))
    return EQUATIONS.format(c1_hill=literal(p["c1_hill"]), c2_hill=literal(p["c2_hill"]))


def namespace(p: dict) -> dict:
    s, hz = b2.second, b2.Hz
    return dict(nmda_tau=p["nmda_tau_s"] * s, boost_tau=p["boost_tau_s"] * s,
                bap_fast_tau=p["bap_fast_tau_s"] * s, bap_slow_tau=p["bap_slow_tau_s"] * s,
                mg_mM=p["mg_mM"], ca_tau=p["ca_tau_s"] * s, k_nmda=p["nmda_ca_uM_per_s_per_mV"] * hz,
                ca_reversal=p["ca_reversal_mV"], c1_half=p["c1_half_uM"],
                c2_half=p["c2_half_uM"], c1_on=p["c1_on_per_s"] * hz,
                c1_off=p["c1_off_per_s"] * hz, c2_on=p["c2_on_per_s"] * hz, c2_off=p["c2_off_per_s"] * hz,
                k_phos=p["phos_per_s"] * hz, k_dephos=p["dephos_per_s"] * hz,
                nmda_bind=p["nmda_bind_fraction"], bap_amp=p["bap_amplitude_mV"], boost_gain=p["boost_gain"],
                boosting=1.0 if p["bap_boosting"] else 0.0, bap_fast_fraction=p["bap_fast_fraction"],
                k_vgcc=p["vgcc_ca_uM_per_mV"], dendrite_tau=p.get("dendrite_tau_s", 0.02) * s,
                epsp_amp=p.get("epsp_mV", 0.0))


def build(p: dict, n: int, pre_i, pre_t, bap_i, bap_t, method: str, dt_s: float):
    ns = namespace(p)
    b2.defaultclock.dt = dt_s * b2.second
    group = b2.NeuronGroup(n, equations(p), method=method, namespace=ns, name="cascade")
    group.v_base = p["v_rest_mV"]
    group.phos = p["p_initial"]
    # Brian2's exponential_euler divides by dphos/dt's rate k_phos C1 + k_dephos C2, which is 0
    # until a synapse's first calcium (ZeroDivisionError); start C1, C2 at 1e-30 instead of 0
    # (for every method, so all integrate the same initial state; the effect on w is ~1e-30).
    group.c1 = C_START
    group.c2 = C_START
    pre = b2.SpikeGeneratorGroup(n, pre_i, pre_t * b2.second, name="pre_gen")
    bap = b2.SpikeGeneratorGroup(n, bap_i, bap_t * b2.second, name="bap_gen")
    s_pre = b2.Synapses(pre, group, on_pre=ON_PRE, namespace=ns, name="pre_syn")
    s_pre.connect(j="i")
    s_bap = b2.Synapses(bap, group, on_pre=ON_BAP, namespace=ns, name="bap_syn")
    s_bap.connect(j="i")
    net = b2.Network(group, pre, bap, s_pre, s_bap, name="cascade_net")
    net.schedule = SCHEDULE
    return net, group


def run_one(cfg: dict, events, run: dict) -> dict:
    p, n = cfg["params"], int(cfg["n"])
    duration = float(run.get("duration_s", cfg["duration_s"]))
    dt_s, method, target = float(run["dt_s"]), run["method"], run["target"]
    b2.prefs.codegen.target = target
    # warm-up: the same code on 2 synapses (Cython compiles here; the cache serves the real run)
    b2.start_scope()
    t0 = time.perf_counter()
    net, group = build(p, 2, np.array([0, 1]), np.array([0.0, 10 * dt_s]), np.array([0]),
                       np.array([5 * dt_s]), method, dt_s)
    net.run(20 * dt_s * b2.second)
    warmup_s = time.perf_counter() - t0
    del net, group
    gc.collect()
    b2.start_scope()
    pre_i, pre_t, bap_i, bap_t = events
    t0 = time.perf_counter()
    net, group = build(p, n, pre_i, pre_t, bap_i, bap_t, method, dt_s)
    net.run(0 * b2.second)           # code generation and set-up, no time step
    build_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(duration * b2.second)
    run_s, run_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    net.run(0 * b2.second)           # what a run costs besides its time steps
    per_run_overhead_s = time.perf_counter() - t0
    weights = np.asarray(group.phos[:]) / p["p_initial"]
    out = {"brian2": b2.__version__, "target": target, "method": method, "dt_s": dt_s, "n_synapses": n,
           "duration_s": duration, "steps": int(round(duration / dt_s)), "warmup_s": warmup_s,
           "build_s": build_s, "run_s": run_s, "run_cpu_s": run_cpu_s, "per_run_overhead_s": per_run_overhead_s,
           "synapse_steps_per_s": n * duration / 1e-4 / run_s,
           "native_synapse_steps_per_s": n * round(duration / dt_s) / run_s,
           "pre_events": int(len(pre_i)), "bap_events": int(len(bap_i)),
           "mean_weight": float(weights.mean())}
    if cfg.get("return_weights", True):
        out["weights"] = weights.tolist()
    del net, group
    gc.collect()
    return out


def load_events(cfg: dict):
    ev = cfg["events"]
    if "npz" in ev:
        z = np.load(ev["npz"])
        return (z["pre_i"].astype(np.int64), z["pre_t"].astype(float),
                z["bap_i"].astype(np.int64), z["bap_t"].astype(float))
    out = []
    for key in ("pre_times_s", "bap_times_s"):
        lists = ev[key]
        idx = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(lists)]
                             or [np.zeros(0, np.int64)])
        t = np.concatenate([np.asarray(t, float) for t in lists] or [np.zeros(0)])
        out += [idx, t]
    return tuple(out)


def main(path: str) -> int:
    with open(path) as fh:
        cfg = json.load(fh)
    events = load_events(cfg)
    runs = cfg.get("runs") or [{"dt_s": cfg["dt_s"], "method": cfg["method"], "target": cfg["target"]}]
    for run in runs:
        print(json.dumps(run_one(cfg, events, run)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
