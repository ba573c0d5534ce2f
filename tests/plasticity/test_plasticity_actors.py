"""Ocular dominance as actors (SynapsePopulation, Neuron over the kernel): the actor system
reproduces the protocol-level simulation, and the inline and Ray executors give identical
weights for a multi-neuron run (3 Ray processes hosting 6 logical actors)."""
import numpy as np
import pytest

from lolpim.actors.inline import InlineExecutor
from lolpim.actors.plasticity import ocular_dominance_system, summarise_run
from lolpim.models.plasticity import cascade
from lolpim.models.plasticity import ocular_dominance as od

CFG = od.OcularDominanceConfig(neurons=2, synapses_per_eye=6, binocular_s=3.0, deprivation_s=3.0)


@pytest.fixture(scope="module")
def inline_run():
    system = ocular_dominance_system(cascade.load_params("hippocampal"), CFG, seed=11)
    return InlineExecutor().run(system)


def test_actor_system_matches_the_protocol_level_run(inline_run):
    ref = od.run_ocular_dominance(cascade.load_params("hippocampal"), CFG, seed=11)
    got = summarise_run(inline_run.results, CFG)
    np.testing.assert_allclose(got["w_left"], ref["w_left"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["w_right"], ref["w_right"], rtol=0, atol=1e-12)
    assert [p["post_rate_hz"] for p in got["phases"]] == [p["post_rate_hz"] for p in ref["phases"]]
    assert got["phases"][0]["post_rate_hz"] > 0


@pytest.mark.ray
def test_inline_and_ray_give_identical_weights(inline_run, ray_session):
    from lolpim.actors.ray_executor import RayExecutor
    system = ocular_dominance_system(cascade.load_params("hippocampal"), CFG, seed=11)
    ray_run = RayExecutor(max_processes=3, checkpoint_every=50).run(system)
    assert ray_run.results == inline_run.results
    assert ray_run.events == inline_run.events
    weights = [inline_run.results[f"n{k}.{eye}"]["weights"] for k in range(2) for eye in od.EYES]
    assert len({tuple(w) for w in weights}) == 4   # four distinct populations, not one copied
