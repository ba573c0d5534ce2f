"""The ternary memory inside the actor system (actors/hebbian/population.py).

1. Learning from messages gives exactly the weights, per-sample transition counts and
   learning curve of the streaming learner (``TernaryLayer.learn``) and of the batched one
   (``fit`` with ``shuffle=False``) fed the same sample order with a generator seeded like
   the population actor; for one layer, for the greedy two-layer table, and for a
   classification stage with a test set.
2. Inline and Ray executors give bit-identical traces and results (3 Ray actors).
3. Snapshot/restore: a run stopped at any event, snapshotted through msgpack, rebuilt
   from its specs and resumed ends exactly like the undisturbed run.
"""
import heapq

import msgpack
import numpy as np
import pytest

from lolpim.actors.kernel.actor import deliver
from lolpim.actors.hebbian.population import (SampleSource, Stage, TernarySynapsePopulation, active, actor_rng,
                                              dense, multiplication_memory, multiplication_system)
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.kernel.system import ActorSpec, SystemSpec
from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer
from lolpim.models.hebbian.arithmetic import expected_pairs, table_data
from lolpim.models.hebbian.rule import TransitionRule


def _reference(system: SystemSpec, mode: str):
    """Replays the teacher's protocol with the models API only: the teacher's generator
    draws one permutation per epoch, the population's generator drives the Markov steps.
    Returns {population: (layer, per-sample transitions)} and the teacher's curves."""
    specs = {a.name: a for a in system.actors}
    teacher = next(a for a in system.actors if a.cls is SampleSource)
    order_rng = actor_rng(system.seed, teacher.name)
    layers, curves, outputs = {}, [], []
    for stage in teacher.params.stages:
        config = specs[stage.population].params.layer
        layer, rng, per_sample, curve = TernaryLayer(config), actor_rng(system.seed, stage.population), [], []
        x = dense(stage.x, config.n_in) if stage.x is not None else np.asarray(outputs[stage.input_from])
        t = dense(stage.targets, config.n_out)
        for _ in range(stage.max_epochs):
            order = order_rng.permutation(len(t))
            if mode == "streaming":
                per_sample += [int(layer.learn(x[i], t[i], rng).sum()) for i in order]
            else:
                per_sample += layer.fit(x[order], t[order], rng, shuffle=False).transitions_per_sample.tolist()
            if stage.labels is not None:
                classes = layer.scores(x).reshape(len(x), -1, stage.contacts).sum(axis=2).argmax(axis=1)
                acc = float((classes == np.asarray(stage.labels)).mean())
            else:
                recall = layer.fire(x) if stage.readout == "fire" else layer.winner(x)
                acc = float(((recall != 0) == (t != 0)).all(axis=1).mean())
            curve.append(acc)
            if acc == 1.0 and stage.stop_when_exact:
                break
        outputs.append(layer.fire(x).tolist() if stage.readout == "fire" else layer.winner(x).tolist())
        layers[stage.population] = (layer, per_sample)
        curves.append(curve)
    return layers, curves


def _weights(result: dict) -> np.ndarray:
    return TernaryLayer.from_state(result["layer"]).weights


def _assert_matches_reference(system: SystemSpec, run):
    teacher = next(a.name for a in system.actors if a.cls is SampleSource)
    for mode in ("streaming", "batched"):
        layers, curves = _reference(system, mode)
        for name, (layer, per_sample) in layers.items():
            assert np.array_equal(_weights(run.results[name]), layer.weights), (mode, name)
            assert run.results[name]["transitions_per_sample"] == per_sample, (mode, name)
        got = [[p["recall_accuracy"] for p in s["curve"]] for s in run.results[teacher]["stages"]]
        assert got == curves, mode


def _random_stage_system(seed: int, batch_size: int, margin, p_het: float, shuffle_epochs: int = 4):
    data = np.random.default_rng(seed + 100)
    x, t = data.integers(0, 2, (23, 12)), data.integers(0, 2, (23, 5))
    stages = (Stage(population="pop", x=x, targets=t, max_epochs=shuffle_epochs, readout="fire"),)
    rule = TransitionRule(p_potentiate=0.4, p_depress=0.3, p_hetero_depress=p_het)
    return SystemSpec((
        ActorSpec("teacher", SampleSource, SampleSource.Params(stages=stages, batch_size=batch_size, link_ps=50)),
        _population("pop", LayerConfig(12, 5, rule, 0.5, margin), link_ps=50),
    ), seed=seed)


def _population(name: str, layer: LayerConfig, **params) -> ActorSpec:
    return ActorSpec(name, TernarySynapsePopulation, TernarySynapsePopulation.Params(layer=layer, **params))


@pytest.mark.parametrize("seed,batch_size,margin,p_het", [(0, 1, None, 0.0), (7, 5, 1.0, 0.3),
                                                          (2**40 + 3, 64, 0.0, 0.2)])
def test_one_layer_in_actors_equals_streaming_and_batched(seed, batch_size, margin, p_het):
    system = _random_stage_system(seed, batch_size, margin, p_het)
    run = InlineExecutor().run(system)
    assert run.results["pop"]["samples"] == 23 * 4          # random targets never reach exact recall
    assert run.results["pop"]["batches"] == 4 * -(-23 // batch_size)
    _assert_matches_reference(system, run)
    weights = _weights(run.results["pop"])
    assert set(np.unique(weights)) <= {-1, 0, 1} and weights.any()


def test_multiplication_table_trained_greedily_in_actors_equals_reference_and_recalls_everything():
    system = multiplication_system(9, seed=3)
    run = InlineExecutor().run(system)
    _assert_matches_reference(system, run)
    teacher = run.results["teacher"]
    assert [s["curve"][-1]["recall_accuracy"] for s in teacher["stages"]] == [1.0, 1.0]
    assert teacher["chain_accuracy"] == 1.0          # recall through both populations, by messages
    memory = multiplication_memory(run.results, 9)
    assert all(memory.multiply(a, b) == a * b for a in range(1, 10) for b in range(1, 10))
    assert all(memory.factor_pairs(int(p)) == expected_pairs(int(p), 9) for p in table_data(9)[3])
    assert memory.prime_factors(72) == [2, 2, 2, 3, 3]
    # the transition counts the populations report add up to the per-sample records
    for name in ("pairs", "products"):
        r = run.results[name]
        assert sum(r["counts"]) == r["transitions"] == sum(r["transitions_per_sample"]) > 0
        assert sum(r["by_kind"].values()) == r["transitions"]   # only one-level steps


def test_samples_stream_at_the_fixed_rate():
    system = _random_stage_system(1, batch_size=5, margin=1.0, p_het=0.0, shuffle_epochs=1)
    run = InlineExecutor(record_trace=True).run(system)
    sample_times = [e[0] for e in run.trace if e[4] == "sample"]
    assert len(sample_times) == 5 and np.all(np.diff(sample_times) == 1_000_000)
    query = next(e for e in run.trace if e[4] == "query")
    assert query[0] == sample_times[-1]                     # sent with the last batch, after it


def test_classification_stage_with_test_set_equals_reference():
    data = np.random.default_rng(9)
    contacts, classes = 3, 4
    proto = data.integers(0, 2, (classes, 30))
    labels = data.integers(0, classes, 60)
    x = np.where(data.random((60, 30)) < 0.15, 1 - proto[labels], proto[labels])
    targets = (np.repeat(np.arange(classes), contacts)[None, :] == labels[:, None]).astype(int)
    stages = (Stage(population="cls", x=x[:40], targets=targets[:40], labels=labels[:40], contacts=contacts,
                    test_x=x[40:], test_labels=labels[40:], max_epochs=3, stop_when_exact=False),)
    rule = TransitionRule(p_potentiate=0.2, p_depress=0.2)
    system = SystemSpec((
        ActorSpec("teacher", SampleSource, SampleSource.Params(stages=stages, batch_size=8, query_rows=16)),
        _population("cls", LayerConfig(30, classes * contacts, rule, 0.0, 2.0)),
    ), seed=4)
    run = InlineExecutor().run(system)
    _assert_matches_reference(system, run)
    curve = run.results["teacher"]["stages"][0]["curve"]
    layer = TernaryLayer.from_state(run.results["cls"]["layer"])
    test_classes = layer.scores(x[40:]).reshape(20, classes, contacts).sum(axis=2).argmax(axis=1)
    assert curve[-1]["test_accuracy"] == float((test_classes == labels[40:]).mean())
    assert curve[-1]["test_accuracy"] > 0.5                # prototypes with 15% noise are learnable


def test_digits_in_actors_equals_reference():
    from lolpim.actors.hebbian.population import digits_system
    from lolpim.models.hebbian.digits import DigitsConfig, DigitsData, load_sklearn_digits
    d = load_sklearn_digits()
    small = DigitsData(d.x_train[:300], d.y_train[:300], d.x_test[:100], d.y_test[:100], d.full_scale, d.name)
    system = digits_system(small, DigitsConfig(levels=3, contacts=2, epochs=2, p_potentiate=0.05,
                                               p_depress=0.05), seed=2)
    run = InlineExecutor().run(system)
    _assert_matches_reference(system, run)
    curve = run.results["teacher"]["stages"][0]["curve"]
    assert len(curve) == 2 and curve[-1]["test_accuracy"] > 0.6


@pytest.mark.ray
def test_multiplication_actors_inline_equals_ray(ray_pool):
    system = multiplication_system(4, seed=1, batch_size=3)
    inline = InlineExecutor(record_trace=True).run(system)
    on_ray = ray_pool(record_trace=True).run(system)
    assert on_ray.stats["processes"] == 3
    assert on_ray.comparable() == inline.comparable()
    assert inline.results["teacher"]["chain_accuracy"] == 1.0


def _run_with_restart(system: SystemSpec, stop_after: int):
    """Inline loop that, after ``stop_after`` events, snapshots every actor through msgpack,
    throws the actors away, rebuilds them from their specs and restores them."""
    actors = {s.name: s.build(system.seed) for s in system.actors}
    queue = [ev for a in actors.values() for ev in a.start()]
    heapq.heapify(queue)
    processed = 0
    while queue:
        if processed == stop_after:
            blobs = {n: msgpack.packb(a.snapshot(), use_bin_type=True) for n, a in actors.items()}
            actors = {s.name: s.build(system.seed + 1) for s in system.actors}   # wrong seed on purpose
            for n, a in actors.items():
                a.restore(msgpack.unpackb(blobs[n], raw=False, strict_map_key=False))
        ev = heapq.heappop(queue)
        for out in deliver(actors[ev.dst], ev):
            heapq.heappush(queue, out)
        processed += 1
    results = {n: a.result() for n, a in sorted(actors.items())}
    return msgpack.unpackb(msgpack.packb(results, use_bin_type=True), raw=False, strict_map_key=False), processed


def test_snapshot_restore_round_trip_resumes_identically():
    system = multiplication_system(4, seed=6, batch_size=5)
    plain = InlineExecutor(record_trace=True).run(system)
    kinds = [e[4] for e in plain.trace]
    # stop mid-epoch, just before a query reaches a population, and while recalls are in flight
    points = {5, kinds.index("query"), kinds.index("recall"), len(kinds) - 3}
    for stop_after in sorted(points):
        results, events = _run_with_restart(system, stop_after)
        assert events == plain.events
        assert results == plain.results, stop_after


def test_population_snapshot_carries_weights_counts_and_generator():
    system = _random_stage_system(5, batch_size=4, margin=1.0, p_het=0.2)
    spec = next(a for a in system.actors if a.name == "pop")
    pop = spec.build(system.seed)
    stage = system.actors[0].params.stages[0]
    x, t = stage.x, stage.targets
    teach = spec.build(system.seed)  # a stand-in sender: any actor can build events for pop
    teach.name, teach.lookahead_ps = "t", 1
    deliver(pop, teach.send("pop", "sample", {"batch": 0, "pre": x[:10], "target": t[:10]}, 1))
    copy = spec.build(999)
    copy.restore(msgpack.unpackb(msgpack.packb(pop.snapshot(), use_bin_type=True), raw=False))
    assert copy.result() == pop.result()
    nxt = teach.send("pop", "sample", {"batch": 1, "pre": x[10:], "target": t[10:]}, 2)
    deliver(pop, nxt)
    deliver(copy, nxt)
    assert copy.result() == pop.result() and pop.result()["samples"] == 23


def test_patterns_travel_as_active_index_lists():
    rows = np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
    assert active(rows) == [[1, 3], [], [0, 1, 2, 3]]
    assert np.array_equal(dense(active(rows), 4), rows)


def test_bad_messages_and_stages_are_rejected():
    system = _random_stage_system(0, batch_size=4, margin=1.0, p_het=0.0)
    pop = system.actors[1].build(0)
    sender = system.actors[1].build(0)
    sender.name = "t"
    with pytest.raises(MessageError, match="pre"):
        deliver(pop, sender.send("pop", "sample", {"batch": 0, "pre": [[3, 12]], "target": [[1]]}, 50))
    with pytest.raises(MessageError, match="target"):
        deliver(pop, sender.send("pop", "sample", {"batch": 0, "pre": [[3]], "target": [[1], [2]]}, 50))
    with pytest.raises(MessageError, match="target"):
        deliver(pop, sender.send("pop", "sample", {"batch": 0, "pre": [[3]], "target": [[-1]]}, 50))
    with pytest.raises(MessageError, match="batch"):
        deliver(pop, sender.send("pop", "sample", {"batch": -1, "pre": [], "target": []}, 50))
    assert pop.samples == 0
    with pytest.raises(MessageError, match="readout"):
        deliver(pop, sender.send("pop", "query", {"tag": "x", "part": 0, "pre": [[0, 11]], "readout": "max"}, 50))
    with pytest.raises(ParameterError, match=r"stages\[1\].x"):
        SampleSource.Params(stages=(Stage(population="a", x=[[1]], targets=[[1]], max_epochs=1),
                                    Stage(population="b", targets=[[1]], max_epochs=1)))
    with pytest.raises(ParameterError, match=r"stages\[0\].x"):
        SampleSource.Params(stages=(Stage(population="a", x=[[1], [0]], targets=[[1]], max_epochs=1),))
    with pytest.raises(ParameterError, match=r"stages\[0\].max_epochs"):
        SampleSource.Params(stages=(Stage(population="a", x=[[1]], targets=[[1]], max_epochs=-3),))
    with pytest.raises(ParameterError, match="link_ps"):
        TernarySynapsePopulation.Params(layer=LayerConfig(2, 2), link_ps=0)


def test_forged_recalls_are_refused():
    """A recall the teacher did not ask for (unknown tag, part out of range or already
    answered, wrong row count, ragged drives) is a MessageError, not a KeyError or IndexError."""
    system = _random_stage_system(3, batch_size=23, margin=1.0, p_het=0.0, shuffle_epochs=1)
    teacher = system.actors[0].build(0)
    teacher.start()
    deliver(teacher, teacher.send("teacher", "tick", {}, 0))        # the one batch, then the train query
    pop = system.actors[1].build(0)

    def recall(**fields):
        base = {"tag": "train", "part": 0, "outputs": [[0]] * 23, "samples": 0, "transitions": 0}
        return pop.send("teacher", "recall", {**base, **fields}, 50)
    for fields, field in (({"tag": "nope"}, "tag"), ({"part": 5}, "part"), ({"outputs": [[0]]}, "outputs"),
                          ({"part": -1}, "part"), ({"samples": -2}, "samples")):
        with pytest.raises(MessageError, match=field):
            deliver(teacher, recall(**fields))
    assert teacher.inflight and not teacher.curves[0]


def test_state_round_trip(state_round_trip):
    counts = state_round_trip(multiplication_system(3, seed=2, batch_size=2), events=100_000)
    assert all(counts.values())


def test_cli_multiply_and_factorize_through_the_actors(tmp_path, capsys):
    import json

    from lolpim.orchestration.cli import main
    assert main(["hebbian", "multiply", "--executor", "inline", "--max-operand", "6", "--json",
                 "--out", str(tmp_path)]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["recall_accuracy"] == 1.0 and run["actor_run"]["chain_recall_accuracy"] == 1.0
    assert run["actor_run"]["events"] > 0 and run["actor_run"]["simulated_time_s"] > 0
    pairs = run["layers"]["operands->pairs"]
    assert pairs["synapses"] == 12 * 36 and pairs["curve"][-1]["recall_accuracy"] == 1.0
    assert sum(pairs["by_kind"].values()) == pairs["transitions"]["total"] > 0
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    assert main(["hebbian", "factorize", "30", "35", "--executor", "inline", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"][0]["rows"]
    assert [r["prime_factors"] for r in rows] == [[2, 3, 5], [5, 7]]
    assert main(["hebbian", "digits", "--executor", "inline"]) == 2
