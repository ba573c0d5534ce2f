"""Cascade synapse: seeded event lists and a tight-tolerance reference solution.

Shared by ``benchmarks/plasticity.py --cascade`` (the Brian2 speed anchor) and
``tests/plasticity/test_cascade_reference.py``. Needs numpy; the reference needs scipy.

Events (one list per synapse): presynaptic spikes at a Poisson rate drawn per synapse from
[rate_lo, rate_hi] Hz; each pre spike is followed (or preceded) by a bAP at a fixed per-synapse
offset drawn from [-offset, +offset] ms with probability ``pair_probability`` (pre-before-post
pairs get a boosted bAP and potentiate, post-before-pre pairs depress); plus independent Poisson
bAPs. All times are put on a grid (default 0.1 ms, so every Brian2 dt we try - 0.1, 0.05, 0.025,
0.01 ms - sees the events at their exact times and its error is integration error only), kept in
[0, duration - 1 ms), and any event closer than ``min_gap_s`` to the previous event of the same
synapse (either kind) is dropped, so no pre spike and bAP share a time (no tie-breaking rule
decides a pairing) and no generator has two spikes of one synapse in one time bin (for any dt up
to 0.5 ms). With the defaults most synapses potentiate within seconds (one boosted pairing
suffices) and ~5-10% depress by a few percent: LTD is slow in this model, dephosphorylation at
k_d C2 <= 0.06/s bounds it to about -0.06 per second.

Reference: per synapse, the nine-variable ODE of docs/plasticity-cascade.md section 1 integrated
by scipy's DOP853 (rtol 1e-10, atol 1e-12) from one event to the next, with the jumps applied
exactly at the event times.
"""
from __future__ import annotations

import math

import numpy as np

NO_EVENT, PRE, BAP = 0, 1, 2   # same codes as lolpim.models.plasticity.cascade


def build_events(n: int, duration_s: float, seed: int, rate_lo_hz: float = 1.0, rate_hi_hz: float = 3.0,
                 offset_ms: float = 40.0, pair_probability: float = 0.9, bap_background_hz: float = 0.2,
                 grid_s: float = 1e-4, min_gap_s: float = 5e-4):
    """Per-synapse event lists: (pre_times, bap_times), two lists of n sorted float arrays (s)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(rate_lo_hz, rate_hi_hz, n)
    offsets = rng.uniform(-offset_ms, offset_ms, n) * 1e-3
    end = duration_s - 1e-3
    pre_out, bap_out = [], []
    for i in range(n):
        pre = rng.uniform(0.0, duration_s, rng.poisson(rates[i] * duration_s))
        paired = pre[rng.random(len(pre)) < pair_probability] + offsets[i]
        bap = np.concatenate([paired, rng.uniform(0.0, duration_s, rng.poisson(bap_background_hz * duration_s))])
        t = np.concatenate([pre, bap])
        kind = np.concatenate([np.full(len(pre), PRE), np.full(len(bap), BAP)])
        if grid_s > 0:
            t = np.rint(t / grid_s) * grid_s
        keep = (t >= 0.0) & (t < end)
        t, kind = t[keep], kind[keep]
        order = np.lexsort((kind, t))
        t, kind = t[order], kind[order]
        if len(t) > 1:   # drop events too close to the previous kept one (sequential rule)
            kept = np.ones(len(t), bool)
            last = t[0]
            for j in range(1, len(t)):
                if t[j] - last < min_gap_s - 1e-12:
                    kept[j] = False
                else:
                    last = t[j]
            t, kind = t[kept], kind[kept]
        pre_out.append(t[kind == PRE])
        bap_out.append(t[kind == BAP])
    return pre_out, bap_out


def schedule_arrays(pre_times, bap_times):
    """(times_s, kinds) of shape (n, k) for CascadePopulation.run_schedule (NO_EVENT padding)."""
    n = len(pre_times)
    width = max(1, max(len(p) + len(b) for p, b in zip(pre_times, bap_times)))
    times = np.zeros((n, width))
    kinds = np.full((n, width), NO_EVENT, dtype=np.int8)
    for i, (p, b) in enumerate(zip(pre_times, bap_times)):
        t = np.concatenate([p, b])
        k = np.concatenate([np.full(len(p), PRE), np.full(len(b), BAP)])
        order = np.lexsort((k, t))
        times[i, :len(t)] = t[order]
        kinds[i, :len(t)] = k[order]
        if len(t) < width:
            times[i, len(t):] = t[order][-1] if len(t) else 0.0
    return times, kinds


def flat_events(times_per_synapse):
    """(indices, times) flat arrays, sorted by time then index (SpikeGeneratorGroup input)."""
    idx = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(times_per_synapse)])
    t = np.concatenate([np.asarray(t, float) for t in times_per_synapse]) if len(idx) else np.zeros(0)
    order = np.lexsort((idx, t))
    return idx[order], t[order]


def _rhs_factory(p: dict, v_base: float):
    tau_g, tau_b, tau_f, tau_s = p["nmda_tau_s"], p["boost_tau_s"], p["bap_fast_tau_s"], p["bap_slow_tau_s"]
    k_nmda, e_ca, tau_ca, mg = p["nmda_ca_uM_per_s_per_mV"], p["ca_reversal_mV"], p["ca_tau_s"], p["mg_mM"]
    k1, n1, on1, off1 = p["c1_half_uM"], p["c1_hill"], p["c1_on_per_s"], p["c1_off_per_s"]
    k2, n2, on2, off2 = p["c2_half_uM"], p["c2_hill"], p["c2_on_per_s"], p["c2_off_per_s"]
    kp, kd = p["phos_per_s"], p["dephos_per_s"]
    tau_d = p.get("dendrite_tau_s", 0.02)
    exp = math.exp

    def rhs(_t, y):
        g, boost, af, asl, ca, c1, c2, ph, epsp = y
        v = v_base + af + asl + epsp
        block = 1.0 / (1.0 + (mg / 3.57) * exp(-0.062 * v))
        cap = ca if ca > 0.0 else 0.0
        x1 = (cap / k1) ** n1
        x2 = (cap / k2) ** n2
        return [-g / tau_g, -boost / tau_b, -af / tau_f, -asl / tau_s,
                -ca / tau_ca + k_nmda * g * block * (e_ca - v),
                on1 * x1 / (1.0 + x1) * (1.0 - c1) - off1 * c1,
                on2 * x2 / (1.0 + x2) * (1.0 - c2) - off2 * c2,
                kp * c1 * (1.0 - ph) - kd * c2 * ph, -epsp / tau_d]

    return rhs


def reference_weights(params: dict, pre_times, bap_times, duration_s: float, v_base_mV=None,
                      rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """Final weights P/P_initial at ``duration_s`` for every synapse (DOP853 between events).

    ``params`` is CascadeParams.to_dict(). Same-time events are applied pre first (as the
    schedule's lexsort does); build_events never produces them.
    """
    from scipy.integrate import solve_ivp
    p = params
    n = len(pre_times)
    v_bases = np.full(n, p["v_rest_mV"]) if v_base_mV is None else np.broadcast_to(np.asarray(v_base_mV, float), (n,))
    out = np.empty(n)
    for i in range(n):
        rhs = _rhs_factory(p, float(v_bases[i]))
        t_ev = np.concatenate([pre_times[i], bap_times[i]])
        k_ev = np.concatenate([np.full(len(pre_times[i]), PRE), np.full(len(bap_times[i]), BAP)])
        order = np.lexsort((k_ev, t_ev))
        y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, p["p_initial"], 0.0])
        t = 0.0
        for t_next, kind in list(zip(t_ev[order], k_ev[order])) + [(duration_s, NO_EVENT)]:
            if t_next > t:
                sol = solve_ivp(rhs, (t, t_next), y, method="DOP853", rtol=rtol, atol=atol)
                if not sol.success:
                    raise RuntimeError(f"reference failed on synapse {i}: {sol.message}")
                y = sol.y[:, -1].copy()
                t = t_next
            if kind == PRE:
                y[0] += p["nmda_bind_fraction"] * (1.0 - y[0])
                y[1] = 1.0
                y[8] += p.get("epsp_mV", 0.0)
            elif kind == BAP:
                amp = p["bap_amplitude_mV"] * (1.0 + p["boost_gain"] * y[1]) if p["bap_boosting"] \
                    else p["bap_amplitude_mV"]
                y[2] += p["bap_fast_fraction"] * amp
                y[3] += (1.0 - p["bap_fast_fraction"]) * amp
                y[4] += p["vgcc_ca_uM_per_mV"] * amp
        out[i] = y[7] / p["p_initial"]
    return out
