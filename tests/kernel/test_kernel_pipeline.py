"""The demo pipeline against its analytic formulas (inline executor: fast, exhaustive)."""
from hypothesis import given, settings
from hypothesis import strategies as st

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.demo.pipeline import PipelineShape


@settings(max_examples=60, deadline=None)
@given(stages=st.integers(1, 6), service=st.integers(1, 5000), link=st.integers(1, 3000),
       microbatches=st.integers(1, 12), rounds=st.integers(1, 12))
def test_uniform_pipeline_makespan_is_exact(stages, service, link, microbatches, rounds):
    shape = PipelineShape((service,) * stages, link, microbatches, rounds)
    run = InlineExecutor().run(shape.system())
    src = run.results["source"]
    assert src["completed_rounds"] == microbatches * rounds
    assert src["makespan_ps"] == shape.uniform_makespan_ps()
    # every stage served every micro-batch every round
    assert all(run.results[f"stage{i:03d}"]["served"] == microbatches * rounds for i in range(stages))


def test_first_round_latency_is_the_round_trip_when_uncongested():
    shape = PipelineShape((1000, 1000, 1000), 200, 1, 5)
    src = InlineExecutor().run(shape.system()).results["source"]
    assert src["max_round_latency_ps"] == shape.round_trip_ps() == 3000 + 4 * 200


def test_skewed_pipeline_throughput_approaches_the_bottleneck_bound():
    # slowest stage 3000 ps; 20 micro-batches keep it saturated (M / C > 1 / s_max)
    shape = PipelineShape((1000, 2000, 3000, 1500), 100, 20, 200)
    src = InlineExecutor().run(shape.system()).results["source"]
    measured = src["completed_rounds"] / src["makespan_ps"] * 1e12
    assert shape.throughput_rounds_per_s() == 1e12 / 3000
    assert abs(measured / shape.throughput_rounds_per_s() - 1) < 0.01


def test_latency_bound_regime_when_few_microbatches():
    shape = PipelineShape((1000, 2000, 3000, 1500), 100, 2, 400)
    src = InlineExecutor().run(shape.system()).results["source"]
    measured = src["completed_rounds"] / src["makespan_ps"] * 1e12
    assert shape.throughput_rounds_per_s() == 2 * 1e12 / shape.round_trip_ps()
    assert abs(measured / shape.throughput_rounds_per_s() - 1) < 0.01


def test_jitter_depends_on_seed_and_is_reproducible():
    shape = PipelineShape((1000,) * 3, 100, 4, 20, jitter=0.3)
    a = InlineExecutor(record_trace=True).run(shape.system(seed=1))
    b = InlineExecutor(record_trace=True).run(shape.system(seed=1))
    c = InlineExecutor(record_trace=True).run(shape.system(seed=2))
    assert a.comparable() == b.comparable()
    assert a.results != c.results
