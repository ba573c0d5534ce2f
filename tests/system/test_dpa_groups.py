"""One KV manager per tensor-parallel group (not per module), and the plan rounds of one instant
in one message: the same simulation with fewer events (issue 24: at 1024 modules a returning
micro-batch sent a plan round to 1024 controllers, once per idle micro-batch)."""
from dataclasses import replace

import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.llm.host import LlmHost
from lolpim.actors.llm.kv_manager import KvManager
from lolpim.orchestration import config
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import system_result
from lolpim.orchestration.llm.systems import build, make_trace


def _built(*overrides):
    cfg = config.load(RunConfig, None, ["system=lolpim", "workload.requests=16", "workload.output_tokens=16",
                                        "pim_capacity_gib=64", *overrides])
    return build("lolpim", cfg, make_trace(cfg, 0), 0)


def per_module(spec):
    """``spec`` with each DPA group split into one KV manager per module, as before the groups."""
    actors, names, tpc = [], [], []
    for a in spec.actors:
        if a.cls is KvManager:
            for j in range(a.params.modules):
                names.append(f"{a.name}.{j}")
                tpc.append(a.params.tokens_per_chunk)
                actors.append(replace(a, name=names[-1], params=replace(a.params, modules=1)))
        else:
            actors.append(a)
    host = dict(dpas=tuple(names), dpa_tokens_per_chunk=tuple(tpc))
    return replace(spec, actors=tuple(replace(a, params=replace(a.params, **host)) if a.cls is LlmHost else a
                                      for a in actors))


@pytest.mark.parametrize("overrides", [("lolpim.tensor_parallel=4",),
                                       ("lolpim.tensor_parallel=2", "workload.source=longbench-musique"),
                                       ("lolpim.tensor_parallel=4", "lolpim.kv_mode=static")])
def test_a_group_of_controllers_serves_as_one_per_module_does(overrides):
    built = _built(*overrides)
    dpas = [a for a in built.spec.actors if a.cls is KvManager]
    assert len(dpas) == built.stages and {a.params.modules for a in dpas} == {built.devices // built.stages}
    split_built = replace(built, spec=per_module(built.spec))   # its roles come from its own actors
    grouped = InlineExecutor().run(built.spec)
    split = InlineExecutor().run(split_built.spec)
    a, b = system_result(built, grouped).to_dict(), system_result(split_built, split).to_dict()
    assert a["steady_throughput_tokens_per_s"] == b["steady_throughput_tokens_per_s"]   # requests waited
    for s in (a, b):
        s.pop("wall_s")
    assert a.pop("events") < b.pop("events")
    assert a.pop("kv_allocated_utilisation") == pytest.approx(b.pop("kv_allocated_utilisation"), rel=1e-12)
    assert a == b
    host = f"{built.kind}.host"
    assert grouped.results[host] == split.results[host] and grouped.end_time_ps == split.end_time_ps
