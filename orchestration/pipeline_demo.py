"""`lolpim run --set system=pipeline-demo`: the kernel's own closed-loop pipeline,
with its simulated figures printed beside the analytic formulas."""
from __future__ import annotations

from dataclasses import dataclass, field

from lolpim.actors.kernel.events import ps_to_seconds
from lolpim.actors.demo.pipeline import PipelineShape


@dataclass(frozen=True)
class PipelineDemoConfig:
    stages: int = field(default=8, metadata={"min": 1, "max": 4096})
    stage_service_s: float = field(default=1e-3, metadata={"min": 1e-9, "max": 10.0})
    # service time of stage i = stage_service_s * (1 + service_skew * i / (stages - 1)): 0 = uniform
    # (PipelineShape.from_seconds)
    service_skew: float = field(default=0.0, metadata={"min": 0.0, "max": 10.0})
    link_latency_s: float = field(default=2e-6, metadata={"min": 1e-12, "max": 1.0})
    microbatches: int = field(default=8, metadata={"min": 1, "max": 100000})
    rounds: int = field(default=64, metadata={"min": 1, "max": 10**7})
    jitter: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})

    def shape(self) -> PipelineShape:
        return PipelineShape.from_seconds(self.stages, self.stage_service_s, self.service_skew, self.link_latency_s,
                                          self.microbatches, self.rounds, self.jitter)


def summarise(cfg: PipelineDemoConfig, run) -> dict:
    shape = cfg.shape()
    src = run.results["source"]
    makespan_s = ps_to_seconds(src["makespan_ps"])
    rounds = src["completed_rounds"]
    # whole-run throughput (includes the first round's fill): the analytic figure is steady state
    simulated_tp = rounds / makespan_s if makespan_s else 0.0
    analytic = {"round_trip_s": ps_to_seconds(shape.round_trip_ps()),
                "throughput_rounds_per_s": shape.throughput_rounds_per_s()}
    uniform = cfg.service_skew == 0 and cfg.jitter == 0
    if uniform:
        analytic["makespan_s"] = ps_to_seconds(shape.uniform_makespan_ps())
    busy = {name: ps_to_seconds(r["busy_ps"]) / makespan_s for name, r in run.results.items() if name != "source"}
    return {
        "system": "pipeline-demo",
        "simulated": {"makespan_s": makespan_s, "completed_rounds": rounds, "throughput_rounds_per_s": simulated_tp,
                      "mean_round_latency_s": ps_to_seconds(src["mean_round_latency_ps"]),
                      "max_round_latency_s": ps_to_seconds(src["max_round_latency_ps"]),
                      "mean_stage_utilisation": sum(busy.values()) / len(busy),
                      "events": run.events},
        "analytic": analytic,
        "stage_utilisation": busy,
    }


def format_summary(summary: dict) -> str:
    sim, ana = summary["simulated"], summary["analytic"]
    rows = [("quantity", "simulated", "analytic"),
            ("round trip (first round) [s]", f"{sim['mean_round_latency_s']:.6g} (mean)", f"{ana['round_trip_s']:.6g}"),
            ("throughput [rounds/s]", f"{sim['throughput_rounds_per_s']:.6g}",
             f"{ana['throughput_rounds_per_s']:.6g} (steady state)"),
            ("makespan [s]", f"{sim['makespan_s']:.6g}", f"{ana['makespan_s']:.6g}" if "makespan_s" in ana else "n/a"),
            ("mean stage utilisation", f"{sim['mean_stage_utilisation']:.1%}", ""),
            ("events processed", str(sim["events"]), "")]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(x) for c, x in zip(r, w)) for r in rows)
