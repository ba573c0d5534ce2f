"""The config of `lolpim run`: which system(s), the model, the workload, each system's knobs.

Every field has units in its name where it has units; presets are named, not inlined.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lolpim.models.llm.workload import ARRIVALS, dataset_names

from lolpim.orchestration.pipeline_demo import PipelineDemoConfig

KV_MODES = ("dynamic", "static")
PARTITIONINGS = ("token-centric", "head-first")
PARALLELISMS = ("pipeline", "tensor")
PREFILL_MODES = ("before", "inline", "attached-gpu")
SYSTEM_KINDS = ("lolpim", "gpu", "gpu-pim", "cent")
WEIGHT_BITS = (16, 8, 3, 2, 1)
# how a CENT device is priced: "ideal" (optimally scheduled AiM GEMVs, heads split over tensor-parallel
# devices, 3 TFLOPS near-memory unit, ring all-reduces) or "artifact" (CENT's published design as its
# own simulator prices it: hardware/pim/cent_dataflow.py)
CENT_DATAFLOWS = ("ideal", "artifact")


@dataclass(frozen=True)
class WorkloadConfig:
    # a dataset from models/llm/datasets.toml, "fixed" (input_tokens/output_tokens), or "csv"
    source: str = field(default="longbench-qmsum", metadata={"choices": tuple(dataset_names()) + ("fixed", "csv")})
    requests: int = field(default=32, metadata={"min": 1, "max": 1_000_000})
    input_tokens: int = field(default=16384, metadata={"min": 1, "max": 10_000_000})   # for source = "fixed"
    output_tokens: int = field(default=0, metadata={"min": 0, "max": 1_000_000})  # 0: the dataset's range
    arrival: str = field(default="closed", metadata={"choices": ARRIVALS})
    arrival_rate_per_s: float = field(default=1.0, metadata={"min": 0.0})
    csv_path: str = ""


@dataclass(frozen=True)
class LolpimSystemConfig:
    module: str = "lolpim-module"
    modules: int = field(default=0, metadata={"min": 0, "max": 4096})   # 0: pim_capacity_gb / module size
    parallelism: str = field(default="pipeline", metadata={"choices": PARALLELISMS})
    # modules per pipeline stage (a tensor-parallel group); parallelism = "tensor" means all of
    # them; 0 = choose the shape with the best estimated throughput (orchestration/llm/shape.py)
    tensor_parallel: int = field(default=1, metadata={"min": 0, "max": 4096})
    kv_mode: str = field(default="dynamic", metadata={"choices": KV_MODES})
    partitioning: str = field(default="token-centric", metadata={"choices": PARTITIONINGS})
    microbatches: int = field(default=0, metadata={"min": 0, "max": 4096})  # 0: one per pipeline stage
    chunk_bytes: int = field(default=1 << 20, metadata={"min": 4096})
    weight_bits: int = field(default=16, metadata={"choices": WEIGHT_BITS})
    max_microbatch_requests: int = field(default=64, metadata={"min": 1, "max": 100_000})


@dataclass(frozen=True)
class CentSystemConfig:
    module: str = "cent-module"
    modules: int = field(default=0, metadata={"min": 0, "max": 4096})   # 0: pim_capacity_gb / module size
    kv_mode: str = field(default="static", metadata={"choices": KV_MODES})
    tensor_parallel: int = field(default=1, metadata={"min": 1, "max": 4096})
    partitioning: str = field(default="head-first", metadata={"choices": PARTITIONINGS})
    microbatches: int = field(default=0, metadata={"min": 0, "max": 4096})
    max_microbatch_requests: int = field(default=64, metadata={"min": 1, "max": 100_000})
    dataflow: str = field(default="ideal", metadata={"choices": CENT_DATAFLOWS})


@dataclass(frozen=True)
class GpuSystemConfig:
    device: str = "a100-80gb"
    count: int = field(default=0, metadata={"min": 0, "max": 1024})    # 0: capacity-matched to the PIM system
    block_tokens: int = field(default=16, metadata={"min": 1, "max": 65536})   # paged-KV block (vLLM: 16)
    activation_reserve_fraction: float = field(default=0.1, metadata={"min": 0.0, "max": 0.9})
    max_batch_requests: int = field(default=256, metadata={"min": 1, "max": 100_000})


@dataclass(frozen=True)
class GpuPimSystemConfig:
    device: str = "a100-80gb"
    hbm_pim: str = "attacc-bg"
    count: int = field(default=0, metadata={"min": 0, "max": 1024})    # 0: same GPU count as the gpu system
    # HBM-PIM stacks beside each GPU; 0: capacity-matched, i.e. all stacks together hold
    # pim_capacity_gb (the LoL-PIM system's PIM capacity), as few as the preset's stack size allows
    stacks_per_device: int = field(default=0, metadata={"min": 0, "max": 64})
    block_tokens: int = field(default=16, metadata={"min": 1, "max": 65536})
    max_batch_requests: int = field(default=256, metadata={"min": 1, "max": 100_000})


@dataclass(frozen=True)
class RunConfig:
    system: str = field(default="compare", metadata={"choices": ("compare",) + SYSTEM_KINDS + ("pipeline-demo",)})
    model: str = "qwen1.5-7b"
    pim_capacity_gb: float = field(default=128.0, metadata={"min": 1.0, "max": 1_000_000.0})
    # before: prompts are prefilled ahead of decode (charged to TTFT, not to decode throughput);
    # inline: each system prefills in its own passes (PIM near-memory unit / GPU);
    # attached-gpu: PIM systems prefill on `prefill_gpu`, overlapping decode
    prefill: str = field(default="before", metadata={"choices": PREFILL_MODES})
    prefill_gpu: str = "a100-80gb"
    systems: tuple[str, ...] = ("lolpim", "gpu", "gpu-pim", "cent")   # which systems "compare" runs
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    lolpim: LolpimSystemConfig = field(default_factory=LolpimSystemConfig)
    cent: CentSystemConfig = field(default_factory=CentSystemConfig)
    gpu: GpuSystemConfig = field(default_factory=GpuSystemConfig)
    gpu_pim: GpuPimSystemConfig = field(default_factory=GpuPimSystemConfig)
    pipeline: PipelineDemoConfig = field(default_factory=PipelineDemoConfig)   # system = "pipeline-demo"

    def __post_init__(self):
        from lolpim.core.errors import ConfigError
        bad = [s for s in self.systems if s not in SYSTEM_KINDS]
        if bad:
            raise ConfigError("systems", f"unknown system {bad[0]!r}; allowed: {', '.join(SYSTEM_KINDS)}")
