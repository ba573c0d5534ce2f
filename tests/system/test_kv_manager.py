"""The DPA controller's memory policy, driven by hand-written plan messages."""
from lolpim.actors.kernel.actor import deliver
import pytest

from lolpim.actors.kernel.codec import MessageError, pack_payload, unpack_payload
from lolpim.actors.kernel.events import Event
from lolpim.actors.llm.kv_manager import KvManager
from lolpim.core.errors import ConfigError


def dpa(mode, capacity=10, tpc=100, reserve=400, watermark=0):
    return KvManager("dpa", 0, KvManager.Params(host="host", capacity_chunks=capacity, tokens_per_chunk=tpc,
                                                kv_mode=mode, static_reserve_tokens=reserve,
                                                watermark_chunks=watermark, link_latency_s=1e-9))


def plans(actor, t, *rounds):
    """One plan message of several rounds, each a dict of admit/admit_tokens/grow/grow_tokens;
    the reply's per-round answers as [{"grow_ok", "admit_ok"}, ...]."""
    keys = ("admit", "admit_tokens", "grow", "grow_tokens")
    payload = {"rounds": list(range(len(rounds))), **{k: [list(r.get(k, ())) for r in rounds] for k in keys}}
    ev = Event(t, "dpa", "host", t + 1, "plan", pack_payload(payload))
    (reply,) = deliver(actor, ev)
    reply = unpack_payload(reply.payload)
    assert reply["rounds"] == list(range(len(rounds))) and reply["dpa"] == "dpa"
    return [{"grow_ok": g, "admit_ok": a} for g, a in zip(reply["grow_ok"], reply["admit_ok"])]


def plan(actor, t, admit=(), admit_tokens=(), grow=(), grow_tokens=()):
    (reply,) = plans(actor, t, {"admit": admit, "admit_tokens": admit_tokens, "grow": grow, "grow_tokens": grow_tokens})
    return reply


def free(actor, t, reqs):
    deliver(actor, Event(t, "dpa", "host", t + 1, "free", pack_payload({"reqs": list(reqs)})))


def test_static_mode_reserves_the_maximum_context_per_request():
    d = dpa("static", capacity=10, tpc=100, reserve=400)   # 4 chunks each
    reply = plan(d, 10, admit=[1, 2, 3], admit_tokens=[50, 50, 50])
    assert reply["admit_ok"] == [1, 1, 0]                     # 8 of 10 chunks taken by two short prompts
    assert d.free_chunks == 2


def test_dynamic_mode_maps_chunks_on_demand_and_refuses_growth_when_full():
    d = dpa("dynamic", capacity=10, tpc=100)
    reply = plan(d, 10, admit=[1, 2, 3], admit_tokens=[150, 250, 300])   # 2 + 3 + 3 chunks
    assert reply["admit_ok"] == [1, 1, 1] and d.free_chunks == 2
    assert plan(d, 20, grow=[1], grow_tokens=[200])["grow_ok"] == [1]    # still 2 chunks: nothing new
    assert plan(d, 30, grow=[1, 2], grow_tokens=[201, 301])["grow_ok"] == [1, 1]
    assert d.free_chunks == 0
    assert plan(d, 40, grow=[3], grow_tokens=[301])["grow_ok"] == [0]
    free(d, 50, [2])
    assert d.free_chunks == 4
    assert plan(d, 60, grow=[3], grow_tokens=[301])["grow_ok"] == [1]


def test_admission_is_first_come_first_served():
    d = dpa("dynamic", capacity=5, tpc=100)
    reply = plan(d, 10, admit=[1, 2, 3], admit_tokens=[300, 300, 100])
    assert reply["admit_ok"] == [1, 0, 0]     # request 3 would fit, but may not overtake request 2


def test_watermark_keeps_headroom_for_growth():
    # 3 + 2 chunks fill the 5 exactly: fine without a watermark, refused with one
    assert plan(dpa("dynamic", capacity=5, tpc=100), 10, admit=[1, 2], admit_tokens=[300, 200])["admit_ok"] == [1, 1]
    d = dpa("dynamic", capacity=5, tpc=100, watermark=1)
    assert plan(d, 10, admit=[1, 2], admit_tokens=[300, 200])["admit_ok"] == [1, 0]


def test_allocated_chunks_are_integrated_over_time():
    d = dpa("dynamic", capacity=10, tpc=100)
    plan(d, 0, admit=[1], admit_tokens=[500])           # 5 chunks from t = 0
    free(d, 2_000_000_000_000, [1])                      # freed at t = 2 s
    assert abs(d.result()["allocated_chunk_s"] - 10.0) < 1e-9


def test_a_mistyped_mode_is_refused_not_static():
    with pytest.raises(ConfigError, match="'kv_mode': got 'statc'; allowed values: 'dynamic', 'static'"):
        dpa("statc")


def test_plans_and_frees_naming_requests_it_does_not_hold_are_refused():
    """Well-typed but wrong for the DPA's state: refused with MessageError, state unchanged."""
    d = dpa("dynamic", capacity=10, tpc=100)
    plan(d, 10, admit=[1], admit_tokens=[150])
    before = d.state()
    with pytest.raises(MessageError, match="request 7 holds no KV here"):
        free(d, 20, [7])
    with pytest.raises(MessageError, match="request 9 holds no KV here"):
        plan(d, 30, grow=[9], grow_tokens=[300])
    with pytest.raises(MessageError, match="request 1 already holds KV here"):
        plan(d, 40, admit=[1], admit_tokens=[150])
    with pytest.raises(MessageError, match="as long"):
        plan(d, 50, admit=[2, 3], admit_tokens=[150])
    assert d.state() == before


def test_the_rounds_of_one_message_are_answered_in_order_as_separate_messages_would_be():
    """Rounds opened at one instant travel in one message; each is answered as if it had come
    alone (first-come first-served holds within a round, not across rounds)."""
    together = dpa("dynamic", capacity=6, tpc=100)
    replies = plans(together, 10, {"admit": [1], "admit_tokens": [300]},
                    {"admit": [2, 3], "admit_tokens": [400, 100]}, {"admit": [4], "admit_tokens": [200]})
    alone = dpa("dynamic", capacity=6, tpc=100)
    one_by_one = [plan(alone, 10, admit=[1], admit_tokens=[300]),
                  plan(alone, 10, admit=[2, 3], admit_tokens=[400, 100]),
                  plan(alone, 10, admit=[4], admit_tokens=[200])]
    assert replies == one_by_one == [{"grow_ok": [], "admit_ok": [1]}, {"grow_ok": [], "admit_ok": [0, 0]},
                                     {"grow_ok": [], "admit_ok": [1]}]
    assert together.state() == alone.state()


def test_a_request_named_in_two_rounds_of_one_message_is_refused():
    d = dpa("dynamic", capacity=10, tpc=100)
    before = d.state()
    with pytest.raises(MessageError, match="names a request twice"):
        plans(d, 10, {"admit": [1], "admit_tokens": [100]}, {"admit": [1], "admit_tokens": [100]})
    assert d.state() == before


def test_a_group_reports_per_module_figures_and_its_totals_as_metrics():
    d = KvManager("dpa", 0, KvManager.Params(host="host", capacity_chunks=10, tokens_per_chunk=100, kv_mode="dynamic",
                                            static_reserve_tokens=400, watermark_chunks=0, link_latency_s=1e-9,
                                            modules=4))
    plan(d, 0, admit=[1], admit_tokens=[300])
    assert d.result()["capacity_chunks"] == 10 and d.result()["modules"] == 4
    assert d.metrics()["kv_capacity_chunks"] == 40 and d.metrics()["kv_allocated_chunks"] == 12
    with pytest.raises(ValueError, match="at least one module"):
        KvManager("dpa", 0, KvManager.Params(host="host", capacity_chunks=10, tokens_per_chunk=100, kv_mode="dynamic",
                                            static_reserve_tokens=400, watermark_chunks=0, link_latency_s=1e-9,
                                            modules=0))
