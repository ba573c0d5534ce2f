"""cent.dataflow: "ideal" (default) or "artifact" (hardware/pim/cent_dataflow.py); anything else is a
clear error naming the key and the allowed values."""
from lolpim.hardware.systems.plan import pim_plan
from lolpim.models.llm.architecture import load_llm
from lolpim.orchestration import config
from lolpim.orchestration.cli import main
from lolpim.orchestration.llm.config import RunConfig


def test_unknown_cent_dataflow_is_a_clear_error(capsys):
    assert main(["run", "--set", "systems=cent", "--set", "cent.dataflow=cycle", "--executor", "inline"]) == 2
    err = capsys.readouterr().err
    assert "cent.dataflow" in err and "'ideal', 'artifact'" in err and "Traceback" not in err


def test_dataflow_reaches_the_cent_stage_costs_only_when_asked():
    def plan(kind, *overrides):
        cfg = config.load(RunConfig, None, ["model=qwen1.5-7b", *overrides])
        return pim_plan(load_llm(cfg.model), getattr(cfg, kind), cfg.pim_capacity_gib)

    ideal = plan("cent")
    assert all(c.dataflow == "ideal" for c in ideal.stage_costs)        # default: nothing changes
    art = plan("cent", "cent.dataflow=artifact")
    assert {c.dataflow for c in art.stage_costs} == {"artifact"}
    assert {c.system_devices for c in art.stage_costs} == {art.modules}
    lolpim = plan("lolpim", "cent.dataflow=artifact")
    assert all(c.dataflow == "ideal" for c in lolpim.stage_costs)


def test_the_description_names_a_chosen_dataflow_once():
    # the CENT builder adds it (orchestration/llm/kinds.py); the shared PIM builder once did too
    from lolpim.orchestration.llm.systems import build, make_trace

    def description(*overrides):
        cfg = config.load(RunConfig, None, ["workload.requests=4", "workload.output_tokens=4", *overrides])
        return build("cent", cfg, make_trace(cfg, 0), 0).description

    assert description("cent.dataflow=artifact").count("artifact dataflow") == 1
    assert "dataflow" not in description()
