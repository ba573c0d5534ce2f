"""The demo actors: declared state round-trips, and forged messages are refused, not obeyed (issue 14)."""
import pytest

from lolpim.actors.demo.pipeline import PipelineShape, Work
from lolpim.actors.demo.random_graph import Ping, node
from lolpim.actors.kernel.actor import deliver
from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.messages import encode
from lolpim.actors.kernel.system import SystemSpec


def test_pipeline_state_round_trips(state_round_trip):
    system = PipelineShape((1000, 2000, 1500), 100, 4, 10, jitter=0.2).system(seed=3)
    processed = state_round_trip(system, 150)
    assert all(n > 0 for n in processed.values())


def test_graph_node_state_round_trips(state_round_trip):
    system = SystemSpec((node("a", targets=["b"], lookahead_ps=2, delay_choices_ps=[0, 1], initial_pings=3),
                         node("b", targets=["a", "c"], lookahead_ps=3, delay_choices_ps=[0], timer_prob=0.5),
                         node("c", targets=["a"], lookahead_ps=1, delay_choices_ps=[2], null_work=True)), seed=7)
    processed = state_round_trip(system, 200)
    assert all(n > 0 for n in processed.values())


def _actors(seed=0):
    return {s.name: s.build(seed) for s in PipelineShape((1000, 1000), 100, 2, 5).system(seed).actors}


def _forge(actor, kind, payload, src="attacker", time_ps=10):
    return deliver(actor, Event(time_ps, actor.name, src, 1, kind, encode(payload)))


@pytest.mark.parametrize("src", ["attacker", "stage000"])
def test_forged_done_with_nothing_in_service_is_refused(src):
    stage = _actors()["stage000"]
    with pytest.raises(MessageError, match="field '(src|kind)'"):
        _forge(stage, "done", {}, src=src)


@pytest.mark.parametrize("work, field", [
    (Work(mb=0, round=2**62, sent_ps=0), "round"),
    (Work(mb=7, round=0, sent_ps=0), "mb"),
    (Work(mb=0, round=0, sent_ps=10**6), "sent_ps"),
])
def test_forged_work_at_the_source_is_refused(work, field):
    with pytest.raises(MessageError, match=f"field '{field}'"):
        _forge(_actors()["source"], "work", work)


@pytest.mark.parametrize("payload", [{"mb": 0, "round": -2**63, "sent_ps": 0}, {"mb": -1, "round": 0, "sent_ps": 0}])
def test_negative_values_fail_the_schema(payload):
    with pytest.raises(MessageError, match="allowed range: >= 0"):
        _forge(_actors()["source"], "work", payload)
    with pytest.raises(MessageError, match="allowed range: >= 0"):
        _forge(_actors()["stage001"], "work", payload)


def test_negative_hops_are_refused():
    n = node("a", targets=["b"], lookahead_ps=2, delay_choices_ps=[0], null_work=True).build(0)
    with pytest.raises(MessageError, match="field 'hops' got -9223372036854775808; allowed range: >= 0"):
        _forge(n, "ping", {"hops": -2**63, "value": 0})
    assert _forge(n, "ping", Ping(hops=8, value=0)) == []
