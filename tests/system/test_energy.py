"""Energy of the simulated systems (issue 13, point 1): a tensor-parallel stage prices one
module's shard, and its energy must count every module of the group, so the same hardware
doing the same work reports the same J/token whatever the pipeline x tensor shape."""
import pytest

from lolpim.hardware.estimate import estimate
from lolpim.orchestration import config
from lolpim.orchestration.llm.compare import run_systems
from lolpim.orchestration.llm.config import RunConfig

REQUESTS, PROMPT, OUTPUT, MODULES = 16, 8192, 16, 8
WORK = ["model=qwen1.5-7b", "workload.source=fixed", f"workload.input_tokens={PROMPT}",
        f"workload.output_tokens={OUTPUT}", f"workload.requests={REQUESTS}", f"lolpim.modules={MODULES}",
        "systems=lolpim"]


def _joules_per_token(*overrides) -> float:
    cfg = config.load(RunConfig, None, WORK + list(overrides))
    s = run_systems(cfg, cfg.systems, "inline", 0).to_dict()["systems"][0]
    return s["energy_j"] / s["output_tokens"]


def test_joules_per_token_do_not_depend_on_the_tensor_parallel_shape():
    per_shape = {tp: _joules_per_token(f"lolpim.tensor_parallel={tp}") for tp in (1, 2, 4, 8)}
    ref = per_shape[1]
    for _tp, j in per_shape.items():
        # before the fix: 0.0905 / 0.0443 / 0.0223 / 0.0116 J, exactly 1/TP
        assert j == pytest.approx(ref, rel=0.05), per_shape


def test_simulated_joules_per_token_agree_with_lolpim_estimate():
    # every request decodes at the same context; the estimate prices one step of the whole batch
    # at the mean decode context, pipeline-parallel over the same modules
    est = estimate("pim", "qwen1.5-7b", batch=REQUESTS, context=PROMPT + OUTPUT // 2, modules=MODULES)
    per_token = est.total.energy_j / REQUESTS
    for tp in (1, 4):
        assert _joules_per_token(f"lolpim.tensor_parallel={tp}") == pytest.approx(per_token, rel=0.10)


@pytest.mark.parametrize("dataflow", ["ideal", "artifact"])
def test_cent_joules_per_token_do_not_depend_on_the_tensor_parallel_shape(dataflow):
    per_shape = {tp: _joules_per_token("systems=cent", f"cent.modules={MODULES}", f"cent.tensor_parallel={tp}",
                                       f"cent.dataflow={dataflow}") for tp in (1, 2, 4, 8)}
    for _tp, j in per_shape.items():
        assert j == pytest.approx(per_shape[1], rel=0.07), per_shape   # TP 8 adds ~6% of all-reduces


def test_gpu_joules_per_token_count_the_whole_group():
    # the GPU models already sum their tensor-parallel group: more GPUs, same work, same energy
    per_count = {n: _joules_per_token("systems=gpu", f"gpu.count={n}") for n in (2, 4, 8)}
    for _n, j in per_count.items():
        assert j == pytest.approx(per_count[2], rel=0.05), per_count
