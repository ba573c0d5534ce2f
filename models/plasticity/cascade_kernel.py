"""Compiled per-synapse integration of the calcium cascade (numba).

Every synapse is an independent row of one float64 array (``state``, columns below) with its own
clock. Advancing a synapse costs steps only for that synapse: an event at one synapse never moves
the others, so a population's cost is linear in (synapses x their own events). Within a synapse
the scheme is exponential Euler on a step ladder set by the time since its last event (fine,
0.5 ms, right after a spike; 10% of the elapsed time later; at most 0.2 s): the linear decays are
exact, each enzyme equation is solved exactly for the step's mid-point calcium, P likewise for
the mid-point enzyme levels (docs/plasticity-cascade.md section 1).

Back-propagating APs are applied lazily in network runs: a neuron's bAPs are kept in a small
ring per neuron (arrival time and the neuron's activity trace at that spike), each synapse
remembers how many of its neuron's bAPs it has applied, and it applies the pending ones in time
order whenever it is advanced (at its own presynaptic spikes and at samples).
"""
from __future__ import annotations

import numpy as np

from lolpim.models.plasticity.jit import njit

# state columns (one row per synapse); 11 float64 = 88 bytes of state per synapse
T, LADDER, G, T_PRE, A_FAST, A_SLOW, CA, C1, C2, P, V_BASE = range(11)
N_STATE = 11
FLUSH_G = 1e-9          # NMDA gating below this counts as fully decayed

# parameter vector layout (see pack_params)
(K_TAU_NMDA, K_BIND, K_FLUX, K_E_CA, K_TAU_CA, K_VGCC, K_A_BAP, K_FAST_FRAC, K_TAU_FAST, K_TAU_SLOW,
 K_BOOSTING, K_BOOST_GAIN, K_TAU_BOOST, K_C1_HALF, K_C1_HILL, K_C1_ON, K_C1_OFF, K_C2_HALF, K_C2_HILL,
 K_C2_ON, K_C2_OFF, K_PHOS, K_DEPHOS, K_MG, K_MIN_STEP, K_GROWTH, K_MAX_STEP,
 K_META_ON, K_META_TAU, K_META_TARGET, K_META_MAX) = range(31)
N_PARAMS = 31
# the step ladder follows the parameter vector: per rung, the step and its decay factors
(L_H, L_NMDA_HALF, L_FAST_HALF, L_SLOW_HALF, L_CA, L_C1_OFF, L_C2_OFF) = range(7)
L_WIDTH = 7


def pack_params(p, min_step_s: float, step_growth: float, max_step_s: float, meta=None) -> np.ndarray:
    """CascadeParams (+ optional metaplasticity (tau_s, target_hz, max_gain)) -> the kernel's vector."""
    v = np.zeros(N_PARAMS)
    v[K_TAU_NMDA], v[K_BIND], v[K_FLUX] = p.nmda_tau_s, p.nmda_bind_fraction, p.nmda_ca_uM_per_s_per_mV
    v[K_E_CA], v[K_TAU_CA], v[K_VGCC] = p.ca_reversal_mV, p.ca_tau_s, p.vgcc_ca_uM_per_mV
    v[K_A_BAP], v[K_FAST_FRAC] = p.bap_amplitude_mV, p.bap_fast_fraction
    v[K_TAU_FAST], v[K_TAU_SLOW] = p.bap_fast_tau_s, p.bap_slow_tau_s
    v[K_BOOSTING], v[K_BOOST_GAIN], v[K_TAU_BOOST] = float(p.bap_boosting), p.boost_gain, p.boost_tau_s
    v[K_C1_HALF], v[K_C1_HILL], v[K_C1_ON], v[K_C1_OFF] = p.c1_half_uM, p.c1_hill, p.c1_on_per_s, p.c1_off_per_s
    v[K_C2_HALF], v[K_C2_HILL], v[K_C2_ON], v[K_C2_OFF] = p.c2_half_uM, p.c2_hill, p.c2_on_per_s, p.c2_off_per_s
    v[K_PHOS], v[K_DEPHOS], v[K_MG] = p.phos_per_s, p.dephos_per_s, p.mg_mM
    v[K_MIN_STEP], v[K_GROWTH], v[K_MAX_STEP] = min_step_s, step_growth, max_step_s
    if meta is not None:
        v[K_META_ON] = 1.0
        v[K_META_TAU], v[K_META_TARGET], v[K_META_MAX] = meta
    return np.concatenate([v, ladder(p, min_step_s, step_growth, max_step_s).ravel()])


def ladder(p, min_step_s: float, step_growth: float, max_step_s: float) -> np.ndarray:
    """The steps a synapse takes after an event when nothing interrupts it: step j is
    step_growth x (time since the event), within [min_step_s, max_step_s]; the last rung repeats.
    Each rung carries its decay factors, so a full step needs no exponential for them."""
    rows, elapsed = [], 0.0
    while True:
        h = min(max(step_growth * elapsed, min_step_s), max_step_s)
        rows.append((h, np.exp(-0.5 * h / p.nmda_tau_s), np.exp(-0.5 * h / p.bap_fast_tau_s),
                     np.exp(-0.5 * h / p.bap_slow_tau_s), np.exp(-h / p.ca_tau_s),
                     np.exp(-p.c1_off_per_s * h), np.exp(-p.c2_off_per_s * h)))
        if h >= max_step_s or len(rows) > 10_000:
            return np.array(rows)
        elapsed += h


def new_state(n: int, p_initial: float, v_base_mV, t0_s: float = 0.0) -> np.ndarray:
    s = np.zeros((n, N_STATE))
    s[:, T] = t0_s
    s[:, LADDER] = 1e9                  # "long ago": on the last (coarsest) rung
    s[:, T_PRE] = -np.inf              # never active: no boost
    s[:, P] = p_initial
    s[:, V_BASE] = v_base_mV
    return s


@njit(cache=True, inline="always")
def _hill_power(x, n):
    if n == 6.0:            # the presets' cooperativity: three multiplications instead of pow
        x2 = x * x
        return x2 * x2 * x2
    return x ** n


@njit(cache=True, inline="always")
def _enzyme(c, ca, h, half, hill, on, off, off_decay):
    x = _hill_power(max(ca, 0.0) / half, hill)
    if x < 1e-15:           # no calcium drive: the enzyme only decays (factor from the ladder)
        return c * off_decay
    drive = on * x / (1.0 + x)
    rate = drive + off
    target = drive / rate
    return target + (c - target) * np.exp(-rate * h)


@njit(cache=True)
def integrate_to(s, i, t_target, k, nmda_gain):
    """Advance synapse ``i`` to ``t_target`` (no events in between). Returns the steps taken.
    Full steps come from the ladder (decays precomputed); a step cut short to land on the
    target computes its own, and the ladder resumes where it was."""
    steps = 0
    last = (k.shape[0] - N_PARAMS) // L_WIDTH - 1
    while t_target - s[i, T] > 1e-12:
        j = min(int(s[i, LADDER]), last)
        r = N_PARAMS + j * L_WIDTH
        h = k[r + L_H]
        remaining = t_target - s[i, T]
        if h <= remaining:
            e_n, e_f, e_s = k[r + L_NMDA_HALF], k[r + L_FAST_HALF], k[r + L_SLOW_HALF]
            decay_ca, d1, d2 = k[r + L_CA], k[r + L_C1_OFF], k[r + L_C2_OFF]
            s[i, LADDER] = j + 1
        else:
            h = remaining
            e_n = np.exp(-0.5 * h / k[K_TAU_NMDA])
            e_f = np.exp(-0.5 * h / k[K_TAU_FAST])
            e_s = np.exp(-0.5 * h / k[K_TAU_SLOW])
            decay_ca = np.exp(-h / k[K_TAU_CA])
            d1, d2 = np.exp(-k[K_C1_OFF] * h), np.exp(-k[K_C2_OFF] * h)
        g, a_fast, a_slow = s[i, G], s[i, A_FAST], s[i, A_SLOW]
        flux = 0.0
        if g != 0.0:
            g_mid = g * e_n
            v_mid = s[i, V_BASE] + a_fast * e_f + a_slow * e_s
            unblocked = 1.0 / (1.0 + (k[K_MG] / 3.57) * np.exp(-0.062 * v_mid))
            flux = nmda_gain * k[K_FLUX] * g_mid * unblocked * (k[K_E_CA] - v_mid)
        ca_old = s[i, CA]
        ca_new = ca_old * decay_ca + flux * k[K_TAU_CA] * (1.0 - decay_ca)
        ca_mid = 0.5 * (ca_old + ca_new)
        c1_old, c2_old = s[i, C1], s[i, C2]
        c1_new = _enzyme(c1_old, ca_mid, h, k[K_C1_HALF], k[K_C1_HILL], k[K_C1_ON], k[K_C1_OFF], d1)
        c2_new = _enzyme(c2_old, ca_mid, h, k[K_C2_HALF], k[K_C2_HILL], k[K_C2_ON], k[K_C2_OFF], d2)
        k_up = k[K_PHOS] * 0.5 * (c1_old + c1_new)
        k_down = k[K_DEPHOS] * 0.5 * (c2_old + c2_new)
        rate = k_up + k_down
        if rate > 0.0:
            target = k_up / rate
            s[i, P] = target + (s[i, P] - target) * np.exp(-rate * h)
        s[i, CA], s[i, C1], s[i, C2] = ca_new, c1_new, c2_new
        # components decayed below FLUSH count as gone (their effect on calcium is < 1e-9 of
        # a spike's): the NMDA branch, Mg block included, is then skipped
        g = g * e_n * e_n
        s[i, G] = g if g > FLUSH_G else 0.0
        s[i, A_FAST] = a_fast * e_f * e_f
        s[i, A_SLOW] = a_slow * e_s * e_s
        s[i, T] += h
        steps += 1
    if t_target > s[i, T]:
        s[i, T] = t_target
    return steps


@njit(cache=True, inline="always")
def apply_pre(s, i, t, k):
    s[i, G] += k[K_BIND] * (1.0 - s[i, G])
    s[i, T_PRE] = t
    s[i, LADDER] = 0.0


@njit(cache=True, inline="always")
def apply_bap(s, i, t, k):
    amplitude = k[K_A_BAP]
    if k[K_BOOSTING] > 0.0:
        # the boost is exp(-(t - t_pre)/tau_boost): it needs no state of its own
        amplitude *= 1.0 + k[K_BOOST_GAIN] * np.exp(-(t - s[i, T_PRE]) / k[K_TAU_BOOST])
    s[i, A_FAST] += k[K_FAST_FRAC] * amplitude
    s[i, A_SLOW] += (1.0 - k[K_FAST_FRAC]) * amplitude
    s[i, CA] += k[K_VGCC] * amplitude
    s[i, LADDER] = 0.0


@njit(cache=True)
def advance_rows(s, targets, k):
    """Advance every synapse i to targets[i] (no events); returns the total steps."""
    steps = 0
    for i in range(s.shape[0]):
        if targets[i] > s[i, T]:
            steps += integrate_to(s, i, targets[i], k, 1.0)
    return steps


@njit(cache=True)
def run_rows(s, times, kinds, k):
    """Each synapse i takes its own event list (row i of times/kinds; kinds 1 = pre, 2 = bAP,
    0 = padding), in order. Returns the total steps."""
    steps = 0
    for i in range(s.shape[0]):
        for j in range(times.shape[1]):
            kind = kinds[i, j]
            if kind == 0:
                continue
            t = times[i, j]
            if t > s[i, T]:
                steps += integrate_to(s, i, t, k, 1.0)
            if kind == 1:
                apply_pre(s, i, t, k)
            else:
                apply_bap(s, i, t, k)
    return steps


# -- network populations: lazy bAPs ---------------------------------------------------------------


@njit(cache=True, inline="always")
def nmda_gain(k, trace_hz, since_s):
    """Metaplastic NMDA gain from the neuron's activity trace (1 when metaplasticity is off):
    gain = G_max / (1 + (G_max - 1) (r / r_target)^2), r = trace decayed to now. The calcium
    entry of every NMDA receptor of the neuron falls with the square of its recent firing, as the
    BCM modification threshold rises with it (docs/plasticity-cascade.md section 3)."""
    if k[K_META_ON] == 0.0:
        return 1.0
    r = trace_hz * np.exp(-since_s / k[K_META_TAU]) / k[K_META_TARGET]
    return k[K_META_MAX] / (1.0 + (k[K_META_MAX] - 1.0) * r * r)


@njit(cache=True)
def catch_up(s, i, t, k, applied, neuron, bap_t, bap_trace, bap_count, inclusive):
    """Bring synapse i to time t applying its neuron's pending bAPs (arrival < t, or <= t when
    ``inclusive``). Returns the steps taken."""
    cap = bap_t.shape[1]
    steps = 0
    j = applied[i]
    while j < bap_count[neuron]:
        tb = bap_t[neuron, j % cap]
        if tb > t or (tb == t and not inclusive):
            break
        prev = (j - 1) % cap
        gain = nmda_gain(k, bap_trace[neuron, prev], s[i, T] - bap_t[neuron, prev])
        steps += integrate_to(s, i, tb, k, gain)
        apply_bap(s, i, tb, k)
        j += 1
    applied[i] = j
    prev = (j - 1) % cap
    gain = nmda_gain(k, bap_trace[neuron, prev], s[i, T] - bap_t[neuron, prev])
    steps += integrate_to(s, i, t, k, gain)
    return steps


@njit(cache=True)
def pre_spikes(s, k, applied, per_neuron, bap_t, bap_trace, bap_count, spike_t, spike_syn, phos_out):
    """Presynaptic spikes (sorted in time) at rows spike_syn (neuron = row // per_neuron): each
    synapse catches up to its spike (bAPs arriving at the same instant first), reports its P
    (the weight it transmits) and takes the spike. Returns the steps taken."""
    steps = 0
    for e in range(spike_t.shape[0]):
        i = spike_syn[e]
        steps += catch_up(s, i, spike_t[e], k, applied, i // per_neuron, bap_t, bap_trace, bap_count, True)
        phos_out[e] = s[i, P]
        apply_pre(s, i, spike_t[e], k)
    return steps


@njit(cache=True)
def catch_up_all(s, t, k, applied, per_neuron, bap_t, bap_trace, bap_count, rows, inclusive):
    """Bring the synapses ``rows`` to time t with their neurons' bAPs arriving before t (or at t
    when ``inclusive``)."""
    steps = 0
    for r in range(rows.shape[0]):
        i = rows[r]
        steps += catch_up(s, i, t, k, applied, i // per_neuron, bap_t, bap_trace, bap_count, inclusive)
    return steps
