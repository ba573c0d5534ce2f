"""The sheet's speed-ups change no bit (docs/od-map.md, "Run time"): the compiled step loop
(cascade_kernel.integrate_to, its synapse held in locals and the feed's knot followed forward)
against the same arithmetic one step at a time through the state array in plain Python, and the
sheet's inputs drawn for all events of a neuron at once (od_map.neuron_spikes) against one event
at a time, with the same random streams."""
import hashlib
import math
import platform

import numpy as np
import pytest
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.plasticity import od_map as actors
from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import cascade_kernel as K
from lolpim.models.plasticity import ocular_dominance as od
from lolpim.models.plasticity import od_map as om

PARAMS = cascade.load_params("cortical")


def reference_dep_value(dep_t, dep_v, dep_count, n, t, tau):
    cnt, cap = int(dep_count[n]), dep_t.shape[1]
    if cnt == 0:
        return 0.0
    lo, hi = max(0, cnt - cap), cnt - 1
    if dep_t[n, lo % cap] > t:
        return 0.0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if dep_t[n, mid % cap] <= t:
            lo = mid
        else:
            hi = mid - 1
    j = lo % cap
    return float(dep_v[n, j]) * math.exp(-(t - float(dep_t[n, j])) / tau)


def reference_enzyme(c, ca, h, half, hill, on, off, off_decay):
    x = max(ca, 0.0) / half
    if hill == 6.0:
        x2 = x * x
        x = x2 * x2 * x2
    else:
        x = x ** hill
    if x < 1e-15:
        return c * off_decay
    drive = on * x / (1.0 + x)
    rate = drive + off
    target = drive / rate
    return target + (c - target) * math.exp(-rate * h)


def reference_integrate_to(s, i, t_target, k, gain, dep_t, dep_v, dep_count, neuron):
    """The kernel's step, written out one step at a time through the array (as before the
    speed-up), in Python floats and the C library's exp."""
    steps = 0
    last = (k.shape[0] - K.N_PARAMS) // K.L_WIDTH - 1
    while t_target - s[i, K.T] > 1e-12:
        j = min(int(s[i, K.LADDER]), last)
        r = K.N_PARAMS + j * K.L_WIDTH
        h = float(k[r + K.L_H])
        remaining = float(t_target - s[i, K.T])
        if h <= remaining:
            e_n, e_f, e_s = k[r + K.L_NMDA_HALF], k[r + K.L_FAST_HALF], k[r + K.L_SLOW_HALF]
            decay_ca, d1, d2, e_d = k[r + K.L_CA], k[r + K.L_C1_OFF], k[r + K.L_C2_OFF], k[r + K.L_DEND_HALF]
            s[i, K.LADDER] = j + 1
        else:
            h = remaining
            e_n = math.exp(-0.5 * h / k[K.K_TAU_NMDA])
            e_f = math.exp(-0.5 * h / k[K.K_TAU_FAST])
            e_s = math.exp(-0.5 * h / k[K.K_TAU_SLOW])
            decay_ca = math.exp(-h / k[K.K_TAU_CA])
            d1, d2 = math.exp(-k[K.K_C1_OFF] * h), math.exp(-k[K.K_C2_OFF] * h)
            e_d = math.exp(-0.5 * h / k[K.K_TAU_DEND])
        e_n, e_f, e_s, decay_ca, d1, d2, e_d = map(float, (e_n, e_f, e_s, decay_ca, d1, d2, e_d))
        g, a_fast, a_slow, epsp = (float(s[i, c]) for c in (K.G, K.A_FAST, K.A_SLOW, K.EPSP))
        flux = 0.0
        if g != 0.0:
            g_mid = g * e_n
            v_mid = float(s[i, K.V_BASE]) + a_fast * e_f + a_slow * e_s + epsp * e_d
            if neuron >= 0:
                v_mid += reference_dep_value(dep_t, dep_v, dep_count, neuron, float(s[i, K.T]) + 0.5 * h,
                                             float(k[K.K_TAU_DEND]))
            unblocked = 1.0 / (1.0 + (float(k[K.K_MG]) / 3.57) * math.exp(-0.062 * v_mid))
            flux = gain * float(k[K.K_FLUX]) * g_mid * unblocked * (float(k[K.K_E_CA]) - v_mid)
        ca_old = float(s[i, K.CA])
        ca_new = ca_old * decay_ca + flux * float(k[K.K_TAU_CA]) * (1.0 - decay_ca)
        ca_mid = 0.5 * (ca_old + ca_new)
        c1_old, c2_old = float(s[i, K.C1]), float(s[i, K.C2])
        kf = [float(v) for v in k]
        c1_new = reference_enzyme(c1_old, ca_mid, h, *(kf[K.K_C1_HALF], kf[K.K_C1_HILL], kf[K.K_C1_ON]),
                                  kf[K.K_C1_OFF], d1)
        c2_new = reference_enzyme(c2_old, ca_mid, h, *(kf[K.K_C2_HALF], kf[K.K_C2_HILL], kf[K.K_C2_ON]),
                                  kf[K.K_C2_OFF], d2)
        k_up = kf[K.K_PHOS] * 0.5 * (c1_old + c1_new)
        k_down = kf[K.K_DEPHOS] * 0.5 * (c2_old + c2_new)
        rate = k_up + k_down
        if rate > 0.0:
            target = k_up / rate
            s[i, K.P] = target + (float(s[i, K.P]) - target) * math.exp(-rate * h)
        s[i, K.CA], s[i, K.C1], s[i, K.C2] = ca_new, c1_new, c2_new
        g = g * e_n * e_n
        s[i, K.G] = g if g > K.FLUSH_G else 0.0
        s[i, K.A_FAST] = a_fast * e_f * e_f
        s[i, K.A_SLOW] = a_slow * e_s * e_s
        epsp = epsp * e_d * e_d
        s[i, K.EPSP] = epsp if abs(epsp) > K.FLUSH_MV else 0.0
        s[i, K.T] = float(s[i, K.T]) + h
        steps += 1
    if t_target > s[i, K.T]:
        s[i, K.T] = t_target
    return steps


def _synapses(rng, n):
    """Synapses mid-way through their lives: bound glutamate, bAP waveform, EPSP, calcium and both
    enzymes active, at different rungs of the step ladder."""
    s = K.new_state(n, PARAMS.p_initial, PARAMS.v_rest_mV)
    s[:, K.T] = rng.uniform(0.0, 0.05, n)
    s[:, K.LADDER] = rng.integers(0, 80, n)
    s[:, K.G] = rng.uniform(0.0, 0.9, n) * (rng.random(n) < 0.8)
    s[:, K.A_FAST], s[:, K.A_SLOW] = rng.uniform(0, 20, n), rng.uniform(0, 20, n)
    s[:, K.CA] = rng.uniform(0.0, 2.0, n)
    s[:, K.C1], s[:, K.C2] = rng.uniform(0, 0.5, n), rng.uniform(0, 0.5, n)
    s[:, K.P] = rng.uniform(0.05, 0.95, n)
    s[:, K.EPSP] = rng.uniform(0.0, 5.0, n)
    return s


@pytest.mark.parametrize("cap", [4, 16, 1024])
def test_the_step_loop_matches_one_step_at_a_time(cap):
    """Every column of every synapse, bit for bit, and the steps counted: with and without a feed,
    a ring that has wrapped (cap 4, 16) and one that has not, a neuron without knots, targets
    landing mid-rung (cut steps) and stretches long enough to reach the coarsest rung."""
    rng = np.random.default_rng(3)
    k = K.pack_params(PARAMS, od.CascadePopulation.min_step_s, od.CascadePopulation.step_growth,
                      od.CascadePopulation.max_step_s, (5.0, 0.5, 1.2))
    neurons = 3
    dep_t, dep_v = np.zeros((neurons, cap)), np.zeros((neurons, cap))
    dep_count = np.zeros(neurons, dtype=np.int64)
    for n, count in enumerate((0, 9, 40)):           # neuron 0 gets no knot
        times = np.sort(rng.uniform(0.0, 1.5, count))
        for t, jump in zip(times, rng.normal(1.0, 3.0, count)):
            K.push_knot(dep_t, dep_v, dep_count, n, t, jump, PARAMS.dendrite_tau_s)
    s = _synapses(rng, 60)
    ref = s.copy()
    for i in range(s.shape[0]):
        neuron = i % (neurons + 1) - 1                   # -1: no feed
        for target in np.sort(rng.uniform(0.0, 2.0, 3)):
            got = K.integrate_to(s, i, target, k, 1.07, dep_t, dep_v, dep_count, neuron)
            want = reference_integrate_to(ref, i, target, k, 1.07, dep_t, dep_v, dep_count, neuron)
            assert got == want
    assert np.array_equal(s.view(np.int64), ref.view(np.int64))
    assert np.any(s[:, K.P] != _synapses(np.random.default_rng(3), 60)[:, K.P])   # the weights moved


def reference_neuron_spikes(cfg, seed, neuron, eye, chunk, ev):
    """One event at a time, S draws each (the sheet's inputs as first written)."""
    t0, t1 = chunk * om.CHUNK_S, min((chunk + 1) * om.CHUNK_S, cfg.duration_s())
    s = cfg.synapses_per_eye
    x, y = neuron % cfg.size, neuron // cfg.size
    e_t, e_x, e_y, e_c = ev
    reach = cfg.event_cutoff_sigmas * cfg.event_sigma
    latency = cfg.eye_latency_ms[eye] * 1e-3
    d2 = om.torus_delta(x + 0.5, e_x, cfg.size) ** 2 + om.torus_delta(y + 0.5, e_y, cfg.size) ** 2
    strength = e_c * np.exp(-d2 / (2 * cfg.event_sigma ** 2))
    near = d2 <= reach * reach
    times, syn = [], []
    for phase_id, (name, start, end, _) in enumerate(cfg.phases()):
        a, b = max(t0, start), min(t1, end)
        if b <= a:
            continue
        own = np.random.default_rng([seed, neuron, eye, chunk, phase_id, 7])
        for e in np.flatnonzero(near & (e_t >= a) & (e_t < b)):
            joins = np.flatnonzero(own.random(s) < cfg.volley_probability * strength[e])
            arrival = e_t[e] + latency
            if joins.size and arrival < end:
                times.append(np.full(joins.size, arrival))
                syn.append(joins)
        od.add_background(own, cfg.background_hz(name, eye), a, b, s, times, syn)
    return od.joined_spikes(times, syn)


def test_the_inputs_drawn_at_once_match_one_event_at_a_time(monkeypatch):
    """A phase boundary inside a chunk (deprivation from 1.5 s: the deprived eye's events stop,
    a volley of the last binocular events arriving after the boundary is dropped); a tile's
    neurons in blocks of 50 (the last one short) and one neuron alone."""
    monkeypatch.setattr(om, "GEOMETRY_BLOCK", 50)
    cfg, _ = om.load_sheet(size=12, synapses_per_eye=30, binocular_s=1.5, deprivation_s=1.0,
                           condition="lid_suture", event_rate_hz=8.0, event_duration_ms=0.0)
    # synchronous volleys, as the reference draws them (the spread of event_duration_ms is drawn after
    # all of a phase's volleys: test_od_map.py checks it against the volleys)
    tile = om.tiling(12, 1, 1)[0].global_ids(12)
    volleys = 0
    for eye in (0, 1):
        for chunk in (0, 1, 2):
            ev = om.events(cfg, 5, eye, chunk)
            together = om.neurons_spikes(cfg, 5, tile, eye, chunk, ev)
            for neuron in (0, 13, 77, 143):
                want = reference_neuron_spikes(cfg, 5, neuron, eye, chunk, ev)
                alone = om.neuron_spikes(cfg, 5, neuron, eye, chunk, ev)
                np.testing.assert_array_equal(alone[0], want[0])
                np.testing.assert_array_equal(alone[1], want[1])
                got = together[int(np.flatnonzero(tile == neuron)[0])]
                assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
                volleys += int(np.unique(got[0], return_counts=True)[1].max(initial=0) > 1)
    assert volleys > 10                                # events made volleys, not only background


# The final state of a small sheet (8 x 8, S = 20, 1 s, two tiles) as the code gave it before the
# speed-ups (cascade kernel of commit 31d97a1): every synapse's cascade state, bAP and feed rings
# and the somata. Floating-point results depend on the C library's exp, so the digest is pinned
# to the platform it was taken on (x86-64, glibc); the reference tests above hold anywhere.
SMALL_SHEET_DIGEST = "b85cac9729a18528debb535fc548a066ecac20a081201886a6131654e80bec78"


@pytest.mark.skipif(platform.machine() != "x86_64" or platform.libc_ver()[0] != "glibc",
                    reason="the digest was taken on x86-64 with glibc's libm")
def test_a_small_sheet_ends_in_the_state_it_had_before_the_speed_ups():
    # the preset of the time the digest was taken (a synchronous volley, narrow events)
    cfg, variant = om.load_sheet(size=8, synapses_per_eye=20, binocular_s=1.0, sample_interval_s=0.5,
                                 event_sigma=0.8, event_duration_ms=0.0, lateral_inh_mV=1.05, eye_epsp_mV=27.0)
    run = InlineExecutor().run(actors.sheet_system(PARAMS, cfg, variant, 0, 1, 2, keep_state=True))
    h = hashlib.sha256()
    for name in sorted(run.results):
        h.update(run.results[name]["state"])
    assert h.hexdigest() == SMALL_SHEET_DIGEST


def test_two_eye_threads_give_the_same_sheet_and_a_bad_count_is_named():
    """The two eyes' synapses stepping in two threads (SheetTile eye_threads = 2): the same final
    state, bit for bit, and the helper thread's CPU time counted in the tile's."""
    cfg, variant = om.load_sheet(size=6, synapses_per_eye=20, binocular_s=0.6, sample_interval_s=0.3)
    states, cpu = {}, {}
    for threads in (1, 2):
        run = InlineExecutor().run(actors.sheet_system(PARAMS, cfg, variant, 3, 1, 2, keep_state=True,
                                                       eye_threads=threads))
        states[threads] = [run.results[n]["state"] for n in sorted(run.results)]
        cpu[threads] = [run.results[n]["measured"]["cpu_s"] for n in sorted(run.results)]
    assert states[1] == states[2]
    assert all(c > 0 for c in cpu[2])
    with pytest.raises(ParameterError, match="eye_threads"):
        InlineExecutor().run(actors.sheet_system(PARAMS, cfg, variant, 3, 1, 1, eye_threads=3))
