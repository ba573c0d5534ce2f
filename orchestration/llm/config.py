"""The config of `lolpim run`: which system(s), the model, the workload, each system's knobs.

The systems' own typed configs (and the choices as enums) live with their physics in
hardware/systems/config.py; this composes them with the workload and the pipeline demo.

Every field has units in its name where it has units; presets are named, not inlined.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lolpim.core.errors import ConfigError
from lolpim.hardware.systems.config import (DEFAULT_COMPARE, CentSystemConfig, GpuPimSystemConfig,
                                            GpuSystemConfig, LolpimSystemConfig, LolpimXpuSystemConfig,
                                            NeupimsSystemConfig, Prefill, SystemKind, as_enum)
from lolpim.models.llm.workload import ARRIVALS, TRACE_FORMATS, dataset_names
from lolpim.orchestration.pipeline_demo import PipelineDemoConfig

# what `system` may name besides one system kind
COMPARE, PIPELINE_DEMO = "compare", "pipeline-demo"
# the RunConfig table that configures each system kind (`--set <table>.<key>=...`), in the order
# sweeps list them
SYSTEM_TABLES = {SystemKind.LOLPIM: "lolpim", SystemKind.CENT: "cent", SystemKind.GPU: "gpu",
                 SystemKind.GPU_PIM: "gpu_pim", SystemKind.NEUPIMS: "neupims", SystemKind.LOLPIM_XPU: "lolpim_xpu"}


WORKLOAD_DEFAULT_SOURCE = "longbench-qmsum"


@dataclass(frozen=True)
class WorkloadConfig:
    # a dataset from models/llm/datasets.toml, "fixed" (input_tokens/output_tokens), or "csv"
    source: str = field(default=WORKLOAD_DEFAULT_SOURCE,
                        metadata={"choices": tuple(dataset_names()) + ("fixed", "csv")})
    requests: int = field(default=32, metadata={"min": 1, "max": 1_000_000})
    input_tokens: int = field(default=16384, metadata={"min": 1, "max": 10_000_000})   # for source = "fixed"
    output_tokens: int = field(default=0, metadata={"min": 0, "max": 1_000_000})  # 0: the dataset's range
    arrival: str = field(default="closed", metadata={"choices": ARRIVALS})
    arrival_rate_per_s: float = field(default=1.0, metadata={"min": 0.0})
    # a trace file (docs/traces.md); given alone it means source = "csv"
    csv_path: str = ""
    trace_format: str = field(default="auto", metadata={"choices": TRACE_FORMATS})   # auto: from the header
    time_scale: float = field(default=1.0, metadata={"min": 1e-9, "max": 1e9})   # trace arrivals x this
    # the first this many requests of the trace file (0: all of them; workload.requests sizes drawn traces)
    trace_requests: int = field(default=0, metadata={"min": 0, "max": 1_000_000})

    def __post_init__(self):
        # a trace file given without naming the source means that file; beside another named
        # source it is refused rather than silently ignored
        if self.csv_path and self.source != "csv":
            if self.source != WORKLOAD_DEFAULT_SOURCE:
                raise ConfigError("workload.source", f"is {self.source!r} but workload.csv_path is given; set "
                                                     "workload.source = 'csv' (or leave it out) to run the trace "
                                                     "file, or drop workload.csv_path")
            object.__setattr__(self, "source", "csv")


@dataclass(frozen=True)
class RunConfig:
    system: str = field(default=COMPARE, metadata={"choices": (COMPARE, *SystemKind, PIPELINE_DEMO)})
    model: str = "qwen1.5-7b"
    pim_capacity_gib: float = field(default=128.0, metadata={"min": 1.0, "max": 1_000_000.0})
    # before: prompts are prefilled ahead of decode (charged to TTFT, not to decode throughput);
    # inline: each system prefills in its own passes (PIM near-memory unit / GPU);
    # attached-gpu: PIM systems prefill on `prefill_gpu`, overlapping decode
    prefill: Prefill = Prefill.BEFORE
    prefill_gpu: str = "a100-80gb"
    systems: tuple[SystemKind, ...] = DEFAULT_COMPARE   # which systems "compare" runs
    # a comparison also runs each baseline at both ends of its bracket (BASELINE_ENDS: as published,
    # at its best) and reports LoL-PIM's speedup over it as [vs best, vs published]
    bracket: bool = True
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    lolpim: LolpimSystemConfig = field(default_factory=LolpimSystemConfig)
    cent: CentSystemConfig = field(default_factory=CentSystemConfig)
    gpu: GpuSystemConfig = field(default_factory=GpuSystemConfig)
    gpu_pim: GpuPimSystemConfig = field(default_factory=GpuPimSystemConfig)
    neupims: NeupimsSystemConfig = field(default_factory=NeupimsSystemConfig)
    lolpim_xpu: LolpimXpuSystemConfig = field(default_factory=LolpimXpuSystemConfig)
    pipeline: PipelineDemoConfig = field(default_factory=PipelineDemoConfig)   # system = "pipeline-demo"

    def __post_init__(self):
        # parsed strings (or ones given in Python) become members; a wrong one names the key
        object.__setattr__(self, "prefill", as_enum(Prefill, self.prefill, "prefill"))
        bad = [s for s in self.systems if s not in set(SystemKind)]
        if bad:
            raise ConfigError("systems", f"unknown system {bad[0]!r}; allowed: {', '.join(SystemKind)}")
        object.__setattr__(self, "systems", tuple(SystemKind(s) for s in self.systems))
