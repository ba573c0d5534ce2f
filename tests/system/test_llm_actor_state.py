"""Declared state of the LLM actors (host, stage, KV manager): snapshots carry every field that
changes, round-trip through msgpack, and forged messages are refused before anything changes."""
import pytest

from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.actor import deliver
from lolpim.actors.kernel.messages import encode
from lolpim.actors.llm.host import LlmHost
from lolpim.actors.llm.kv_manager import Granted, KvManager
from lolpim.actors.llm.stage import LlmStage, Microbatch
from lolpim.orchestration import config
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace


def _system(kind, *overrides):
    cfg = config.load(RunConfig, None, ["workload.requests=6", "workload.output_tokens=6", *overrides])
    return build(kind, cfg, make_trace(cfg, 0), 0).spec


@pytest.mark.parametrize("kind,overrides", [
    ("lolpim", ()),                                   # dynamic KV, pipeline of stages
    ("cent", ()),                                     # static KV
    ("lolpim", ("prefill=attached-gpu",)),            # the host's GPU prefill path
])
def test_llm_actor_state_round_trips(state_round_trip, kind, overrides):
    spec = _system(kind, *overrides)
    assert {a.cls for a in spec.actors} == {LlmHost, LlmStage, KvManager}
    processed = state_round_trip(spec, 400)
    assert all(n > 0 for n in processed.values()), processed


def _built(spec):
    return {s.name: s.build(spec.seed) for s in spec.actors}


def test_the_host_refuses_grants_and_returns_it_did_not_ask_for():
    spec = _system("lolpim")
    host = _built(spec)["lolpim.host"]
    for ev in host.start():
        deliver(host, ev)                              # arrivals: plan rounds go out
    before = host.state()
    forged = [("granted", Granted(rounds=[99], dpa="lolpim.dpa000", grow_ok=[[]], admit_ok=[[]]), "rounds"),
              ("granted", Granted(rounds=[0], dpa="nobody", grow_ok=[[]], admit_ok=[[]]), "dpa"),
              ("granted", Granted(rounds=[0, 0], dpa="lolpim.dpa000", grow_ok=[[], []], admit_ok=[[], []]), "rounds"),
              ("granted", Granted(rounds=[0], dpa="lolpim.dpa000", grow_ok=[], admit_ok=[]), "grow_ok"),
              ("granted", Granted(rounds=[0], dpa="lolpim.dpa000", grow_ok=[[]], admit_ok=[[1, 1, 1, 1, 1]]),
               "grow_ok"),
              ("mb", Microbatch(mb=0, reqs=[0], ctx=[5], prompt=[0], sent_ps=0), "mb"),
              ("mb", Microbatch(mb=10**6, reqs=[], ctx=[], prompt=[], sent_ps=0), "mb")]
    for kind, payload, field in forged:
        with pytest.raises(MessageError) as err:
            deliver(host, Event(host.now_ps + 1, host.name, "lolpim.dpa000", 1, kind, encode(payload)))
        assert err.value.field == field
    assert host.state() == before


def test_a_stage_refuses_a_free_it_did_not_time():
    spec = _system("lolpim")
    stage = _built(spec)["lolpim.stage000"]
    with pytest.raises(MessageError, match="no pass is in service"):
        deliver(stage, Event(1, stage.name, stage.name, 1, "free", encode({})))
