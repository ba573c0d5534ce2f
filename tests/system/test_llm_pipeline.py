"""LoL-PIM's pipeline behaviour emerges from messages: with P stages and M micro-batches
in flight, throughput follows the analytic pipeline formula min(M / C, 1 / s_max) (C: the
round trip through every stage and link) and the bubbles shrink as M grows to P."""
import pytest

from lolpim.actors.kernel.inline import InlineExecutor
from lolpim.orchestration import config
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import system_result
from lolpim.orchestration.llm.systems import build, make_trace

BASE = ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=256", "workload.output_tokens=48",
        "lolpim.modules=4", "lolpim.max_microbatch_requests=1", "lolpim.kv_mode=static"]


def run_lolpim(microbatches: int, extra=()):
    cfg = config.load(RunConfig, None, BASE + [f"workload.requests={microbatches}",
                                               f"lolpim.microbatches={microbatches}", *extra])
    built = build("lolpim", cfg, make_trace(cfg, 0), 0)
    run = InlineExecutor().run(built.spec)
    return built, run, system_result(built, run).to_dict()


@pytest.mark.parametrize("microbatches", [1, 2, 4, 8])
def test_throughput_matches_the_analytic_pipeline_formula(microbatches):
    built, run, summary = run_lolpim(microbatches)
    stages = [run.results[f"lolpim.stage{i:03d}"] for i in range(built.stages)]
    service_s = [s["busy_ps"] * 1e-12 / s["passes"] for s in stages]          # mean pass time per stage
    round_trip_s = summary["tpot_mean_s"] if microbatches == 1 else None
    single = run_lolpim(1)[2]["tpot_mean_s"]                                   # C: one micro-batch alone
    analytic = min(microbatches / single, 1.0 / max(service_s))                # tokens/s (1 request per mb)
    measured = summary["output_tokens"] / summary["makespan_s"]
    assert measured == pytest.approx(analytic, rel=0.03)
    if round_trip_s is not None:   # alone in the pipe: one token per round trip, stages mostly idle
        assert summary["module_utilisation"] == pytest.approx(sum(service_s) / built.stages / round_trip_s, rel=0.02)


def test_bubbles_shrink_as_microbatches_fill_the_pipeline():
    utilisation = [run_lolpim(m)[2]["module_utilisation"] for m in (1, 2, 4)]
    assert utilisation[0] < 0.3 < utilisation[2]
    assert utilisation[0] < utilisation[1] < utilisation[2]
