"""The shared event loop and the safe-window rule, without Ray."""
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.loop import EventLoop, local_only_actors, plan_window
from lolpim.actors.kernel.system import SystemSpec, actor_plan


def test_window_is_bounded_by_the_earliest_possible_send():
    # a wakes at 10 and could send at 15; b has an event in flight at 12 with lookahead 7 -> 19
    assert plan_window({"a": 10}, {"a": 15}, [("b", 12)], {"a": 5, "b": 7}) == (10, 15)
    assert plan_window({"a": 10}, {"a": 30}, [("b", 12)], {"a": 5, "b": 7}) == (10, 19)
    # an in-flight event earlier than a queued one moves both the start and the bound
    assert plan_window({"a": 10}, {"a": 15}, [("a", 4)], {"a": 5}) == (4, 9)


def test_nothing_pending_or_past_until_ends_the_run():
    assert plan_window({}, {}, [], {}) is None
    assert plan_window({"a": 11}, {"a": 12}, [], {"a": 1}, until_ps=10) is None
    assert plan_window({"a": 10}, {"a": 50}, [], {"a": 1}, until_ps=20) == (10, 21)


def test_local_only_actors_bound_nothing():
    # no bound left: up to the latest pending event, or max_window_ps
    assert plan_window({"a": 10, "b": 40}, {"a": 11, "b": 41}, [], {}, local_only={"a", "b"}) == (10, 41)
    assert plan_window({"a": 10, "b": 40}, {"a": 11, "b": 41}, [], {}, local_only={"a", "b"},
                       max_window_ps=5) == (10, 15)
    assert plan_window({"a": 10}, {"a": 100}, [], {}, max_window_ps=5) == (10, 15)


def test_local_only_needs_the_whole_peer_closure_in_the_process():
    owner = {"a": 0, "b": 0, "c": 1, "d": 0}
    peers = {"a": {"b"}, "b": {"a"}, "c": None, "d": {"a", "c"}}
    assert local_only_actors(owner, peers) == {"a", "b"}
    peers["b"] = {"d"}      # a -> b -> d -> c crosses processes
    assert local_only_actors(owner, peers) == set()


def test_inline_executor_is_the_event_loop():
    system = PipelineShape((1000, 1500), 100, 3, 4, jitter=0.1).system(seed=2)
    loop = EventLoop({s.name: s.build(system.seed) for s in system.actors}, record_trace=True)
    loop.start()
    assert loop.run() == []
    run = InlineExecutor(record_trace=True).run(system)
    assert (loop.processed, loop.last_ps, sorted(loop.trace)) == (run.events, run.end_time_ps, run.trace)


def test_windows_of_the_loop_equal_one_run():
    system = PipelineShape((1000, 1500), 100, 3, 4).system()
    whole = InlineExecutor(record_trace=True).run(system)
    loop = EventLoop({s.name: s.build(0) for s in system.actors}, record_trace=True)
    loop.start()
    for end in range(0, whole.end_time_ps + 2, 700):
        loop.run(end)
    loop.run()
    assert sorted(loop.trace) == whole.trace


def test_lookahead_comes_from_the_class_without_building():
    spec = PipelineShape((1000,), 250, 1, 1).system().actors[0]
    built = []
    orig = spec.cls.__init__

    def counting(self, *a, **k):
        built.append(1)
        orig(self, *a, **k)
    spec.cls.__init__ = counting
    try:
        assert actor_plan(spec, 0) == (250, None)
    finally:
        spec.cls.__init__ = orig
    assert not built


def test_until_stops_inline_at_that_time():
    system = PipelineShape((1000, 1500), 100, 3, 4).system()
    full = InlineExecutor(record_trace=True).run(system)
    cut = SystemSpec(system.actors, seed=0, until_ps=5000)
    part = InlineExecutor(record_trace=True).run(cut)
    assert part.trace == [t for t in full.trace if t[0] <= 5000]
