"""Small systems shared by the ops tests (metrics, deploy, multi-node)."""
import pytest

# The sweep/CLI tests' tiny LLM workload: 7B model, 4 requests of 512 + 8 tokens.
TINY_SET = ["model=llama2-7b", "workload.source=fixed", "workload.requests=4", "workload.input_tokens=512",
            "workload.output_tokens=8"]


def tiny_llm_system(system: str = "lolpim", extra: list[str] | None = None):
    from lolpim.orchestration import config as cfgmod
    from lolpim.orchestration.llm.config import RunConfig
    from lolpim.orchestration.llm.systems import build, make_trace
    cfg = cfgmod.load(RunConfig, None, TINY_SET + [f"system={system}"] + (extra or []))
    return build(system, cfg, make_trace(cfg, 0), 0)


def tiny_plasticity_system():
    from lolpim.actors.plasticity.ocular_dominance import ocular_dominance_system
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    cfg = od.OcularDominanceConfig(neurons=1, synapses_per_eye=4, binocular_s=0.5, deprivation_s=0.5)
    return ocular_dominance_system(cascade.load_params("hippocampal"), cfg, variant="network", seed=3, blocks=1)


@pytest.fixture
def tiny():
    """The helpers above, as a fixture (test modules cannot import a conftest)."""
    class Tiny:
        llm = staticmethod(tiny_llm_system)
        plasticity = staticmethod(tiny_plasticity_system)
        set = TINY_SET
    return Tiny
