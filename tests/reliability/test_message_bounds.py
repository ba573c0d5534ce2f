"""Bounds on what one message can do (issue 26, class 7): a time past the kernel's horizon is
refused on the wire and at delivery (a time of 2**64 - 1 was accepted and its reply could not
be encoded), an actor cannot be made to send past it, and CENT's static KV manager refuses a
plan that grows a request past its reservation (it raised RuntimeError). The fuzzer
(test_message_fuzz.py) sends such times to every actor of every system variant."""
import heapq

import msgpack
import numpy as np
import pytest

from lolpim.actors.kernel.actor import deliver
from lolpim.actors.kernel.codec import HORIZON_PS, MessageError, decode_batch, encode_batch, pack_payload
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.inline import deliver_in_order


@pytest.mark.parametrize("time_ps", [HORIZON_PS + 1, 2**63 - 1, 2**64 - 1, -1])
def test_a_time_past_the_horizon_is_refused_on_the_wire(time_ps):
    batch = msgpack.packb({"v": 1, "events": [[time_ps, "a", "b", 0, "tick", b""]]}, use_bin_type=True)
    with pytest.raises(MessageError, match="time_ps.*horizon"):
        decode_batch(batch)
    assert decode_batch(encode_batch([Event(HORIZON_PS, "a", "b", 0, "tick", b"")]))[0].time_ps == HORIZON_PS


def _cent_actors():
    from lolpim.orchestration import config
    from lolpim.orchestration.llm.config import RunConfig
    from lolpim.orchestration.llm.systems import build, make_trace
    cfg = config.load(RunConfig, None, ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=64",
                                        "workload.output_tokens=8", "workload.requests=4", "system=cent"])
    spec = build("cent", cfg, make_trace(cfg, 0), 0).spec
    actors = {s.name: s.build(spec.seed) for s in spec.actors}
    queue = [ev for a in actors.values() for ev in a.start()]
    heapq.heapify(queue)
    for _ in range(200):       # until a static KV manager holds a request
        held = [a for a in actors.values() if getattr(a, "static", False) and a.alloc]
        if held or not queue:
            break
        ev = heapq.heappop(queue)
        for out in deliver(actors[ev.dst], ev):
            heapq.heappush(queue, out)
    return actors, held


def test_a_message_at_the_horizon_edge_cannot_reach_past_it():
    actors, _ = _cent_actors()
    actor = next(iter(actors.values()))
    with pytest.raises(MessageError, match="horizon"):
        deliver(actor, Event(2**63 - 1, actor.name, actor.name, 1, next(iter(actor.accepts)), b""))


def test_cent_static_kv_refuses_a_growth_past_its_reservation():
    from lolpim.actors.llm.kv_manager import Plan
    _, held = _cent_actors()
    assert held, "no static KV manager held a request after 200 events"
    kv = held[0]
    req = next(iter(kv.alloc))
    before = (dict(kv.alloc), kv.free_chunks)
    plan = pack_payload(Plan(rounds=[0], admit=[[]], admit_tokens=[[]], grow=[[req]],
                             grow_tokens=[[2**63 - 1]]).__dict__)
    with pytest.raises(MessageError, match="grow_tokens.*static reservation"):
        deliver(kv, Event(kv.now_ps, kv.name, "host", 10**6, "plan", plan))
    assert (kv.alloc, kv.free_chunks) == before        # refused before anything changed


def _warm(spec, events=60):
    actors = {s.name: s.build(spec.seed) for s in spec.actors}
    deliver_in_order(actors, events)
    return actors


def test_a_forged_tick_cannot_make_an_eye_population_integrate_ahead():
    """A tick (a timer: from the actor itself) at any time but the one it set is refused: one far
    ahead made the block integrate up to it (~10^7 s for a tick near 2**63 ps). "Refused at once"
    is checked as "nothing integrated": the block's step count and synapse state are as
    they were (benchmarks/message_refusal.py times the refusals)."""
    from lolpim.actors.plasticity.ocular_dominance import EyePopulation, ocular_dominance_system
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    cfg = od.OcularDominanceConfig(neurons=2, synapses_per_eye=4, binocular_s=0.5, deprivation_s=0.5)
    actors = _warm(ocular_dominance_system(cascade.load_params("hippocampal"), cfg, variant="network", seed=3,
                                           blocks=1))
    eye = next(a for a in actors.values() if isinstance(a, EyePopulation))
    steps, state = eye.block.steps, eye.block.state.copy()
    refused = 0
    for when in (eye.next_tick_ps + 10**12, HORIZON_PS, eye.next_tick_ps - 1):
        if when > eye.now_ps:
            with pytest.raises(MessageError, match="tick"):
                deliver(eye, Event(when, eye.name, eye.name, 10**6, "tick", pack_payload({})))
            refused += 1
    assert refused >= 2
    assert eye.block.steps == steps
    np.testing.assert_array_equal(eye.block.state, state)


def test_a_hebbian_message_of_a_million_rows_is_refused_at_once():
    """Refused before anything changes: the population's weights and counters are as they were."""
    from lolpim.actors.hebbian.population import MAX_ROWS_PER_MESSAGE, TernarySynapsePopulation, multiplication_system
    actors = _warm(multiplication_system(3, seed=1, batch_size=3), events=5)
    pop = next(a for a in actors.values() if isinstance(a, TernarySynapsePopulation))
    rows = [[]] * (MAX_ROWS_PER_MESSAGE + 1)
    weights, counts, samples = pop.weights.copy(), pop.counts.copy(), pop.samples
    with pytest.raises(MessageError, match="rows"):
        deliver(pop, Event(pop.now_ps + 1, pop.name, "teacher", 10**6, "sample",
                           pack_payload({"batch": 0, "pre": rows, "target": rows})))
    np.testing.assert_array_equal(pop.weights, weights)
    np.testing.assert_array_equal(pop.counts, counts)
    assert pop.samples == samples
