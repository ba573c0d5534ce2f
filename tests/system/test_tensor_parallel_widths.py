"""Tensor-parallel widths of PIM systems and GPU counts (issue 21, item 8): a width that would give
some modules more KV heads than the memory plan assumed is refused naming the key and the widths
allowed; every allowed width keeps KV used within KV allocated; the capacity-matched GPU count
terminates for every capacity."""
import threading

import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.systems.config import GpuSystemConfig, LolpimSystemConfig, NeupimsSystemConfig
from lolpim.hardware.systems.plan import allowed_tensor_parallel, gpu_count, pim_plan
from lolpim.hardware.systems.stage_costs import shard_model
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig

# the reproduction: Llama-3.1-70B (64 heads, 8 KV heads) on 12 modules
WORK = ["model=llama3.1-70b", "workload.source=fixed", "workload.input_tokens=8192", "workload.output_tokens=64",
        "workload.requests=16", "pim_capacity_gib=192"]


@pytest.mark.parametrize("key,width,allowed", [
    ("lolpim", 6, "1, 2, 4"),      # was simulated with 1 KV head per module: KV used 66.2% > allocated 50.0%
    ("lolpim", 3, "1, 2, 4"),      # was refused as "'kv_heads': 2 must divide heads (21)"
    ("neupims", 6, "1, 2"),        # 6 x 32 GiB modules; 6 does not divide the 8 KV heads
])
def test_a_width_that_splits_the_kv_heads_unevenly_is_refused_naming_the_key(key, width, allowed, capsys):
    system = "lolpim" if key == "lolpim" else "neupims"
    args = [a for o in WORK for a in ("--set", o)] + ["--set", f"{key}.tensor_parallel={width}",
                                                      "--set", f"systems={system}"]
    if key == "lolpim":
        args += ["--set", "lolpim.modules=12"]
    assert main(["run", "--executor", "inline", *args]) == 2
    err = capsys.readouterr().err
    assert f"'{key}.tensor_parallel': {width} modules per stage" in err
    assert f"(allowed: {allowed}; 0 = choose automatically)" in err
    assert "kv_heads" not in err and "Traceback" not in err


@pytest.mark.parametrize("model", ["llama3.1-70b", "llama3.1-8b", "qwen1.5-7b", "qwen1.5-72b", "llama2-70b"])
def test_every_allowed_width_gives_every_module_the_same_kv_share(model):
    """The plan sizes each module's KV for shard_model's KV heads: for every allowed width those
    shares together hold at least the model's KV heads (more only when replicated), and the
    query heads split exactly."""
    llm = load_llm(model)
    for t in allowed_tensor_parallel(llm, 64):
        shard = shard_model(llm, t)
        assert shard.heads * t == llm.heads
        assert shard.kv_heads * t == max(llm.kv_heads, t)
        assert shard.heads % shard.kv_heads == 0


@pytest.mark.parametrize("width", [4, 16])
def test_kv_used_never_exceeds_kv_allocated(width):
    """Four modules per stage (2 KV heads each) and sixteen (one KV head each, replicated twice)."""
    cfg = config.load(RunConfig, None, [*WORK, f"pim_capacity_gib={16 * width}", f"lolpim.modules={max(12, width)}",
                                        f"lolpim.tensor_parallel={width}", "systems=lolpim"])
    (s,) = run_systems(cfg, ("lolpim",), "inline", 0).to_dict()["systems"]
    assert 0 < s["kv_used_utilisation"] <= s["kv_allocated_utilisation"], s["description"]


def test_plan_refuses_a_width_that_does_not_divide_the_kv_heads():
    model = load_llm("llama3.1-70b")
    with pytest.raises(ParameterError, match=r"'tensor_parallel': 6 modules per stage.*allowed: 1, 2, 4;"):
        pim_plan(model, LolpimSystemConfig(modules=12, tensor_parallel=6), 0.0)
    assert pim_plan(model, NeupimsSystemConfig(tensor_parallel=2), 192.0).tensor_parallel == 2


def _terminates(fn, timeout_s=5.0):
    """fn() in a daemon thread: its result or exception, or a failure if it runs past timeout_s."""
    out = {}

    def call():
        try:
            out["value"] = fn()
        except Exception as exc:   # noqa: BLE001 - handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "gpu_count did not return"
    return out


@pytest.mark.parametrize("model", ["llama3.1-70b", "qwen1.5-7b"])
def test_gpu_count_terminates_for_every_capacity(model):
    """It looped forever once the capacity needed more GPUs than the model has heads (70B: above
    64 x 80 GiB). Now every capacity gets a count that divides the heads or a clear error."""
    llm = load_llm(model)
    weights_gib = llm.params_total * llm.bytes_per_value / 2**30
    for gib in (1.0, 128.0, 10 * weights_gib, 4096.0, 8192.0, 1_000_000.0):
        out = _terminates(lambda gib=gib: gpu_count(llm, GpuSystemConfig(), gib))
        if "value" in out:
            n = out["value"]
            assert llm.heads % n == 0 and n * 80 >= gib - 1e-6, (gib, n)
        else:
            assert isinstance(out["error"], ParameterError) and "'pim_capacity_gib'" in str(out["error"])
            assert "gpu.count" in str(out["error"]) and gib > llm.heads * 80


def test_gpu_system_at_ten_times_the_pim_capacity_it_can_match_exits_2(capsys):
    args = ["--set", "model=llama3.1-70b", "--set", "pim_capacity_gib=51200", "--set", "workload.requests=2",
            "--set", "workload.output_tokens=2", "--set", "systems=gpu,gpu-pim"]
    assert main(["run", "--executor", "inline", *args]) == 2
    assert "'pim_capacity_gib': 51200 GiB takes 640 x a100-80gb" in capsys.readouterr().err


def test_gpu_kv_memory_counts_the_replicas_of_kv_heads():
    """More GPUs than KV heads keep every KV head on several GPUs: 32 GPUs for Llama-3.1-70B's 8
    KV heads hold a quarter of the tokens their free HBM would hold unreplicated; up to 8 GPUs
    nothing is replicated."""
    from lolpim.hardware.gpu.model import load_gpu
    from lolpim.hardware.systems.plan import gpu_kv_bytes
    model, gpu = load_llm("llama3.1-70b"), load_gpu("a100-80gb")
    weights = model.params_total * model.bytes_per_value
    for n, copies in ((2, 1), (8, 1), (16, 2), (32, 4)):
        free = n * gpu.hbm_capacity_bytes * 0.9 - weights
        assert gpu_kv_bytes(model, gpu, n, 0.1) == pytest.approx(free / copies)
