"""The kernel's central property: the inline and Ray executors give bit-identical event
traces and results, on random actor graphs and on the demo pipeline; and a run whose
Ray process is killed mid-way recovers to the undisturbed result."""
import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.ray_executor import RayExecutor
from lolpim.actors.demo.random_graph import node
from lolpim.actors.kernel.system import SystemSpec

pytestmark = pytest.mark.ray



@st.composite
def actor_graphs(draw):
    n = draw(st.integers(2, 6))
    names = [f"n{i}" for i in range(n)]
    specs = []
    hub = names[0]
    for i, name in enumerate(names):
        others = [x for x in names if x != name]
        targets = draw(st.lists(st.sampled_from(others), min_size=0, max_size=3, unique=True))
        if name != hub and draw(st.booleans()):
            targets = [hub] + [t for t in targets if t != hub]   # fan-in: many senders hit the hub
        specs.append(node(name,
            targets=targets,
            lookahead_ps=draw(st.sampled_from([1, 2, 5, 10])),
            # small delay sets make equal timestamps (ties) common
            delay_choices_ps=draw(st.lists(st.sampled_from([0, 0, 1, 3]), min_size=1, max_size=3)),
            initial_pings=draw(st.integers(0, 3)),
            max_hops=draw(st.integers(0, 6)),
            send_prob=draw(st.sampled_from([0.0, 0.5, 0.9])),
            timer_prob=draw(st.sampled_from([0.0, 0.3])),
            null_work=draw(st.booleans()) and i % 2 == 1,   # zero-work handlers
        ))
    max_processes = draw(st.sampled_from([None, 1, 2]))
    return SystemSpec(tuple(specs), seed=draw(st.integers(0, 2**40))), max_processes


@pytest.fixture(scope="module")
def pooled_ray(ray_pool):
    executors = {}

    def get(max_processes):
        if max_processes not in executors:
            executors[max_processes] = ray_pool(record_trace=True, max_processes=max_processes, checkpoint_every=3)
        return executors[max_processes]
    return get


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=actor_graphs())
def test_random_graphs_inline_equals_ray_bit_for_bit(pooled_ray, case):
    system, max_processes = case
    inline = InlineExecutor(record_trace=True).run(system)
    on_ray = pooled_ray(max_processes).run(system)
    assert on_ray.trace == inline.trace
    assert on_ray.comparable() == inline.comparable()


def test_fan_in_ties_are_ordered_by_source_then_sequence(ray_pool):
    # three senders hit one receiver at exactly the same timestamps
    specs = [node("sink", targets=[], lookahead_ps=1, delay_choices_ps=[0])]
    for s in ("a", "b", "c"):
        specs.append(node(s, targets=["sink"], lookahead_ps=4, delay_choices_ps=[0],
                                         initial_pings=3, max_hops=0, send_prob=1.0))
    system = SystemSpec(tuple(specs), seed=3)
    inline = InlineExecutor(record_trace=True).run(system)
    on_ray = ray_pool(record_trace=True).run(system)
    assert on_ray.comparable() == inline.comparable()
    sink_events = [t for t in inline.trace if t[1] == "sink"]
    assert len(sink_events) == 9 and len({t[0] for t in sink_events}) == 1   # all at one timestamp
    assert [t[2] for t in sink_events] == ["a"] * 3 + ["b"] * 3 + ["c"] * 3


def test_demo_pipeline_one_ray_actor_per_stage_matches_inline(ray_pool):
    shape = PipelineShape((3000, 1000, 2000, 1000), 250, 5, 12, jitter=0.2)
    system = shape.system(seed=11)
    inline = InlineExecutor(record_trace=True).run(system)
    ray_run = ray_pool(record_trace=True).run(system)
    assert ray_run.stats["processes"] == 5
    assert ray_run.comparable() == inline.comparable()
    # batching: far fewer Ray calls than events delivered
    assert ray_run.stats["calls"] < inline.events


def test_killed_ray_process_is_restored_and_the_result_is_unchanged(ray_session):
    # fresh processes (no kept pool): the path a single `lolpim run --executor ray` takes
    shape = PipelineShape((2000, 1000, 1500), 300, 4, 30, jitter=0.25)
    system = shape.system(seed=5)
    undisturbed = InlineExecutor(record_trace=True).run(system)
    killed = []

    def kill_stage1(window, executor):
        if window == 40 and not killed:
            pid = executor.host_pids()[2]          # process hosting stage001
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    executor = RayExecutor(record_trace=True, checkpoint_every=16, on_window=kill_stage1)
    recovered = executor.run(system)
    assert killed, "the fault was never injected"
    assert recovered.stats["recoveries"] == 1
    assert recovered.comparable() == undisturbed.comparable()
