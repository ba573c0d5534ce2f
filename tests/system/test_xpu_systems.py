"""The xPU+PIM pair (issue 16): `neupims` (NeuPIMs-style baseline) and `lolpim-xpu` (LoL-PIM's
techniques on the same module) run as actor systems on the same host and trace as the others."""
import numpy as np
import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.hardware.pim.xpu import xpu_decode_layers_cost
from lolpim.hardware.systems.config import AttentionMapping, KvMode, Partitioning, SystemKind
from lolpim.hardware.systems.stage_costs import StageCost
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace

SMALL = ["model=llama3.1-8b", "workload.source=fixed", "workload.input_tokens=8000", "workload.output_tokens=8",
         "workload.requests=6", "pim_capacity_gib=64"]
FIVE = "systems=lolpim,neupims,lolpim-xpu,cent,gpu"


def cfg_of(*extra):
    return config.load(RunConfig, None, [*SMALL, *extra])


def test_compare_runs_all_five_systems_on_one_trace():
    cfg = cfg_of(FIVE)
    result = run_systems(cfg, cfg.systems, "inline", 0).to_dict()
    rows = {s["system"]: s for s in result["systems"]}
    assert list(rows) == ["lolpim", "neupims", "lolpim-xpu", "cent", "gpu"]
    for row in rows.values():
        assert row["output_tokens"] == 6 * 8 and row["throughput_tokens_per_s"] > 0
    # the baseline as published keeps NeuPIMs' own memory, KV and mapping; lolpim-xpu takes LoL-PIM's
    assert "neupims-hbm2-module" in rows["neupims"]["description"]
    assert "dynamic KV, request-per-channel" in rows["neupims"]["description"]
    assert rows["neupims"]["attention_mapping"] == "request-per-channel"
    # its best end runs too: the LoL-PIM v3 Table IV module with a token spread over the channels
    best = rows["neupims"]["bracket"]["best"]
    assert "neupims-module" in best["description"] and best["attention_mapping"] == "token-centric"
    assert "lolpim-xpu-module" in rows["lolpim-xpu"]["description"]
    assert "dynamic KV, token-centric" in rows["lolpim-xpu"]["description"]


def test_the_default_comparison_is_still_the_four_main_job_systems():
    assert RunConfig().systems == (SystemKind.LOLPIM, SystemKind.GPU, SystemKind.GPU_PIM, SystemKind.CENT)


def test_xpu_system_configs_default_to_their_papers_choices():
    cfg = cfg_of()
    assert (cfg.neupims.module, cfg.neupims.kv_mode, cfg.neupims.attention_mapping) == \
        ("neupims-hbm2-module", KvMode.DYNAMIC, AttentionMapping.REQUEST_PER_CHANNEL)
    assert (cfg.lolpim_xpu.module, cfg.lolpim_xpu.kv_mode, cfg.lolpim_xpu.partitioning) == \
        ("lolpim-xpu-module", KvMode.DYNAMIC, Partitioning.TOKEN_CENTRIC)
    # 64 GiB of 32 GiB modules
    assert build("neupims", cfg, make_trace(cfg, 0), 0).devices == 2


@pytest.mark.parametrize("kind", ["neupims", "lolpim-xpu"])
def test_xpu_stages_are_priced_by_the_xpu_model(kind):
    cfg = cfg_of()
    stages = [a.params.cost for a in build(kind, cfg, make_trace(cfg, 0), 0).spec.actors if ".stage" in a.name]
    assert stages and all(s.kind == "xpu" for s in stages)
    cost = stages[0].build()
    ctx = np.array([8000, 9000, 12000])
    parts = xpu_decode_layers_cost(cost.spec, cost.shard, ctx, cost.layers, cost.partitioning)
    # FC and attention overlap: the step is the longer of the two plus what neither hides
    expect = max(parts["fc"].time_s, parts["attention"].time_s) + parts["other"].time_s
    assert cost.decode_s(ctx)[0] == pytest.approx(expect, rel=1e-12)


def test_matrix_units_reuse_weights_across_the_batch_where_pim_gemvs_cannot():
    model = load_llm("llama3.1-8b")
    xpu = StageCost("xpu", model, 8, "neupims-module")
    pim = StageCost("pim", model, 8, "neupims-module")
    short = lambda n: np.full(n, 16)   # noqa: E731 (tiny contexts: the FC layers dominate)
    # a GEMV pass per request on the banks: 32 requests cost ~32x one; the matrix units stream
    # the weights once for the whole batch (I/O bound until 256 TFLOPS is reached)
    assert pim.decode_s(short(32))[0] > 20 * pim.decode_s(short(1))[0]
    assert xpu.decode_s(short(32))[0] < 1.5 * xpu.decode_s(short(1))[0]


def test_lolpim_xpu_serves_long_contexts_faster_than_the_neupims_baseline():
    # static KV reserves the longest context for every request, so on a trace of mixed lengths
    # (LV-Eval, 20K-119K tokens) fewer requests share each pass of the FC weights; on the same
    # module and trace LoL-PIM's techniques must win (v3: up to 8.4x). The baseline here is
    # LoL-PIM v3's NeuPIMs (Table IV module, static KV, head-first), set explicitly: neither end of
    # the bracket, but the control that isolates dynamic KV and token-centric mapping
    cfg = cfg_of("workload.source=lveval-multifieldqa", "workload.requests=32", "workload.output_tokens=16",
                 "pim_capacity_gib=128", "neupims.module=neupims-module", "neupims.kv_mode=static",
                 "neupims.attention_mapping=head-first", "bracket=false")
    out = {s["system"]: s for s in run_systems(cfg, ("neupims", "lolpim-xpu"), "inline", 0).to_dict()["systems"]}
    assert out["lolpim-xpu"]["throughput_tokens_per_s"] > 1.5 * out["neupims"]["throughput_tokens_per_s"]
    assert out["lolpim-xpu"]["kv_used_utilisation"] > out["neupims"]["kv_used_utilisation"]


def test_sweep_axes_reach_the_xpu_tables():
    from lolpim.orchestration.sweep import SweepSpec, point_config
    spec = SweepSpec(grid={"system": ["neupims", "lolpim-xpu"], "modules": [4]})
    for point in spec.points():
        cfg = point_config(spec, point)
        table = cfg.neupims if point["system"] == "neupims" else cfg.lolpim_xpu
        assert table.modules == 4 and cfg.system == point["system"]


@pytest.mark.ray
@pytest.mark.parametrize("kind", ["neupims", "lolpim-xpu"])
def test_xpu_systems_on_ray_equal_inline(ray_session, kind):
    from lolpim.actors.kernel.ray_executor import RayExecutor
    cfg = cfg_of()
    spec = build(kind, cfg, make_trace(cfg, 0), 0).spec
    inline = InlineExecutor().run(spec)
    ray_run = RayExecutor(max_processes=2, max_window_ps=20 * 10**9).run(spec)
    assert ray_run.results == inline.results and ray_run.end_time_ps == inline.end_time_ps
