"""CascadePopulation against a tight-tolerance reference solution of the same equations.

The reference (benchmarks/cascade_reference.py) integrates the nine-variable ODE of
docs/plasticity-cascade.md section 1 per synapse with scipy's DOP853 at rtol 1e-10, atol 1e-12,
from one event to the next, applying the pre-spike and bAP jumps exactly; its own error is far
below 1e-6 (the benchmark shows it differs from an rtol 1e-8 solution by ~1e-10).

Tolerance: max |w_lolpim - w_ref| <= 5e-3, i.e. 0.5% of the initial weight. That is the accuracy
docs/plasticity-cascade.md states for the integrator ("against 10x finer steps the weights agree to
0.5%"), here checked against a converged solution rather than against finer steps of the same
scheme. It was fixed before measuring; the integrator in place when this test was written is at
9.4e-4 on this case. Whatever replaces the integrator behind this API must stay within it.

The case (15 synapses, 4 s, < 2 s to run) covers every term: pre-before-post pairs (+5 ms, boosted
bAP: LTP), post-before-pre (-10 ms: LTD), the late window (+40 ms: LTD), pre spikes alone at rest
and depolarised to -50 mV (NMDA + Mg block: LTD) and -20 mV (LTP), bAPs alone, and 8 synapses of the
benchmark's random events (benchmarks/plasticity.py --cascade).
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lolpim.models.plasticity.cascade import CascadePopulation, load_params

pytest.importorskip("scipy")

TOLERANCE = 5e-3


def _reference_module():
    path = Path(__file__).parents[2] / "benchmarks" / "cascade_reference.py"
    spec = importlib.util.spec_from_file_location("cascade_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cascade_population_matches_dop853_reference():
    cr = _reference_module()
    p = load_params("hippocampal")
    duration = 4.0
    reg = np.round(np.arange(0.1, 3.6, 0.5), 4)          # 7 pulses at 2 Hz
    none = np.zeros(0)
    pre = [reg, reg, reg, reg, none, reg, reg]
    bap = [reg + 0.005, reg - 0.010, reg + 0.040, none, reg, none, none]
    v_base = [-65.0, -65.0, -65.0, -65.0, -65.0, -50.0, -20.0]
    rand_pre, rand_bap = cr.build_events(8, duration, seed=3)
    pre += rand_pre
    bap += rand_bap
    v_base += [-65.0] * 8

    ref = cr.reference_weights(p.to_dict(), pre, bap, duration, v_base_mV=v_base)
    times, kinds = cr.schedule_arrays(pre, bap)
    pop = CascadePopulation(p, len(pre), v_base_mV=np.array(v_base))
    pop.run_schedule(times, kinds)
    pop.advance(duration)
    w = pop.weights()

    dw = ref - 1.0
    assert dw[0] > 0.5 and dw[1] < -0.02 and dw[2] < -0.02 and dw[5] < -0.02 and dw[6] > 0.5  # LTP and LTD occur
    assert abs(dw[3]) < 0.01 and abs(dw[4]) < 0.01                                            # one factor alone: ~0
    err = np.abs(w - ref)
    assert err.max() <= TOLERANCE, \
        f"max |w - w_ref| = {err.max():.2e} on synapse {err.argmax()} (tolerance {TOLERANCE})"
