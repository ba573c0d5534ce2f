"""Compiled per-synapse integration of the calcium cascade (numba).

Every synapse is an independent row of one float64 array (``state``, columns below) with its own
clock. Advancing a synapse costs steps only for that synapse: an event at one synapse never moves
the others, so a population's cost is linear in (synapses x their own events). Within a synapse
the scheme is exponential Euler on a step ladder set by the time since its last event (fine,
0.5 ms, right after a spike; 10% of the elapsed time later; at most 0.2 s): the linear decays are
exact, each enzyme equation is solved exactly for the step's mid-point calcium, P likewise for
the mid-point enzyme levels (docs/plasticity-cascade.md section 1).

Speed (docs/od-map.md, "Run time"): a synapse's row is held in locals while it steps and the
feed's knot is followed forward rather than searched per step; every function is compiled with
error_model="numpy", so no division carries a zero check (every divisor is a parameter validated
> 0 or a sum of non-negative terms tested > 0 first). Neither changes a bit of any result
(tests/plasticity/test_sheet_speed.py holds the step against the one-step-at-a-time arithmetic).
The functions release the GIL (nogil): populations that share no array (a sheet tile's two eyes)
can step in two threads at once.

Back-propagating APs are applied lazily in network runs: a neuron's bAPs are kept in a small
ring per neuron (arrival time and the neuron's activity trace at that spike), each synapse
remembers how many of its neuron's bAPs it has applied, and it applies the pending ones in time
order whenever it is advanced (at its own presynaptic spikes and at samples).

Spine voltage (docs/plasticity-cascade.md section 1):

    V_i(t) = V_base,i + a_fast,i + a_slow,i + e_i + D_n(t)

a_fast, a_slow: the bAP waveform at this spine; e_i: the dendritic EPSP of the synapse's own input
(jumps by epsp_mV at each of its presynaptic spikes, decays with dendrite_tau_s: in a slice
protocol the compound EPSP of the stimulated pathway, so trains summate); D_n: the subthreshold
depolarisation of the synapse's neuron n from all its synaptic input, fed by a network
("depolarisation feed" below; 0 when not fed, as in the single-synapse protocols).

Depolarisation feed (network runs). The soma's input jumps J (mV, the LIF's EPSPs) reach the
dendrite, which integrates them with its own time constant: D_n jumps by dendrite_coupling x J at
each input and decays with dendrite_tau_s, the soma's subthreshold depolarisation low-pass
filtered by the dendrite and without the somatic spike reset (Shouval, Bear & Cooper 2002; the
filtered voltage of Clopath et al. 2010). Per neuron a ring of knots (time, D just after the
jump) holds the time course: D_n(t) = D_k exp(-(t - t_k)/dendrite_tau_s) for the last knot
t_k <= t. How a network feeds it (models/plasticity/ocular_dominance.py):

  1. allocate per neuron block: dep_t = zeros((count, DEP_RING)), dep_v = zeros((count, DEP_RING)),
     dep_count = zeros(count, int64), dep_synced = zeros(count, int64);
  2. each tick, pass the neuron's input jumps (arrival time at the spine = time at the soma +
     bap_delay_s, local neuron id, drive in mV at the soma), sorted in time, to
     add_depolarisation(..., t_now, times, neurons, jumps) before the tick's presynaptic spikes,
     where t_now <= every time passed and >= every time passed before (the tick start);
  3. call pre_spikes_fed / catch_up_all_fed (instead of pre_spikes / catch_up_all) with
     (dep_t, dep_v, dep_count) everywhere synapses move (the tick's spikes, the bAP-ring sync,
     samples): every step of a synapse with bound glutamate reads D_n at its mid-point. Without
     a feed (count 0), D_n = 0: the old functions do exactly that;
  4. snapshot the four arrays with the block's state (they are part of it).
With the OD actors' timing (inputs of tick [T, T+1) reach the soma block at T+1 ps, its bAPs leave
with the bAP delay), the jumps can travel with the bAPs in one message per tick with input: they
arrive at the spine tick [T + bap_delay, ...) at its start, t_now.
"""
from __future__ import annotations

import numpy as np

from lolpim.models.plasticity.jit import njit

# state columns (one row per synapse); 12 float64 = 96 bytes of state per synapse
T, LADDER, G, T_PRE, A_FAST, A_SLOW, CA, C1, C2, P, V_BASE, EPSP = range(12)
N_STATE = 12
FLUSH_G = 1e-9          # NMDA gating below this counts as fully decayed
FLUSH_MV = 1e-9         # an EPSP below this (mV) counts as gone
DEP_RING = 1024         # suggested knots per neuron for the depolarisation feed (any size >= 4 works)

# parameter vector layout (see pack_params)
(K_TAU_NMDA, K_BIND, K_FLUX, K_E_CA, K_TAU_CA, K_VGCC, K_A_BAP, K_FAST_FRAC, K_TAU_FAST, K_TAU_SLOW,
 K_BOOSTING, K_BOOST_GAIN, K_TAU_BOOST, K_C1_HALF, K_C1_HILL, K_C1_ON, K_C1_OFF, K_C2_HALF, K_C2_HILL,
 K_C2_ON, K_C2_OFF, K_PHOS, K_DEPHOS, K_MG, K_MIN_STEP, K_GROWTH, K_MAX_STEP,
 K_META_ON, K_META_TAU, K_META_TARGET, K_META_MAX, K_EPSP, K_TAU_DEND, K_DEND_COUPLING) = range(34)
N_PARAMS = 34
# the step ladder follows the parameter vector: per rung, the step and its decay factors
(L_H, L_NMDA_HALF, L_FAST_HALF, L_SLOW_HALF, L_CA, L_C1_OFF, L_C2_OFF, L_DEND_HALF) = range(8)
L_WIDTH = 8


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
    v[K_EPSP], v[K_TAU_DEND], v[K_DEND_COUPLING] = p.epsp_mV, p.dendrite_tau_s, p.dendrite_coupling
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
                     np.exp(-p.c1_off_per_s * h), np.exp(-p.c2_off_per_s * h),
                     np.exp(-0.5 * h / p.dendrite_tau_s)))
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


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _hill_power(x, n):
    if n == 6.0:            # the presets' cooperativity: three multiplications instead of pow
        x2 = x * x
        return x2 * x2 * x2
    return x ** n


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _enzyme(c, ca, h, half, hill, on, off, off_decay):
    x = _hill_power(max(ca, 0.0) / half, hill)
    if x < 1e-15:           # no calcium drive: the enzyme only decays (factor from the ladder)
        return c * off_decay
    drive = on * x / (1.0 + x)
    rate = drive + off
    target = drive / rate
    return target + (c - target) * np.exp(-rate * h)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def dep_value(dep_t, dep_v, dep_count, n, t, tau):
    """D_n(t) from neuron n's knots: the last knot at or before t, decayed to t (0 without one)."""
    cnt = dep_count[n]
    if cnt == 0:
        return 0.0
    cap = dep_t.shape[1]
    lo, hi = max(0, cnt - cap), cnt - 1
    if dep_t[n, lo % cap] > t:
        return 0.0
    while lo < hi:                      # largest index in [lo, hi] with time <= t
        mid = (lo + hi + 1) // 2
        if dep_t[n, mid % cap] <= t:
            lo = mid
        else:
            hi = mid - 1
    j = lo % cap
    return dep_v[n, j] * np.exp(-(t - dep_t[n, j]) / tau)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _last_knot(dep_t, dep_count, n, t):
    """Absolute index of neuron n's last knot at or before t (dep_value's search), or the index
    before its oldest kept knot when none is."""
    cnt = dep_count[n]
    cap = dep_t.shape[1]
    lo, hi = max(0, cnt - cap), cnt - 1
    if dep_t[n, lo % cap] > t:
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if dep_t[n, mid % cap] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True, nogil=True, error_model="numpy")
def integrate_to(s, i, t_target, k, nmda_gain, dep_t, dep_v, dep_count, neuron):
    """Advance synapse ``i`` to ``t_target`` (no events in between). Returns the steps taken.
    Full steps come from the ladder (decays precomputed); a step cut short to land on the
    target computes its own, and the ladder resumes where it was. ``neuron``: the synapse's row
    in the depolarisation feed (dep_t, dep_v, dep_count), or -1 for none.

    The synapse's row lives in locals for the whole stretch (written back once at the end), and
    the feed's knot is found once by bisection and then followed forward (the step mid-points
    only grow, and the knots do not change during a stretch): the same arithmetic in the same
    order as one step at a time through the array, so the same bits, at a fraction of the
    memory traffic."""
    t = s[i, T]
    if not t_target - t > 1e-12:
        if t_target > t:
            s[i, T] = t_target
        return 0
    steps = 0
    last = (k.shape[0] - N_PARAMS) // L_WIDTH - 1
    lad = s[i, LADDER]
    g, a_fast, a_slow, epsp = s[i, G], s[i, A_FAST], s[i, A_SLOW], s[i, EPSP]
    ca, c1, c2, p, v_base = s[i, CA], s[i, C1], s[i, C2], s[i, P], s[i, V_BASE]
    tau_nmda, tau_fast, tau_slow, tau_ca = k[K_TAU_NMDA], k[K_TAU_FAST], k[K_TAU_SLOW], k[K_TAU_CA]
    c1_off, c2_off, tau_dend = k[K_C1_OFF], k[K_C2_OFF], k[K_TAU_DEND]
    c1_half, c1_hill, c1_on = k[K_C1_HALF], k[K_C1_HILL], k[K_C1_ON]
    c2_half, c2_hill, c2_on = k[K_C2_HALF], k[K_C2_HILL], k[K_C2_ON]
    mg_factor = k[K_MG] / 3.57
    gain_flux = nmda_gain * k[K_FLUX]
    e_ca, phos, dephos = k[K_E_CA], k[K_PHOS], k[K_DEPHOS]
    fed = neuron >= 0 and dep_count[neuron] > 0
    cap = dep_t.shape[1] if fed else 1
    knot_end = dep_count[neuron] - 1 if fed else 0
    knot = -2                           # not looked up yet
    while t_target - t > 1e-12:
        j = min(int(lad), last)
        r = N_PARAMS + j * L_WIDTH
        h = k[r + L_H]
        remaining = t_target - t
        if h <= remaining:
            e_n, e_f, e_s = k[r + L_NMDA_HALF], k[r + L_FAST_HALF], k[r + L_SLOW_HALF]
            decay_ca, d1, d2 = k[r + L_CA], k[r + L_C1_OFF], k[r + L_C2_OFF]
            e_d = k[r + L_DEND_HALF]
            lad = j + 1.0
        else:
            h = remaining
            e_n = np.exp(-0.5 * h / tau_nmda)
            e_f = np.exp(-0.5 * h / tau_fast)
            e_s = np.exp(-0.5 * h / tau_slow)
            decay_ca = np.exp(-h / tau_ca)
            d1, d2 = np.exp(-c1_off * h), np.exp(-c2_off * h)
            e_d = np.exp(-0.5 * h / tau_dend)
        flux = 0.0
        if g != 0.0:
            g_mid = g * e_n
            v_mid = v_base + a_fast * e_f + a_slow * e_s + epsp * e_d
            if fed:
                t_mid = t + 0.5 * h
                if knot == -2:
                    knot = _last_knot(dep_t, dep_count, neuron, t_mid)
                else:
                    while knot < knot_end and dep_t[neuron, (knot + 1) % cap] <= t_mid:
                        knot += 1
                if knot >= max(0, knot_end + 1 - cap):
                    jk = knot % cap
                    v_mid += dep_v[neuron, jk] * np.exp(-(t_mid - dep_t[neuron, jk]) / tau_dend)
            unblocked = 1.0 / (1.0 + mg_factor * np.exp(-0.062 * v_mid))
            flux = gain_flux * g_mid * unblocked * (e_ca - v_mid)
        ca_old = ca
        ca_new = ca_old * decay_ca + flux * tau_ca * (1.0 - decay_ca)
        ca_mid = 0.5 * (ca_old + ca_new)
        c1_old, c2_old = c1, c2
        c1_new = _enzyme(c1_old, ca_mid, h, c1_half, c1_hill, c1_on, c1_off, d1)
        c2_new = _enzyme(c2_old, ca_mid, h, c2_half, c2_hill, c2_on, c2_off, d2)
        k_up = phos * 0.5 * (c1_old + c1_new)
        k_down = dephos * 0.5 * (c2_old + c2_new)
        rate = k_up + k_down
        if rate > 0.0:
            target = k_up / rate
            p = target + (p - target) * np.exp(-rate * h)
        ca, c1, c2 = ca_new, c1_new, c2_new
        # components decayed below FLUSH count as gone (their effect on calcium is < 1e-9 of
        # a spike's): the NMDA branch, Mg block included, is then skipped
        g = g * e_n * e_n
        g = g if g > FLUSH_G else 0.0
        a_fast = a_fast * e_f * e_f
        a_slow = a_slow * e_s * e_s
        epsp = epsp * e_d * e_d
        epsp = epsp if abs(epsp) > FLUSH_MV else 0.0
        t += h
        steps += 1
    if t_target > t:
        t = t_target
    s[i, T], s[i, LADDER] = t, lad
    s[i, G], s[i, A_FAST], s[i, A_SLOW], s[i, EPSP] = g, a_fast, a_slow, epsp
    s[i, CA], s[i, C1], s[i, C2], s[i, P] = ca, c1, c2, p
    return steps


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def apply_pre(s, i, t, k):
    s[i, G] += k[K_BIND] * (1.0 - s[i, G])
    s[i, EPSP] += k[K_EPSP]
    s[i, T_PRE] = t
    s[i, LADDER] = 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def apply_bap(s, i, t, k):
    amplitude = k[K_A_BAP]
    if k[K_BOOSTING] > 0.0:
        # the boost is exp(-(t - t_pre)/tau_boost): it needs no state of its own
        amplitude *= 1.0 + k[K_BOOST_GAIN] * np.exp(-(t - s[i, T_PRE]) / k[K_TAU_BOOST])
    s[i, A_FAST] += k[K_FAST_FRAC] * amplitude
    s[i, A_SLOW] += (1.0 - k[K_FAST_FRAC]) * amplitude
    s[i, CA] += k[K_VGCC] * amplitude
    s[i, LADDER] = 0.0


# no feed: a ring of no neurons (D = 0); read-only, so one shared copy serves every call
_NO_DEP_T = np.zeros((0, 1))
_NO_DEP_V = np.zeros((0, 1))
_NO_DEP_COUNT = np.zeros(0, dtype=np.int64)


@njit(cache=True, nogil=True, error_model="numpy")
def advance_rows(s, targets, k):
    """Advance every synapse i to targets[i] (no events); returns the total steps."""
    steps = 0
    for i in range(s.shape[0]):
        if targets[i] > s[i, T]:
            steps += integrate_to(s, i, targets[i], k, 1.0, _NO_DEP_T, _NO_DEP_V, _NO_DEP_COUNT, -1)
    return steps


@njit(cache=True, nogil=True, error_model="numpy")
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
                steps += integrate_to(s, i, t, k, 1.0, _NO_DEP_T, _NO_DEP_V, _NO_DEP_COUNT, -1)
            if kind == 1:
                apply_pre(s, i, t, k)
            else:
                apply_bap(s, i, t, k)
    return steps


@njit(cache=True, nogil=True, error_model="numpy")
def run_rows_meta(s, times, kinds, k, trace_hz, trace_t0_s):
    """run_rows with the metaplastic NMDA gain (k packed with meta): row i's neuron has activity
    trace trace_hz[i] at trace_t0_s and does not fire after it (a protocol at rest), so the trace
    decays and the gain, evaluated at the start of each stretch between events, follows it."""
    steps = 0
    for i in range(s.shape[0]):
        for j in range(times.shape[1]):
            kind = kinds[i, j]
            if kind == 0:
                continue
            t = times[i, j]
            if t > s[i, T]:
                gain = nmda_gain(k, trace_hz[i], s[i, T] - trace_t0_s)
                steps += integrate_to(s, i, t, k, gain, _NO_DEP_T, _NO_DEP_V, _NO_DEP_COUNT, -1)
            if kind == 1:
                apply_pre(s, i, t, k)
            else:
                apply_bap(s, i, t, k)
    return steps


# -- network populations: lazy bAPs and the depolarisation feed --------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def nmda_gain(k, trace_hz, since_s):
    """Metaplastic NMDA gain from the neuron's activity trace (1 when metaplasticity is off):
    gain = G_max / (1 + (G_max - 1) (r / r_target)^2), r = trace decayed to now. The calcium
    entry of every NMDA receptor of the neuron falls with the square of its recent firing, as the
    BCM modification threshold rises with it (docs/plasticity-cascade.md section 3)."""
    if k[K_META_ON] == 0.0:
        return 1.0
    r = trace_hz * np.exp(-since_s / k[K_META_TAU]) / k[K_META_TARGET]
    return k[K_META_MAX] / (1.0 + (k[K_META_MAX] - 1.0) * r * r)


@njit(cache=True, nogil=True, error_model="numpy")
def catch_up_fed(s, i, t, k, applied, neuron, bap_t, bap_trace, bap_count, dep_t, dep_v, dep_count, inclusive):
    """Bring synapse i to time t applying its neuron's pending bAPs (arrival < t, or <= t when
    ``inclusive``), its spine voltage including the neuron's fed depolarisation. Returns the
    steps taken."""
    cap = bap_t.shape[1]
    dep_neuron = neuron if dep_count.shape[0] > 0 else -1
    steps = 0
    j = applied[i]
    while j < bap_count[neuron]:
        tb = bap_t[neuron, j % cap]
        if tb > t or (tb == t and not inclusive):
            break
        prev = (j - 1) % cap
        gain = nmda_gain(k, bap_trace[neuron, prev], s[i, T] - bap_t[neuron, prev])
        steps += integrate_to(s, i, tb, k, gain, dep_t, dep_v, dep_count, dep_neuron)
        apply_bap(s, i, tb, k)
        j += 1
    applied[i] = j
    prev = (j - 1) % cap
    gain = nmda_gain(k, bap_trace[neuron, prev], s[i, T] - bap_t[neuron, prev])
    steps += integrate_to(s, i, t, k, gain, dep_t, dep_v, dep_count, dep_neuron)
    return steps


@njit(cache=True, nogil=True, error_model="numpy")
def pre_spikes_fed(s, k, applied, per_neuron, bap_t, bap_trace, bap_count, dep_t, dep_v, dep_count,
                   spike_t, spike_syn, phos_out):
    """Presynaptic spikes (sorted in time) at rows spike_syn (neuron = row // per_neuron): each
    synapse catches up to its spike (bAPs arriving at the same instant first), reports its P
    (the weight it transmits) and takes the spike. Returns the steps taken."""
    steps = 0
    for e in range(spike_t.shape[0]):
        i = spike_syn[e]
        steps += catch_up_fed(s, i, spike_t[e], k, applied, i // per_neuron, bap_t, bap_trace, bap_count,
                              dep_t, dep_v, dep_count, True)
        phos_out[e] = s[i, P]
        apply_pre(s, i, spike_t[e], k)
    return steps


@njit(cache=True, nogil=True, error_model="numpy")
def catch_up_all_fed(s, t, k, applied, per_neuron, bap_t, bap_trace, bap_count, dep_t, dep_v, dep_count,
                     rows, inclusive):
    """Bring the synapses ``rows`` to time t with their neurons' bAPs arriving before t (or at t
    when ``inclusive``)."""
    steps = 0
    for r in range(rows.shape[0]):
        i = rows[r]
        steps += catch_up_fed(s, i, t, k, applied, i // per_neuron, bap_t, bap_trace, bap_count,
                              dep_t, dep_v, dep_count, inclusive)
    return steps


@njit(cache=True, nogil=True, error_model="numpy")
def push_knot(dep_t, dep_v, dep_count, n, t, jump_mV, tau):
    """Neuron n's dendritic depolarisation jumps by ``jump_mV`` at t (times in order; a jump at
    the time of the last knot adds to it)."""
    cap = dep_t.shape[1]
    cnt = dep_count[n]
    value = jump_mV
    if cnt > 0:
        last = (cnt - 1) % cap
        t_last = dep_t[n, last]
        if t < t_last:
            raise ValueError("depolarisation knots must come in time order")
        value += dep_v[n, last] * np.exp(-(t - t_last) / tau)
        if t == t_last:
            dep_v[n, last] = value
            return
    slot = cnt % cap
    dep_t[n, slot] = t
    dep_v[n, slot] = value
    dep_count[n] = cnt + 1


@njit(cache=True, nogil=True, error_model="numpy")
def add_depolarisation(s, k, applied, per_neuron, bap_t, bap_trace, bap_count, dep_t, dep_v, dep_count,
                       dep_synced, t_now, times, neurons, jumps_mV):
    """Feed neurons' synaptic input to their spines: at times[e] (sorted; >= t_now) neuron
    neurons[e] (local id, its synapses are rows n*per_neuron ... (n+1)*per_neuron - 1) receives an
    input jump of jumps_mV[e] at the soma; its dendritic depolarisation D_n jumps by
    dendrite_coupling x jump. Before a neuron's ring would drop a knot one of its synapses may
    still read, that neuron's synapses are brought to t_now (every earlier knot is older than
    t_now, so each synapse then needs only the last of them). The ring (dep_t.shape[1]) must hold
    more than 2 + the knots one neuron receives in one call. Returns the steps taken."""
    cap = dep_t.shape[1]
    coupling, tau = k[K_DEND_COUPLING], k[K_TAU_DEND]
    steps = 0
    for e in range(times.shape[0]):
        n = neurons[e]
        if dep_count[n] - dep_synced[n] >= cap - 2:
            for i in range(n * per_neuron, (n + 1) * per_neuron):
                steps += catch_up_fed(s, i, t_now, k, applied, n, bap_t, bap_trace, bap_count,
                                      dep_t, dep_v, dep_count, False)
            dep_synced[n] = dep_count[n]
        push_knot(dep_t, dep_v, dep_count, n, times[e], coupling * jumps_mV[e], tau)
    return steps


# the functions without a feed (D = 0), as before the feed existed


@njit(cache=True, nogil=True, error_model="numpy")
def catch_up(s, i, t, k, applied, neuron, bap_t, bap_trace, bap_count, inclusive):
    return catch_up_fed(s, i, t, k, applied, neuron, bap_t, bap_trace, bap_count, _NO_DEP_T, _NO_DEP_V,
                        _NO_DEP_COUNT, inclusive)


@njit(cache=True, nogil=True, error_model="numpy")
def pre_spikes(s, k, applied, per_neuron, bap_t, bap_trace, bap_count, spike_t, spike_syn, phos_out):
    return pre_spikes_fed(s, k, applied, per_neuron, bap_t, bap_trace, bap_count, _NO_DEP_T, _NO_DEP_V,
                          _NO_DEP_COUNT, spike_t, spike_syn, phos_out)


@njit(cache=True, nogil=True, error_model="numpy")
def catch_up_all(s, t, k, applied, per_neuron, bap_t, bap_trace, bap_count, rows, inclusive):
    return catch_up_all_fed(s, t, k, applied, per_neuron, bap_t, bap_trace, bap_count, _NO_DEP_T, _NO_DEP_V,
                            _NO_DEP_COUNT, rows, inclusive)
