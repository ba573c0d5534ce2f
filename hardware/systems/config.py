"""The typed configs of the LLM serving systems and the choices they take.

Each choice is a ``StrEnum``: its members are the exact strings the CLI, TOML files, JSON and
CSV use (``KvMode.STATIC == "static"``, ``f"{KvMode.STATIC}"`` is ``static``), so files stay
identical while code compares against names, not literals. A config built from a wrong string
(``kv_mode="statc"``) fails at construction with a ConfigError naming the field and the
allowed values: a typo can never silently mean another mode.

LoL-PIM and CENT share one PIM base (module, count, shape, KV, chunking, weights); each adds
only what is its own. Every field has units in its name where it has units.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import ClassVar

from lolpim.core.errors import ConfigError


class KvMode(StrEnum):
    DYNAMIC = "dynamic"     # chunks mapped as a sequence grows (paged)
    STATIC = "static"       # the longest context reserved on admission


class Admission(StrEnum):
    # how a host admits waiting requests when a micro-batch comes back (actors/llm/host.py)
    EVEN_GROWTH = "even-growth"   # pipeline-parallel PIM: micro-batches grow in step, one request apart
    VLLM = "vllm"                 # every waiting request that fits the KV memory and the step's budgets


class AllReduce(StrEnum):
    # a GPU group's tensor-parallel all-reduce (hardware/links.py)
    NCCL_RING = "nccl-ring"             # NCCL, published latencies for small messages
    CUSTOM_ONESHOT = "custom-oneshot"   # vLLM / TensorRT-LLM one-shot kernel (NCCL where that is faster)


class Partitioning(StrEnum):
    TOKEN_CENTRIC = "token-centric"
    HEAD_FIRST = "head-first"


class Parallelism(StrEnum):
    PIPELINE = "pipeline"
    TENSOR = "tensor"


class Prefill(StrEnum):
    BEFORE = "before"              # prompts prefilled ahead of decode (charged to TTFT, not throughput)
    INLINE = "inline"              # each system prefills in its own passes
    ATTACHED_GPU = "attached-gpu"  # PIM systems prefill on an attached GPU, overlapping decode


class SystemKind(StrEnum):
    LOLPIM = "lolpim"
    GPU = "gpu"
    GPU_PIM = "gpu-pim"
    CENT = "cent"
    NEUPIMS = "neupims"          # xPU+PIM baseline (NeuPIMs-style)
    LOLPIM_XPU = "lolpim-xpu"    # LoL-PIM's techniques on the xPU+PIM module


# what `system = "compare"` runs unless `systems` says otherwise: the main job's four systems
# (the xPU+PIM pair is asked for by name: `systems = lolpim,neupims,lolpim-xpu,cent,gpu`)
DEFAULT_COMPARE = (SystemKind.LOLPIM, SystemKind.GPU, SystemKind.GPU_PIM, SystemKind.CENT)


class CentDataflow(StrEnum):
    # "ideal": optimally scheduled AiM GEMVs, heads split over tensor-parallel devices, 3 TFLOPS
    # near-memory unit, ring all-reduces; "artifact": CENT's published design as its own simulator
    # prices it (hardware/pim/cent_dataflow.py)
    IDEAL = "ideal"
    ARTIFACT = "artifact"


WEIGHT_BITS = (16, 8, 3, 2, 1)


def allowed_values(enum: type[Enum]) -> str:
    return ", ".join(repr(m.value) for m in enum)


def as_enum(enum: type[Enum], value, key: str):
    """``value`` as a member of ``enum``, or a ConfigError naming ``key`` and the allowed values."""
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except (ValueError, TypeError):
        raise ConfigError(key, f"got {value!r}; allowed values: {allowed_values(enum)}") from None


_ENUM_FIELDS: dict[type, tuple] = {}


def _enum_fields(cls) -> tuple:
    """(field name, enum class) for every enum-typed field of dataclass ``cls`` (cached)."""
    found = _ENUM_FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls)
                      if isinstance(hints[f.name], type) and issubclass(hints[f.name], Enum))
        _ENUM_FIELDS[cls] = found
    return found


class EnumFields:
    """Mixin for frozen config dataclasses: strings given for enum fields become members
    (or a clear ConfigError), however the config was built."""

    def __post_init__(self):
        for name, enum in _enum_fields(type(self)):
            object.__setattr__(self, name, as_enum(enum, getattr(self, name), name))


@dataclass(frozen=True)
class PimSystemConfig(EnumFields):
    """What every PIM system (LoL-PIM, CENT, and the xPU+PIM pair) is configured by."""
    # how a stage is priced: "pim" (everything on the banks and the near-memory unit) or "xpu"
    # (FC GEMMs on matrix units beside the banks, attention on the banks: hardware/pim/xpu.py)
    stage_kind: ClassVar[str] = "pim"
    module: str = "lolpim-module"
    modules: int = field(default=0, metadata={"min": 0, "max": 4096})   # 0: pim_capacity_gb / module size
    # modules per pipeline stage (a tensor-parallel group)
    tensor_parallel: int = field(default=1, metadata={"min": 1, "max": 4096})
    kv_mode: KvMode = KvMode.DYNAMIC
    partitioning: Partitioning = Partitioning.TOKEN_CENTRIC
    microbatches: int = field(default=0, metadata={"min": 0, "max": 4096})  # 0: one per pipeline stage
    max_microbatch_requests: int = field(default=64, metadata={"min": 1, "max": 100_000})
    chunk_bytes: int = field(default=1 << 20, metadata={"min": 4096})      # KV allocation unit
    weight_bits: int = field(default=16, metadata={"choices": WEIGHT_BITS})


@dataclass(frozen=True)
class LolpimSystemConfig(PimSystemConfig):
    parallelism: Parallelism = Parallelism.PIPELINE
    # parallelism = "tensor" means all modules in one stage; 0 = choose the shape with the best
    # estimated throughput (hardware/systems/shape.py)
    tensor_parallel: int = field(default=1, metadata={"min": 0, "max": 4096})


@dataclass(frozen=True)
class CentSystemConfig(PimSystemConfig):
    module: str = "cent-module"
    kv_mode: KvMode = KvMode.STATIC
    partitioning: Partitioning = Partitioning.HEAD_FIRST
    dataflow: CentDataflow = CentDataflow.IDEAL


@dataclass(frozen=True)
class NeupimsSystemConfig(PimSystemConfig):
    """NeuPIMs-style xPU+PIM baseline: matrix units run the FC GEMMs at batch, the banks run
    attention GEMVs, both overlapped (dual row buffers); static KV, head-first mapping, one input
    buffer entry and single-port outputs (the neupims-module preset); pipeline across modules
    as CENT here."""
    stage_kind: ClassVar[str] = "xpu"
    module: str = "neupims-module"
    kv_mode: KvMode = KvMode.STATIC
    partitioning: Partitioning = Partitioning.HEAD_FIRST


@dataclass(frozen=True)
class LolpimXpuSystemConfig(LolpimSystemConfig):
    """LoL-PIM's techniques on the same xPU+PIM module: dynamic DPA KV, token-centric attention,
    dynamic command scheduling (the lolpim-xpu-module preset), pipeline across modules."""
    stage_kind: ClassVar[str] = "xpu"
    module: str = "lolpim-xpu-module"


@dataclass(frozen=True)
class GpuSystemConfig(EnumFields):
    device: str = "a100-80gb"
    count: int = field(default=0, metadata={"min": 0, "max": 1024})    # 0: capacity-matched to the PIM system
    block_tokens: int = field(default=16, metadata={"min": 1, "max": 65536})   # paged-KV block (vLLM: 16)
    activation_reserve_fraction: float = field(default=0.1, metadata={"min": 0.0, "max": 0.9})
    # vLLM-style admission (docs/lolpim-system.md): vLLM's max_num_seqs, its default 256
    max_batch_requests: int = field(default=256, metadata={"min": 1, "max": 100_000})
    # vLLM's max_num_batched_tokens: tokens one step may compute (decode tokens, plus prompt
    # tokens when prompts are prefilled inline); 8192 = vLLM 0.9's default on A100 (offline LLM class)
    max_num_batched_tokens: int = field(default=8192, metadata={"min": 1, "max": 10_000_000})
    allreduce: AllReduce = AllReduce.NCCL_RING
    admission: Admission = Admission.VLLM     # even-growth: the old one-per-step rule, as a control


@dataclass(frozen=True)
class GpuPimSystemConfig(EnumFields):
    device: str = "a100-80gb"
    hbm_pim: str = "attacc-bg"
    count: int = field(default=0, metadata={"min": 0, "max": 1024})    # 0: same GPU count as the gpu system
    # HBM-PIM stacks beside each GPU; 0: capacity-matched, i.e. all stacks together hold
    # pim_capacity_gb (the LoL-PIM system's PIM capacity), as few as the preset's stack size allows
    stacks_per_device: int = field(default=0, metadata={"min": 0, "max": 64})
    block_tokens: int = field(default=16, metadata={"min": 1, "max": 65536})
    max_batch_requests: int = field(default=256, metadata={"min": 1, "max": 100_000})   # vLLM's max_num_seqs
    max_num_batched_tokens: int = field(default=8192, metadata={"min": 1, "max": 10_000_000})   # as gpu's
    allreduce: AllReduce = AllReduce.NCCL_RING
    admission: Admission = Admission.VLLM
