"""Automatic pipeline x tensor shape (lolpim.tensor_parallel = 0, hardware/systems/shape.py).

The choice is an analytic estimate; these tests simulate every candidate shape in full and
require the chosen one to be within 3% of the best simulated steady decode throughput. They
weigh widths of one pipeline (`data_parallel = 1`); pipelines side by side, chosen with the
width by default: tests/system/test_data_parallel.py.
"""
import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.systems.shape import choose_tensor_parallel, estimate_shape
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.systems import build, make_trace


def _cfg(*overrides):
    return config.load(RunConfig, None, list(overrides))


@pytest.mark.parametrize("model,source,gb", [
    ("qwen1.5-7b", "longbench-qmsum", 128),
    ("qwen1.5-72b", "longbench-qmsum", 512),
])
@pytest.mark.slow
def test_auto_shape_is_within_3_percent_of_the_best_simulated(model, source, gb):
    base = [f"model={model}", f"workload.source={source}", f"pim_capacity_gib={gb}",
            "workload.requests=24", "workload.output_tokens=32"]
    cfg = _cfg(*base, "lolpim.tensor_parallel=0", "lolpim.data_parallel=1")
    choice = choose_tensor_parallel(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, make_trace(cfg, 0))
    simulated = {}
    for cand in choice.candidates:
        cfg_tp = _cfg(*base, f"lolpim.tensor_parallel={cand.tensor_parallel}")
        run = run_systems(cfg_tp, ("lolpim",), "inline", 0).to_dict()
        simulated[cand.tensor_parallel] = run["systems"][0]["steady_throughput_tokens_per_s"]
    assert len(simulated) >= 3
    assert simulated[choice.tensor_parallel] >= 0.97 * max(simulated.values()), (choice.summary(), simulated)


def test_auto_shape_is_named_in_the_description():
    cfg = _cfg("workload.requests=8", "workload.output_tokens=8", "lolpim.tensor_parallel=0")
    built = build("lolpim", cfg, make_trace(cfg, 0), 0)
    assert "[chosen: auto" in built.description


def test_tensor_parallelism_flag_overrides_auto():
    cfg = _cfg("workload.requests=8", "workload.output_tokens=8", "lolpim.tensor_parallel=0",
               "lolpim.parallelism=tensor")
    built = build("lolpim", cfg, make_trace(cfg, 0), 0)
    assert built.description.split("; ")[1].split(", ")[0] == "tensor-parallel"


def test_no_feasible_shape_is_a_clear_error():
    """One 16 GB module cannot hold a 72B model in any shape."""
    cfg = _cfg("model=qwen1.5-72b", "pim_capacity_gib=16", "workload.requests=8", "lolpim.tensor_parallel=0")
    trace = make_trace(cfg, 0)
    with pytest.raises(ParameterError, match="no room for KV"):
        estimate_shape(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, trace, 1)
    with pytest.raises(ParameterError, match="no pipeline x tensor shape of 1 modules fits qwen1.5-72b"):
        choose_tensor_parallel(load_llm(cfg.model), cfg.lolpim, cfg.pim_capacity_gib, trace)


@pytest.mark.parametrize("kind,table", [("cent", "cent"), ("neupims", "neupims"), ("lolpim-xpu", "lolpim_xpu")])
def test_every_pim_baseline_takes_an_automatic_shape(kind, table):
    """`tensor_parallel = 0` was refused for CENT and NeuPIMs (issue 21 item 7); it now picks each
    baseline's own best estimated shape (static KV, head-first, its module), here 256 GiB of
    Llama-3.1-8B at 32K (16 CENT modules), where a pure pipeline is never the best."""
    cfg = _cfg("model=llama3.1-8b", "workload.source=fixed", "workload.input_tokens=32768",
               "workload.output_tokens=8", "workload.requests=16", "pim_capacity_gib=256",
               f"{table}.tensor_parallel=0", f"{table}.data_parallel=1")
    trace = make_trace(cfg, 0)
    choice = choose_tensor_parallel(load_llm(cfg.model), getattr(cfg, table), cfg.pim_capacity_gib, trace)
    built = build(kind, cfg, trace, 0)
    assert "[chosen: auto" in built.description and built.devices // built.stages == choice.tensor_parallel
    best = max(choice.candidates, key=lambda c: c.tokens_per_s)
    assert choice.tensor_parallel == best.tensor_parallel > 1 and len(choice.candidates) >= 2
