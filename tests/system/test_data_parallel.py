"""Several pipelines side by side (`<system>.data_parallel`, issue 24): each pipeline is its own
stages and KV managers, the host shares its waiting requests between them, and the automatic
choice (`data_parallel = 0`) weighs them against one pipeline by the shape estimate."""
import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.actors.llm.kv_manager import KvManager
from lolpim.actors.llm.stage import LlmStage
from lolpim.core.errors import ParameterError
from lolpim.hardware.systems import shape
from lolpim.hardware.systems.config import BASELINE_ENDS, SystemKind
from lolpim.hardware.systems.shape import ShapeEstimate, choose_tensor_parallel
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.long_context import load_study
from lolpim.orchestration.llm.result_types import system_result
from lolpim.orchestration.llm.systems import build, make_trace

# 8 modules of Llama-2-7B at 2K tokens: 16 requests, more than 4 modules' KV holds at once
SMALL = ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=2000", "workload.output_tokens=16",
         "workload.requests=16", "lolpim.modules=8"]


def _cfg(*overrides):
    return config.load(RunConfig, None, [*SMALL, *overrides])


def _built(*overrides, kind="lolpim"):
    cfg = _cfg(*overrides)
    return build(kind, cfg, make_trace(cfg, 0), 0)


def test_each_pipeline_is_its_own_actors_and_carries_traffic():
    built = _built("lolpim.tensor_parallel=2", "lolpim.data_parallel=2")
    run = InlineExecutor().run(built.spec)
    stages = [a.name for a in built.spec.actors if a.cls is LlmStage]
    dpas = [a.name for a in built.spec.actors if a.cls is KvManager]
    assert len(stages) == 4 and len(dpas) == 4 and built.stages == 2   # 2 pipelines x 2 stages of 2 modules
    for pipe in ("p000", "p001"):
        mine = [s for s in stages if f".{pipe}." in s]
        assert len(mine) == 2
        # every stage of both pipelines ran passes, and each pipeline's KV managers held KV
        assert all(run.results[s]["busy_ps"] > 0 for s in mine)
        assert all(run.results[d]["peak_chunks"] > 0 for d in dpas if f".{pipe}." in d)
    s = system_result(built, run)
    assert s.settings == {"pipelines": 2} and "2 data-parallel pipelines" in s.description
    assert s.output_tokens == 16 * 16 and s.devices == 8


def test_requests_are_shared_evenly_when_memory_is_not_the_limit():
    """Single-stage pipelines admit every waiting request that fits (vLLM's rule); without the even
    share the first pipeline to ask would take all of them while the others idle."""
    built = _built("lolpim.tensor_parallel=2", "lolpim.data_parallel=4", "workload.requests=8")
    run = InlineExecutor().run(built.spec)
    busy = [run.results[a.name]["busy_ps"] for a in built.spec.actors if a.cls is LlmStage]
    assert len(busy) == 4 and max(busy) < 1.1 * min(busy)


def test_one_pipeline_is_unchanged_by_data_parallel_one():
    """One pipeline (a given width under the default, or data_parallel = 1): the same actors and
    names as before the option."""
    a, b = _built("lolpim.tensor_parallel=2"), _built("lolpim.tensor_parallel=2", "lolpim.data_parallel=1")
    assert [x.name for x in a.spec.actors] == [x.name for x in b.spec.actors]
    assert "lolpim.stage000" in {x.name for x in a.spec.actors}
    assert InlineExecutor().run(a.spec).results == InlineExecutor().run(b.spec).results


@pytest.mark.parametrize("kind,table", [("cent", "cent"), ("neupims", "neupims")])
def test_the_pim_baselines_take_several_pipelines_too(kind, table):
    built = _built(f"{table}.modules=8", f"{table}.tensor_parallel=2", f"{table}.data_parallel=2",
                   "pim_capacity_gib=128", kind=kind)
    s = system_result(built, InlineExecutor().run(built.spec))
    assert s.settings == {"pipelines": 2} and s.output_tokens == 16 * 16


def test_a_given_width_is_one_pipeline_under_the_default():
    """data_parallel = 0 (the default) follows the shape: a given width is built as given, one
    pipeline, the same actors and events as data_parallel = 1."""
    built = _built("lolpim.tensor_parallel=2")
    assert built.settings is None and built.devices == built.stages * 2 and "[chosen" not in built.description
    one = _built("lolpim.tensor_parallel=2", "lolpim.data_parallel=1")
    assert InlineExecutor().run(built.spec).results == InlineExecutor().run(one.spec).results


def test_the_default_chooses_several_pipelines_at_1024_modules():
    """Issue 24: "the automatic shape fills KV memory". With the shape automatic
    (tensor_parallel = 0) the default data_parallel (0) weighs pipelines side by side: Llama-3.1-70B
    at 1M tokens on 1024 modules takes several (4 x 16 x 16 estimated 1434 tok/s against the best
    single pipeline's 895; simulated: docs/scaling.md)."""
    base = ["model=llama3.1-70b-1m", "workload.source=fixed", "workload.input_tokens=1048544",
            "workload.output_tokens=32", "workload.requests=128", "lolpim.modules=1024", "lolpim.tensor_parallel=0"]
    cfg = config.load(RunConfig, None, base)
    assert cfg.lolpim.data_parallel == 0
    trace = make_trace(cfg, 0)
    choice = choose_tensor_parallel(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, trace)
    single = max((c for c in choice.candidates if c.replicas == 1), key=lambda c: c.tokens_per_s)
    chosen = next(c for c in choice.candidates if (c.replicas, c.tensor_parallel) == (choice.replicas,
                                                                                      choice.tensor_parallel))
    assert choice.replicas > 1 and chosen.tokens_per_s > (1 + shape.MULTI_PIPELINE_MARGIN) * single.tokens_per_s
    # more requests held at once than any single pipeline holds: the memory the issue asks to fill
    assert chosen.batch_requests > single.batch_requests
    built = build("lolpim", cfg, trace, 0)
    assert built.settings == {"pipelines": choice.replicas}
    assert f"{choice.replicas} data-parallel pipelines" in built.description and built.devices == 1024


def test_explicit_one_pipeline_is_the_single_pipeline_shape_bit_for_bit():
    """data_parallel = 1 with the shape automatic is what the automatic shape was before the
    default weighed pipelines: the best single-pipeline width, its actors named as before, its
    events the same as that width given by hand. Here the default takes 4 pipelines instead."""
    model_trace = _cfg("lolpim.tensor_parallel=0")
    default = choose_tensor_parallel(load_llm(model_trace.model), model_trace.lolpim, model_trace.pim_capacity_gib,
                                     make_trace(model_trace, 0))
    assert default.replicas > 1
    single = max((c for c in default.candidates if c.replicas == 1), key=lambda c: c.tokens_per_s)
    auto_one = _built("lolpim.tensor_parallel=0", "lolpim.data_parallel=1")
    given = _built(f"lolpim.tensor_parallel={single.tensor_parallel}", "lolpim.data_parallel=1")
    assert auto_one.settings is None and "lolpim.stage000" in {a.name for a in auto_one.spec.actors}
    assert [a.name for a in auto_one.spec.actors] == [a.name for a in given.spec.actors]
    a, b = InlineExecutor(record_trace=True).run(auto_one.spec), InlineExecutor(record_trace=True).run(given.spec)
    assert a.results == b.results and a.trace == b.trace


@pytest.mark.parametrize("end,pipelines", [("best", "several"), ("published", "one")])
def test_a_baseline_at_its_best_may_take_several_pipelines(end, pipelines):
    """The builder is the same for every PIM kind: CENT at its best end (token-centric) on the
    long-context study's 32K case picks several pipelines with the shape automatic; the study keeps
    the published end at one pipeline (data_parallel = 1), the shape its paper describes, and
    simulates the best end at every count of pipelines, the automatic shape among them
    (tests/system/test_long_context_study.py)."""
    case = load_study()[0][0]
    assert case.label == "32K"
    keys = [f"cent.{k}={v}" for k, v in BASELINE_ENDS[SystemKind.CENT][end].items()]
    pin = [] if end == "best" else ["cent.data_parallel=1"]
    cfg = config.load(RunConfig, None, [*case.overrides(), *keys, "cent.tensor_parallel=0", *pin])
    trace = make_trace(cfg, 0)
    built = build("cent", cfg, trace, 0)
    pipes = (built.settings or {}).get("pipelines", 1)
    assert (pipes > 1) == (pipelines == "several"), built.description


def test_a_count_that_does_not_divide_the_modules_names_the_key():
    with pytest.raises(ParameterError, match=r"lolpim\.data_parallel.*3 pipelines.*divide the 8 modules"):
        _built("lolpim.data_parallel=3")


def test_automatic_count_weighs_every_divisor_and_keeps_one_pipeline_within_the_margin(monkeypatch):
    cfg = _cfg("lolpim.tensor_parallel=0", "lolpim.data_parallel=0")
    model, trace = load_llm(cfg.model), make_trace(cfg, 0)
    choice = choose_tensor_parallel(model, cfg.lolpim, cfg.pim_capacity_gib, trace)
    assert {c.replicas for c in choice.candidates} == {1, 2, 4, 8}
    one = max((c for c in choice.candidates if c.replicas == 1), key=lambda c: c.tokens_per_s)
    best = max(choice.candidates, key=lambda c: (c.tokens_per_s, -c.replicas, -c.tensor_parallel))
    if best.tokens_per_s > (1 + shape.MULTI_PIPELINE_MARGIN) * one.tokens_per_s:
        assert (choice.replicas, choice.tensor_parallel) == (best.replicas, best.tensor_parallel)
    else:
        assert (choice.replicas, choice.tensor_parallel) == (1, one.tensor_parallel)
    # the rule itself: a multi-pipeline estimate within the margin of the best single one loses
    fake = {(8, 1): ShapeEstimate(8, 1, 16, 100.0), (4, 2): ShapeEstimate(4, 1, 16, 104.0, replicas=2),
            (2, 4): ShapeEstimate(2, 1, 16, 106.0, replicas=4)}

    def estimate(model, system, gib, trace, tp, replicas=1):
        if (tp, replicas) not in fake:
            raise ParameterError("tensor_parallel", "does not fit")
        return fake[tp, replicas]

    monkeypatch.setattr(shape, "estimate_shape", estimate)
    assert choose_tensor_parallel(model, cfg.lolpim, cfg.pim_capacity_gib, trace).replicas == 4   # 6% > 5%
    monkeypatch.setattr(shape, "MULTI_PIPELINE_MARGIN", 0.07)
    assert choose_tensor_parallel(model, cfg.lolpim, cfg.pim_capacity_gib, trace).replicas == 1


@pytest.mark.slow
def test_the_automatic_count_is_never_worse_than_the_best_single_pipeline():
    """Every candidate (pipelines x width) simulated in full: the choice's steady tok/s is within 3%
    (the width test's tolerance, tests/system/test_pim_shape.py) of the best single pipeline, what
    the automatic shape chose before data parallelism. (Here the estimate does not rank the
    multi-pipeline shapes right: 2 x 1x4 simulates 7% above the chosen 2x4, estimated 0.3% above;
    within the margin, so one pipeline is kept: docs/lolpim-system.md.)"""
    base = ["model=llama3.1-8b", "workload.source=lveval-multifieldqa", "pim_capacity_gib=128",
            "workload.requests=24", "workload.output_tokens=16"]
    cfg = config.load(RunConfig, None, [*base, "lolpim.tensor_parallel=0", "lolpim.data_parallel=0"])
    choice = choose_tensor_parallel(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, make_trace(cfg, 0))
    simulated = {}
    for c in choice.candidates:
        one = config.load(RunConfig, None, [*base, f"lolpim.tensor_parallel={c.tensor_parallel}",
                                            f"lolpim.data_parallel={c.replicas}"])
        built = build("lolpim", one, make_trace(one, 0), 0)
        s = system_result(built, InlineExecutor().run(built.spec))
        simulated[(c.replicas, c.tensor_parallel)] = s.steady_throughput_tokens_per_s
    assert any(r > 1 for r, _ in simulated) and len(simulated) >= 4
    chosen = simulated[(choice.replicas, choice.tensor_parallel)]
    single = max(v for (r, _), v in simulated.items() if r == 1)
    assert chosen >= 0.97 * single, (choice.summary(), simulated)


@pytest.mark.slow
def test_where_several_pipelines_are_chosen_they_beat_the_best_single_one():
    """Llama-3.1-70B at 128K tokens on 256 modules: one pipeline leaves KV memory unused (every
    request needs room on every stage); the choice is 8 pipelines of 4 x 8, and simulated it is
    faster than the best single pipeline (32 x 8) and keeps more of the memory in use."""
    base = ["model=llama3.1-70b", "workload.source=fixed", "workload.input_tokens=131000",
            "workload.output_tokens=16", "workload.requests=64", "lolpim.modules=256"]
    cfg = config.load(RunConfig, None, [*base, "lolpim.tensor_parallel=0", "lolpim.data_parallel=0"])
    choice = choose_tensor_parallel(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, make_trace(cfg, 0))
    single = max((c for c in choice.candidates if c.replicas == 1), key=lambda c: c.tokens_per_s)
    assert choice.replicas > 1
    runs = {}
    for replicas, tp in ((choice.replicas, choice.tensor_parallel), (1, single.tensor_parallel)):
        one = config.load(RunConfig, None, [*base, f"lolpim.tensor_parallel={tp}", f"lolpim.data_parallel={replicas}"])
        built = build("lolpim", one, make_trace(one, 0), 0)
        runs[replicas] = system_result(built, InlineExecutor().run(built.spec))
    several, one_pipe = runs[choice.replicas], runs[1]
    assert several.throughput_tokens_per_s > 1.05 * one_pipe.throughput_tokens_per_s
    assert several.steady_throughput_tokens_per_s > 1.05 * one_pipe.steady_throughput_tokens_per_s
    assert several.kv_used_utilisation > one_pipe.kv_used_utilisation


@pytest.mark.ray
def test_several_pipelines_on_ray_equal_inline(ray_pool):
    spec = _built("lolpim.tensor_parallel=2", "lolpim.data_parallel=2").spec
    inline = InlineExecutor(record_trace=True).run(spec)
    ray_run = ray_pool(max_processes=2, record_trace=True).run(spec)
    assert ray_run.results == inline.results and ray_run.trace == inline.trace
