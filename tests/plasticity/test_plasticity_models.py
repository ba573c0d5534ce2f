"""Unit tests of the plasticity models: exactness of the integrators, presets, validation,
determinism and msgpack snapshots (what the actors rely on)."""
import msgpack
import numpy as np
import pytest

from lolpim.hardware.errors import ParameterError
from lolpim.models.plasticity import cascade, graupner_brunel as gb, protocols
from lolpim.models.plasticity.neuron import LifNeuron, NeuronParams


def test_all_published_graupner_brunel_sets_load():
    names = gb.preset_names()
    assert set(names) >= {"DP", "DPD", "hippocampal-slices", "hippocampal-cultures", "cortical-slices"}
    dp = gb.load_params("DP")
    assert (dp.gamma_p, dp.gamma_d, dp.delay_pre_s, dp.tau_s) == (321.808, 200.0, 0.0137, 150.0)
    for name in names:
        assert gb.load_params(name).theta_p > gb.load_params(name).theta_d


def test_parameter_errors_name_the_field():
    with pytest.raises(ParameterError, match="tau_ca_s"):
        gb.load_params("DP", tau_ca_s=-1.0)
    with pytest.raises(ParameterError, match="params"):
        gb.load_params("nope")
    with pytest.raises(ParameterError, match="c1_hill"):
        cascade.load_params("hippocampal", c1_hill=0.0)
    with pytest.raises(ParameterError, match="bap_boosting"):
        cascade.CascadeParams(bap_boosting="yes")
    with pytest.raises(ParameterError, match="v_threshold_mV"):
        NeuronParams(v_threshold_mV=-70.0)


def test_cubic_flow_matches_a_fine_numerical_solution():
    rho0 = np.array([0.05, 0.3, 0.49, 0.51, 0.8, 1.2])
    tau, length = 150.0, 200.0
    exact = gb._cubic_flow(rho0, length, tau)
    r, h = rho0.copy(), 0.01
    f = lambda x: -x * (1 - x) * (0.5 - x) / tau
    for _ in range(int(length / h)):  # RK4
        k1 = f(r); k2 = f(r + h / 2 * k1); k3 = f(r + h / 2 * k2); k4 = f(r + h * k3)
        r = r + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(exact, r, atol=1e-9)


def test_event_driven_graupner_brunel_beats_dt_0p1ms_heun():
    """Noise off: the event-driven solution agrees with a DOP853 reference far better than
    clock-driven Heun at dt = 0.1 ms does (the accuracy claim of benchmarks/plasticity.py)."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench_plasticity", Path(__file__).parents[2] / "benchmarks" / "plasticity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    p = gb.load_params("DP", sigma=0.0)
    rng = np.random.default_rng(5)
    times, amps = bench.poisson_events(p, 4, 2.0, 5.0, rng)
    rho0 = np.array([0.1, 0.45, 0.55, 0.9])
    ref = bench.reference_solution(p, rho0, times, amps, 5.0)
    event = gb.run_independent_trains(p, rho0, times, amps, 5.0)
    heun = bench.heun_fixed_step(p, rho0, times, amps, 5.0)
    assert np.abs(event - ref).max() < 1e-5
    assert np.abs(event - ref).max() < np.abs(heun - ref).max()


def test_population_and_independent_trains_agree():
    """The actor-facing population (shared clock, pending pre arrivals) and the vectorised
    per-synapse path integrate the same trains to the same rho (noise off)."""
    p = gb.load_params("DP", sigma=0.0)
    pop = gb.GraupnerBrunelPopulation(p, 1, rho0=[0.4])
    pre, post = [0.10, 0.35, 0.90], [0.12, 0.30, 0.95]
    events = sorted([(t, "pre") for t in pre] + [(t, "post") for t in post])
    for t, kind in events:
        pop.on_pre(t) if kind == "pre" else pop.on_post(t)
    pop.advance(2.0)
    t = np.array(sorted([x + p.delay_pre_s for x in pre] + post))
    a = np.array([p.c_pre if any(abs(x - (y + p.delay_pre_s)) < 1e-12 for y in pre) else p.c_post for x in t])
    rho = gb.run_independent_trains(p, [0.4], t[None, :], a[None, :], 2.0)
    np.testing.assert_allclose(pop.rho, rho, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: gb.GraupnerBrunelPopulation(gb.load_params("DP"), 50, seed=3),
    lambda: cascade.CascadePopulation(cascade.load_params("hippocampal"), 50),
])
def test_snapshot_roundtrips_through_msgpack_and_resumes_identically(make):
    def drive(pop, t0, t1):
        rng = np.random.default_rng(int(t0 * 10))
        for t in np.arange(t0, t1, 0.05):
            pop.on_pre(float(t), rng.choice(50, 10, replace=False))
            if rng.random() < 0.5:
                (pop.on_post if hasattr(pop, "on_post") else pop.on_bap)(float(t) + 0.005)
        pop.advance(t1)

    a = make()
    drive(a, 0.0, 1.0)
    blob = msgpack.packb(a.snapshot())
    b = make()
    b.restore(msgpack.unpackb(blob))
    drive(a, 1.0, 2.0)
    drive(b, 1.0, 2.0)
    np.testing.assert_array_equal(a.weights(), b.weights())
    assert np.isfinite(a.weights()).all()


def test_cascade_step_size_does_not_change_the_result():
    """The adaptive exponential-Euler steps agree with 10x finer steps to 0.5% of the weight."""
    p = cascade.load_params("hippocampal")
    coarse = protocols.cascade_stdp(p, [-0.02, 0.005], n_pairs=10)
    fine_cls = type("Fine", (cascade.CascadePopulation,), {"min_step_s": 1e-5, "step_growth": 0.01})
    orig = protocols.CascadePopulation
    protocols.CascadePopulation = fine_cls
    try:
        fine = protocols.cascade_stdp(p, [-0.02, 0.005], n_pairs=10)
    finally:
        protocols.CascadePopulation = orig
    np.testing.assert_allclose(coarse, fine, atol=0.005)


def test_cascade_has_no_change_without_activity_and_boosting_is_synapse_specific():
    p = cascade.load_params("hippocampal")
    pop = cascade.CascadePopulation(p, 3)
    pop.advance(5.0)
    np.testing.assert_array_equal(pop.weights(), 1.0)
    pop.on_pre(5.0, [0])               # synapse 0 active just before the bAP
    pop.on_bap(5.005)
    assert pop.a_slow[0] > pop.a_slow[1] == pop.a_slow[2] > 0
    off = cascade.CascadePopulation(cascade.load_params("hippocampal", bap_boosting=False), 3)
    off.on_pre(5.0, [0])
    off.on_bap(5.005)
    assert off.a_slow[0] == off.a_slow[1]


def test_boosting_is_what_makes_pre_post_pairs_potentiate():
    on = protocols.cascade_stdp(cascade.load_params("hippocampal"), [0.005], n_pairs=20)[0]
    off = protocols.cascade_stdp(cascade.load_params("hippocampal", bap_boosting=False), [0.005], n_pairs=20)[0]
    assert on > 0.3 and off < 0


def test_lif_neuron_is_exact_between_inputs():
    n = LifNeuron(NeuronParams(tau_m_s=0.02, v_threshold_mV=-50.0, epsp_mV=1.0))
    assert not n.receive(0.0, 10.0)
    assert not n.receive(0.02, 0.0)
    assert n.v_mV == pytest.approx(-65.0 + 10.0 * np.exp(-1.0))
    assert n.receive(0.021, 20.0) and n.v_mV == -65.0
    assert not n.receive(0.022, 50.0)   # refractory
    state = n.snapshot()
    m = LifNeuron(NeuronParams(tau_m_s=0.02, v_threshold_mV=-50.0, epsp_mV=1.0))
    m.restore(msgpack.unpackb(msgpack.packb(state)))
    assert m.snapshot() == state


def test_ocular_dominance_inputs_are_deterministic_per_seed():
    from lolpim.models.plasticity import ocular_dominance as od
    cfg = od.OcularDominanceConfig(binocular_s=2.0, deprivation_s=2.0)
    a = od.input_spikes(cfg, 7, 0, 1)
    b = od.input_spikes(cfg, 7, 0, 1)
    c = od.input_spikes(cfg, 8, 0, 1)
    assert [t for t, _ in a] == [t for t, _ in b] != [t for t, _ in c]
    deprived = od.input_spikes(cfg, 7, 0, od.DEPRIVED_EYE)
    volleys_md = [idx for t, idx in deprived if t >= 2.0 and len(idx) > 1]
    assert not volleys_md   # background only under deprivation
