"""The LLM-system physics (plans, shapes, sizing estimates) imports no orchestration, no actors and
no Ray, and answers from the model, the system's config and the capacity alone."""
import subprocess
import sys

from lolpim.hardware.systems.config import CentSystemConfig, LolpimSystemConfig
from lolpim.hardware.systems.plan import pim_plan, split_layers
from lolpim.hardware.systems.shape import choose_tensor_parallel
from lolpim.models.llm.architecture import load_llm
from lolpim.models.llm.workload import fixed_trace


def test_physics_imports_nothing_above_hardware():
    code = ("import sys, lolpim.hardware.systems.plan, lolpim.hardware.systems.shape, lolpim.hardware.systems.sizing; "
            "bad = [m for m in sys.modules if m == 'ray' or m.startswith(('lolpim.orchestration', 'lolpim.actors'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_plans_from_explicit_inputs():
    model = load_llm("qwen1.5-7b")
    plan = pim_plan(model, LolpimSystemConfig(), 128.0)
    assert plan.modules == 8 and plan.stages == 8 and len(plan.dpa_specs) == 8
    assert [c.layers for c in plan.stage_costs] == split_layers(model.layers, 8)
    cent = pim_plan(model, CentSystemConfig(tensor_parallel=2), 128.0)
    assert cent.tensor_parallel == 2 and all(c.partitioning == "head-first" for c in cent.stage_costs)
    choice = choose_tensor_parallel(model, LolpimSystemConfig(tensor_parallel=0), 128.0, fixed_trace(16, 4096, 64))
    assert choice.tensor_parallel in {c.tensor_parallel for c in choice.candidates}
