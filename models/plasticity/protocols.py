"""Experimental induction protocols, run on a whole population at once (one synapse per condition).

    pairing    presynaptic pulses at 1 Hz while the postsynaptic cell is clamped at V_h (no bAPs)
    stdp       pre-post pairs at 1 Hz with delta-t = t_post - t_pre swept
    frequency  Sjostrom, Turrigiano & Nelson (2001): 5 pairs at f, repeated 15 times every 10 s
    bcm        Dudek & Bear (1992), Kirkwood, Rioult & Bear (1996): 900 presynaptic pulses at f at
               rest, no postsynaptic spikes, after a history of postsynaptic activity that sets
               the metaplastic NMDA gain (the sliding modification threshold)
Each returns relative weight changes (w_after / w_before - 1).

Spine voltage in each protocol (cascade.py): pairing holds the spine at V_h (an ideal clamp, so
the synapse's own EPSP is clamped away: epsp_mV = 0); stdp and frequency add the set's own
dendritic EPSP (epsp_mV) at each presynaptic spike to the bAPs; bcm stimulates a pathway, so each
pulse gives the protocol's compound EPSP (experiments.toml [bcm] stimulus_epsp_mV) and trains
summate.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from lolpim.core.presets import read_toml
from lolpim.models.plasticity import cascade_kernel as kernel
from lolpim.models.plasticity import graupner_brunel as gb
from lolpim.models.plasticity.cascade import BAP, NO_EVENT, PRE, CascadeParams, CascadePopulation
from lolpim.models.plasticity.ocular_dominance import load_variant

SETTLE_S = 10.0   # wait after the protocol so that catalysts decay and the weight is final


def _schedule(rows: list[list[tuple[float, int]]]):
    """Per-synapse event lists -> padded (times, kinds) arrays, each row sorted in time."""
    width = max(len(r) for r in rows)
    times = np.zeros((len(rows), width))
    kinds = np.full((len(rows), width), NO_EVENT)
    for i, row in enumerate(rows):
        row = sorted(row)
        times[i, :len(row)] = [t for t, _ in row]
        kinds[i, :len(row)] = [k for _, k in row]
        times[i, len(row):] = row[-1][0] if row else 0.0
    return times, kinds


def _run_cascade(params: CascadeParams, rows, v_base_mV=None) -> np.ndarray:
    pop = CascadePopulation(params, len(rows), v_base_mV=v_base_mV)
    times, kinds = _schedule(rows)
    pop.run_schedule(times, kinds)
    pop.advance(float(times.max()) + SETTLE_S)
    return pop.weights() - 1.0


def pair_trains(delta_t_s: float, n_pairs: int, frequency_hz: float, start_s: float = 1.0):
    """Pre at start + k/f, post delta_t later (negative: before)."""
    pre = start_s + np.arange(n_pairs) / frequency_hz
    return pre, pre + delta_t_s


def sjostrom_trains(delta_t_s: float, frequency_hz: float, pairs_per_burst: int = 5,
                    n_bursts: int = 15, burst_interval_s: float = 10.0, start_s: float = 1.0):
    """Bursts of pairs at ``frequency_hz`` every ``burst_interval_s``. At frequencies too low for a
    burst to fit (0.1 Hz) the pairs simply follow each other at that frequency."""
    if pairs_per_burst / frequency_hz > burst_interval_s:
        return pair_trains(delta_t_s, pairs_per_burst * n_bursts, frequency_hz, start_s)
    pre = np.concatenate([start_s + b * burst_interval_s + np.arange(pairs_per_burst) / frequency_hz
                          for b in range(n_bursts)])
    return pre, pre + delta_t_s


# -- calcium cascade --------------------------------------------------------------------------


def cascade_pairing(params: CascadeParams, v_hold_mV, n_pulses: int = 100, frequency_hz: float = 1.0):
    """Voltage-clamp pairing: dw per holding potential. The clamp holds the spine at V_h: the
    synapse's own EPSP is clamped away (epsp_mV = 0)."""
    v_hold_mV = np.asarray(v_hold_mV, dtype=float)
    pre = 1.0 + np.arange(n_pulses) / frequency_hz
    rows = [[(t, PRE) for t in pre] for _ in v_hold_mV]
    return _run_cascade(replace(params, epsp_mV=0.0), rows, v_base_mV=v_hold_mV)


def cascade_pairs(params: CascadeParams, trains) -> np.ndarray:
    """dw for each (pre_times, post_times) pair of trains; post spikes arrive as bAPs."""
    rows = [[(t, PRE) for t in pre] + [(t, BAP) for t in post] for pre, post in trains]
    return _run_cascade(params, rows)


def cascade_stdp(params: CascadeParams, delta_t_s, n_pairs: int = 60, frequency_hz: float = 1.0):
    return cascade_pairs(params, [pair_trains(d, n_pairs, frequency_hz) for d in np.atleast_1d(delta_t_s)])


def cascade_frequency(params: CascadeParams, frequencies_hz, delta_t_s=(0.010, -0.010)):
    """Sjostrom table: array [frequency, delta_t] of dw."""
    trains = [sjostrom_trains(d, f) for f in frequencies_hz for d in delta_t_s]
    return cascade_pairs(params, trains).reshape(len(frequencies_hz), len(delta_t_s))


def history_trace_hz(rate_hz: float, history_s: float, tau_s: float, start_hz: float) -> float:
    """The neuron's activity trace after ``history_s`` of firing at ``rate_hz``, from ``start_hz``
    (the trace's mean: it relaxes to the rate with time constant tau_s)."""
    return rate_hz + (start_hz - rate_hz) * np.exp(-history_s / tau_s)


def cascade_bcm(params: CascadeParams, frequencies_hz, trace_hz: float, meta, n_pulses: int = 900,
                stimulus_epsp_mV: float | None = None):
    """BCM protocol: ``n_pulses`` presynaptic pulses at each frequency at rest (no bAPs), each
    pulse a compound EPSP of ``stimulus_epsp_mV`` (default: the set's epsp_mV); the neuron's
    activity trace is ``trace_hz`` at the first pulse and decays during the protocol (the neuron
    does not fire); ``meta`` = (tau_s, target_hz, max_gain) of the metaplastic NMDA gain
    (cascade_kernel.nmda_gain). dw per frequency."""
    if stimulus_epsp_mV is not None:
        params = replace(params, epsp_mV=stimulus_epsp_mV)
    start = 1.0
    rows = [[(start + j / f, PRE) for j in range(n_pulses)] for f in frequencies_hz]
    pop = CascadePopulation(params, len(rows))
    pop.k = kernel.pack_params(params, pop.min_step_s, pop.step_growth, pop.max_step_s, meta)
    times, kinds = _schedule(rows)
    pop.steps += kernel.run_rows_meta(pop.state, times, kinds, pop.k, np.full(len(rows), float(trace_hz)), start)
    pop.advance(float(times.max()) + SETTLE_S)
    return pop.weights() - 1.0


def bcm_curve(params: CascadeParams, exp: dict, rate_hz: float, history_s: float) -> dict:
    """One BCM curve (experiments.toml [bcm] as ``exp``) after ``history_s`` of postsynaptic firing
    at ``rate_hz``, the trace starting at the metaplastic target rate; the metaplastic term is the
    ocular-dominance network's (target rate, maximum gain) with the protocol's memory meta_tau_s.
    Returns the rows, the crossover and the history's trace and NMDA gain."""
    meta = load_variant("network").meta
    tau = exp["meta_tau_s"]
    trace = history_trace_hz(rate_hz, history_s, tau, meta.target_hz)
    freqs = exp["frequency_hz"]
    dw = cascade_bcm(params, freqs, trace, (tau, meta.target_hz, meta.max_gain), exp["pulses"],
                     exp["stimulus_epsp_mV"])
    gain = meta.max_gain / (1.0 + (meta.max_gain - 1.0) * (trace / meta.target_hz) ** 2)
    return {"history": {"rate_hz": rate_hz, "s": history_s, "trace_hz": trace, "nmda_gain": gain},
            "rows": [{"frequency_hz": f, "dw": float(d)} for f, d in zip(freqs, dw)],
            "crossover_hz": crossover_hz(freqs, dw)}


def crossover_hz(frequencies_hz, dw):
    """The modification threshold: the frequency where dw turns from depression to potentiation,
    interpolated linearly in log frequency between the last depressing and the first potentiating
    frequency above it; None when dw never turns (or does not start below zero)."""
    f, d = np.asarray(frequencies_hz, dtype=float), np.asarray(dw, dtype=float)
    if not d.size or d[0] >= 0:
        return None
    up = np.flatnonzero(d > 0)
    if not up.size:
        return None
    j = int(up[0])
    x = np.interp(0.0, [d[j - 1], d[j]], np.log([f[j - 1], f[j]]))
    return float(np.exp(x))


# -- Graupner-Brunel --------------------------------------------------------------------------


def gb_stdp(params: gb.GraupnerBrunelParams, delta_t_s, n_pairs: int = 60, frequency_hz: float = 1.0):
    """The paper's analytic readout of regular pairs."""
    return np.array([gb.pair_protocol_change(params, d, n_pairs, frequency_hz) - 1.0
                     for d in np.atleast_1d(delta_t_s)])


def gb_frequency(params: gb.GraupnerBrunelParams, frequencies_hz, delta_t_s=(0.010, -0.010)):
    """Sjostrom table with the analytic readout: the protocol is periodic with the burst interval
    (10 s), so the fractions of time above threshold come from one period."""
    out = np.zeros((len(frequencies_hz), len(delta_t_s)))
    for i, f in enumerate(frequencies_hz):
        for j, d in enumerate(delta_t_s):
            pre, post = sjostrom_trains(d, f, start_s=0.0)
            per_period = 1 if pre[1] - pre[0] >= 10.0 else 5  # isolated pairs, or one burst
            period = 1.0 / f if per_period == 1 else 10.0
            duration = len(pre) / per_period * period
            pre, post = pre[:per_period], post[:per_period]
            times = np.concatenate([pre + params.delay_pre_s, post])
            amps = np.concatenate([np.full(len(pre), params.c_pre), np.full(len(post), params.c_post)])
            alpha_d, alpha_p = gb.periodic_time_above(params, times, amps, period)
            out[i, j] = gb.change_from_fractions(params, alpha_d, alpha_p, duration) - 1.0
    return out


def gb_stdp_simulated(params: gb.GraupnerBrunelParams, delta_t_s, n_pairs: int = 60,
                      frequency_hz: float = 1.0, n_synapses: int = 2000, seed: int = 0):
    """The same curve from the stochastic model itself (event-driven, ``n_synapses`` per point)."""
    deltas = np.atleast_1d(delta_t_s)
    rng = np.random.default_rng(seed)
    rows_t, rows_a = [], []
    for d in deltas:
        pre, post = pair_trains(d, n_pairs, frequency_hz)
        t = np.concatenate([pre + params.delay_pre_s, post])
        a = np.concatenate([np.full(n_pairs, params.c_pre), np.full(n_pairs, params.c_post)])
        order = np.argsort(t, kind="stable")
        rows_t.append(t[order])
        rows_a.append(a[order])
    times = np.repeat(np.array(rows_t), n_synapses, axis=0)
    amps = np.repeat(np.array(rows_a), n_synapses, axis=0)
    rho0 = np.tile(np.where(np.arange(n_synapses) < round(params.beta * n_synapses), 0.0, 1.0), len(deltas))
    t_end = float(times.max()) + 1.0
    rho = gb.run_independent_trains(params, rho0, times, amps, t_end, rng)
    w = np.where(rho > params.rho_star, params.b, 1.0).reshape(len(deltas), n_synapses)
    w0 = np.where(rho0 > params.rho_star, params.b, 1.0).reshape(len(deltas), n_synapses)
    return w.mean(axis=1) / w0.mean(axis=1) - 1.0


def experimental_data() -> dict:
    """The published figures each protocol is compared with (presets/experiments.toml)."""
    return read_toml(Path(__file__).parent / "presets" / "experiments.toml", "experiments")
