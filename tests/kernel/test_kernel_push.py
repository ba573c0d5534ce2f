"""Cross-process events travel process to process (issue 24): a Ray process sends what its
actors address to another process straight to it, and the coordinator sees a few numbers per
process. The receiving side without Ray (ActorHost is a plain class), then the executor on Ray:
identical to inline for any process count and either routing, the driver's bytes independent of
the traffic, a killed process restored to the undisturbed result."""
import os
import signal

import pytest

from lolpim.actors.demo.grid import GridShape, Spike
from lolpim.actors.kernel import messages
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.codec import MessageError, encode_batch
from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.kernel.loop import merge_summaries, next_window, window_summary
from lolpim.actors.kernel.ray_executor import ActorHost, RayExecutor

SHAPE = GridShape(side=4, steps=12, messages=2, payload_bytes=24)


def _host(shape: GridShape, names: list[str], index: int = 1) -> ActorHost:
    system = shape.system(seed=4)
    specs = [{"name": s.name, "cls": s.cls, "params": s.params} for s in system.actors if s.name in names]
    plan = {"owner": {s.name: (1 if s.name in names else 0) for s in system.actors},
            "lookahead": {s.name: shape.period_ps for s in system.actors}, "local_only": [], "push": True}
    return ActorHost(specs, 4, 1 << 20, True, index, plan)


def _spikes(src: str, dst: str, times: list[int]) -> list:
    payload = messages.encode(Spike(step=0, blob=b"ab"))
    return [Event(t, dst, src, seq, "spike", payload) for seq, t in enumerate(times, 1)]


def test_what_a_process_takes_in_does_not_depend_on_arrival_order():
    a = _spikes("tile000_000", "tile001_000", [10**6, 3 * 10**6])
    b = _spikes("tile000_001", "tile001_000", [10**6, 2 * 10**6])
    queues = []
    for order in ([(0, 0, a), (2, 0, b), (0, 1, a[:1])], [(0, 1, a[:1]), (2, 0, b), (0, 0, a)]):
        host = _host(SHAPE, ["tile001_000"])
        for sender, tag, events in order:
            host.receive(sender, tag, encode_batch(events))
        host._take_inbound(1)                 # window 1 takes what windows before it sent
        queues.append(sorted(host.loop.queue))
        assert [k for k in host.inbound] == [(0, 1)]    # window 1's batch waits for window 2
    assert queues[0] == queues[1] and len(queues[0]) == 4


def test_a_batch_received_twice_is_taken_once():
    host = _host(SHAPE, ["tile001_000"])
    batch = encode_batch(_spikes("tile000_000", "tile001_000", [10**6]))
    host.receive(0, 0, batch)
    host.receive(0, 0, batch)                 # a rebuilt sender replaying window 0
    host._take_inbound(1)
    host.receive(0, 0, batch)                 # ... after it was taken
    host._take_inbound(2)
    assert len(host.loop.queue) == 1


def test_a_forged_batch_between_processes_is_refused_by_the_codec():
    host = _host(SHAPE, ["tile001_000"])
    host.receive(0, 0, b"\x93garbage")
    with pytest.raises(MessageError, match="batch"):
        host._take_inbound(1)
    host = _host(SHAPE, ["tile001_000"])
    host.receive(0, 0, encode_batch(_spikes("tile000_000", "tile003_003", [10**6])))
    with pytest.raises(MessageError, match="is not hosted"):
        host._take_inbound(1)


def test_summaries_merge_to_the_per_actor_plan():
    look = {"a": 5, "b": 7, "c": 3}
    own = window_summary({"a": 10}, {"a": 15}, [], look)
    sent = window_summary({}, {}, [("b", 12), ("c", 30)], look)
    assert own == (10, 10, 15) and sent == (12, 30, 19)
    assert next_window(merge_summaries([own, None, sent])) == (10, 15)
    assert merge_summaries([None, None]) is None
    assert window_summary({}, {}, [("b", 12)], look, local_only={"b"}) == (12, 12, None)



@pytest.mark.ray
@pytest.mark.parametrize("routing", ["push", "driver"])
def test_grid_inline_equals_ray_for_any_process_count(ray_pool, routing):
    system = SHAPE.system(seed=9)
    inline = InlineExecutor(record_trace=True).run(system)
    for processes in (1, 2, 3, 5):
        run = ray_pool(record_trace=True, max_processes=processes, routing=routing, checkpoint_every=3).run(system)
        assert run.comparable() == inline.comparable(), processes
        if processes > 1:      # spikes crossed processes in every window
            assert run.stats["cross_events"] >= (run.stats["windows"] - 1) * SHAPE.cross_messages_per_step(processes)


@pytest.mark.ray
def test_the_drivers_bytes_do_not_grow_with_the_traffic(ray_pool):
    per_window = {}
    for routing in ("push", "driver"):
        for payload in (16, 2048):
            shape = GridShape(side=4, steps=8, messages=2, payload_bytes=payload)
            run = ray_pool(max_processes=2, routing=routing).run(shape.system())
            per_window[routing, payload] = run.stats["driver_bytes"] / run.stats["windows"]
            crossing = run.stats["cross_events"] / run.stats["windows"]
            assert run.stats["calls"] == 2 * run.stats["windows"]
    # pushed: a few numbers per process and window, whatever the spikes carry
    assert per_window["push", 2048] == per_window["push", 16] < 400
    # through the driver: every crossing spike twice (in a reply, then in a request)
    assert crossing > 10
    assert per_window["driver", 2048] - per_window["driver", 16] == pytest.approx(2 * crossing * (2048 - 16), rel=0.02)


@pytest.mark.ray
@pytest.mark.parametrize("victim", [0, 1])
def test_a_killed_process_of_a_pushing_grid_is_restored(ray_session, victim):
    # fresh processes: a sender and receiver of cross-process spikes dies between checkpoints
    shape = GridShape(side=4, steps=30, messages=2, payload_bytes=32)
    system = shape.system(seed=6)
    undisturbed = InlineExecutor(record_trace=True).run(system)
    killed = []

    def kill(window, executor):
        if window == 11 and not killed:
            pid = executor.host_pids()[victim]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    run = RayExecutor(record_trace=True, max_processes=3, checkpoint_every=4, on_window=kill).run(system)
    assert killed and run.stats["recoveries"] == 1
    assert run.comparable() == undisturbed.comparable()
