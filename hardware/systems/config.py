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
from enum import Enum
from typing import ClassVar

from lolpim.core.compat import StrEnum
from lolpim.core.errors import ConfigError
from lolpim.core.presets import absolute_file_reference, is_file_reference
# the choices the device models price with are defined beside them, and taken by the configs here
from lolpim.hardware.pim.attention import AttentionMapping
from lolpim.hardware.pim.cent_dataflow import CentDataflow


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


class StageKind(StrEnum):
    """How a pipeline stage is priced (hardware/systems/stage_costs.py)."""
    PIM = "pim"            # layers on a PIM module: banks and near-memory unit (LoL-PIM, CENT)
    XPU = "xpu"            # layers on an xPU+PIM module: matrix units run FC GEMMs, banks attention (NeuPIMs-style)
    GPU = "gpu"            # a tensor-parallel GPU group running the whole model
    GPU_PIM = "gpu-pim"    # GPUs run FC, HBM-PIM runs attention (AttAcc-style)


class Parallelism(StrEnum):
    PIPELINE = "pipeline"
    TENSOR = "tensor"


class Prefill(StrEnum):
    BEFORE = "before"              # prompts prefilled ahead of decode (charged to TTFT, not throughput)
    INLINE = "inline"              # each system prefills in its own passes
    ATTACHED_GPU = "attached-gpu"  # PIM systems prefill on an attached GPU, overlapping decode


class SystemKind(StrEnum):
    """The names of the built-in system kinds, for code that means one of them (the bracket's
    LoL-PIM, the long-context study's pairs). Which kinds a run accepts, and everything about each
    (config, builder, plot style, ...), is the registry's: orchestration/llm/registry.py, where a
    plugin adds a kind without a member here."""
    LOLPIM = "lolpim"
    GPU = "gpu"
    GPU_PIM = "gpu-pim"
    CENT = "cent"
    NEUPIMS = "neupims"          # xPU+PIM baseline (NeuPIMs-style)
    LOLPIM_XPU = "lolpim-xpu"    # LoL-PIM's techniques on the xPU+PIM module


class AttentionPlacement(StrEnum):
    # where a GPU+PIM system keeps KV and runs decode attention
    HBM_PIM = "hbm-pim"   # AttAcc as published: all KV and attention in HBM-PIM, the preset's FLOPs per byte
    BEST = "best"         # KV in the GPUs' spare HBM too; each step's attention split between GPU and
                          # HBM-PIM so it finishes first (hbm_pim.split_attention), GQA-aware FLOPs per byte


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
    (or a clear ConfigError), and a user's own preset (``file:<path>.toml`` in a field that names
    a preset) gets an absolute path, however the config was built."""
    # every class using the mixin is a dataclass; declared so the checker knows fields(self) holds
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[typing.Any]]]

    def __post_init__(self):
        for name, enum in _enum_fields(type(self)):
            object.__setattr__(self, name, as_enum(enum, getattr(self, name), name))
        for f in dataclasses.fields(self):
            if "preset" in f.metadata and is_file_reference(getattr(self, f.name)):
                object.__setattr__(self, f.name, absolute_file_reference(getattr(self, f.name)))


@dataclass(frozen=True)
class PimSystemConfig(EnumFields):
    """What every PIM system (LoL-PIM, CENT, and the xPU+PIM pair) is configured by."""
    # how a stage is priced: "pim" (everything on the banks and the near-memory unit) or "xpu"
    # (FC GEMMs on matrix units beside the banks, attention on the banks: hardware/pim/xpu.py)
    stage_kind: ClassVar[StageKind] = StageKind.PIM
    module: str = field(default="lolpim-module", metadata={"preset": "pim"})
    modules: int = field(default=0, metadata={"min": 0, "max": 4096})   # 0: pim_capacity_gib / module size
    # modules per pipeline stage (a tensor-parallel group); 0 = the shape with the best estimated
    # throughput for this system (hardware/systems/shape.py)
    tensor_parallel: int = field(default=1, metadata={"min": 0, "max": 4096})
    # pipelines side by side (data-parallel replicas, each stages x tensor_parallel modules, the
    # host's waiting requests shared between them); 0 = with the shape: where the shape is
    # automatic (tensor_parallel = 0) the count with the best estimated throughput, chosen with
    # the width (hardware/systems/shape.py), and one pipeline where the width is given; N = N
    # pipelines (with tensor_parallel = 0, the best width for N)
    data_parallel: int = field(default=0, metadata={"min": 0, "max": 4096})
    kv_mode: KvMode = KvMode.DYNAMIC
    microbatches: int = field(default=0, metadata={"min": 0, "max": 4096})  # 0: one per pipeline stage
    max_microbatch_requests: int = field(default=64, metadata={"min": 1, "max": 100_000})
    chunk_bytes: int = field(default=1 << 20, metadata={"min": 4096})      # KV allocation unit
    weight_bits: int = field(default=16, metadata={"choices": WEIGHT_BITS})

    @property
    def attention_mapping(self) -> AttentionMapping:
        """How decode attention is laid over the channels. Every PIM kind has one: a baseline's
        field (CENT, NeuPIMs), LoL-PIM's partitioning; a subclass that gives none cannot be priced."""
        raise NotImplementedError(f"{type(self).__name__} gives no attention_mapping (a field or a property)")


@dataclass(frozen=True)
class LolpimSystemConfig(PimSystemConfig):
    partitioning: Partitioning = Partitioning.TOKEN_CENTRIC
    # "tensor" means all modules in one stage (tensor_parallel is then ignored)
    parallelism: Parallelism = Parallelism.PIPELINE

    @property
    def attention_mapping(self) -> AttentionMapping:
        return AttentionMapping(self.partitioning)


@dataclass(frozen=True)
class CentSystemConfig(PimSystemConfig):
    """CENT as published (the defaults: head-first, static KV) or at its best (BASELINE_ENDS)."""
    module: str = field(default="cent-module", metadata={"preset": "pim"})
    kv_mode: KvMode = KvMode.STATIC
    attention_mapping: AttentionMapping = AttentionMapping.HEAD_FIRST
    dataflow: CentDataflow = CentDataflow.IDEAL


@dataclass(frozen=True)
class NeupimsSystemConfig(PimSystemConfig):
    """NeuPIMs-style xPU+PIM baseline: matrix units run the FC GEMMs at batch, the banks run
    attention GEMVs, both overlapped (dual row buffers); one input buffer entry and single-port
    outputs; pipeline across modules as CENT here. The defaults are NeuPIMs as its artifact
    publishes it: a whole request per channel (greedy least-loaded), KV rows grown on demand,
    HBM2 memory (neupims-hbm2-module); BASELINE_ENDS has its best end."""
    stage_kind: ClassVar[StageKind] = StageKind.XPU
    module: str = field(default="neupims-hbm2-module", metadata={"preset": "pim"})
    kv_mode: KvMode = KvMode.DYNAMIC
    attention_mapping: AttentionMapping = AttentionMapping.REQUEST_PER_CHANNEL


@dataclass(frozen=True)
class LolpimXpuSystemConfig(LolpimSystemConfig):
    """LoL-PIM's techniques on the same xPU+PIM module: dynamic DPA KV, token-centric attention,
    dynamic command scheduling (the lolpim-xpu-module preset), pipeline across modules."""
    stage_kind: ClassVar[StageKind] = StageKind.XPU
    module: str = field(default="lolpim-xpu-module", metadata={"preset": "pim"})


# The two ends of each built-in baseline's bracket (each kind's descriptor carries its own:
# orchestration/llm/kinds.py): "published" = the system as its paper or artifact
# describes it (its table's defaults), "best" = the best a system of its class could do on the
# same hardware budget. Each end is a set of keys of the system's table (`--set <table>.<key>`);
# a key an end does not name keeps the run's own setting. `lolpim run` and the long-context study
# run both ends and report every LoL-PIM ratio as [vs best, vs published]; a best end slower than
# the published one on a run is not credited (the published end counts as best there).
BASELINE_ENDS: dict[SystemKind, dict[str, dict[str, str]]] = {
    # CENT (ASPLOS'25): head-first, static reservations (compile-time address streams); at best the
    # same module and KV with attention spread over every channel (the channel-level mapping is a
    # compiler choice, the static KV a consequence of its design)
    SystemKind.CENT: {"published": {"attention_mapping": "head-first", "kv_mode": "static"},
                      "best": {"attention_mapping": "token-centric", "kv_mode": "static"}},
    # NeuPIMs (ASPLOS'24 artifact): a whole request per channel, on-demand KV rows, HBM2; at best a
    # token spread over the channels of the LoL-PIM v3 Table IV module (AiM timing, 32 TB/s)
    SystemKind.NEUPIMS: {"published": {"attention_mapping": "request-per-channel", "kv_mode": "dynamic",
                                       "module": "neupims-hbm2-module"},
                         "best": {"attention_mapping": "token-centric", "kv_mode": "dynamic",
                                  "module": "neupims-module"}},
    # GPU+PIM (AttAcc, ASPLOS'24): all KV and attention in HBM-PIM at 1 FLOP/byte; at best attention
    # split per step between the GPUs' spare HBM and HBM-PIM, GQA-aware FLOPs per byte
    SystemKind.GPU_PIM: {"published": {"attention_placement": "hbm-pim"}, "best": {"attention_placement": "best"}},
}
# The ends differ in mapping, placement, KV and module only, not in shape: a comparison's shapes are
# set for LoL-PIM and the baselines alike (`<system>.tensor_parallel=0` gives each its own best
# estimated shape, pipelines side by side included with data_parallel's default 0; the long-context
# study and `lolpim size` do that for every system; the study simulates a baseline's best end at
# every count of pipelines and every width, its published end as one pipeline), so a baseline's
# best end never meets a LoL-PIM left in a poorer shape.
BRACKET_ENDS = ("best", "published")   # the order of speedup_bracket: [vs best, vs published]


@dataclass(frozen=True)
class GpuSystemConfig(EnumFields):
    stage_kind: ClassVar[StageKind] = StageKind.GPU   # the whole model on one tensor-parallel GPU group
    device: str = field(default="a100-80gb", metadata={"preset": "gpu"})
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
    stage_kind: ClassVar[StageKind] = StageKind.GPU_PIM   # FC on the GPUs, attention in HBM-PIM
    device: str = field(default="a100-80gb", metadata={"preset": "gpu"})
    hbm_pim: str = field(default="attacc-bg", metadata={"preset": "hbm_pim"})
    count: int = field(default=0, metadata={"min": 0, "max": 1024})    # 0: same GPU count as the gpu system
    # HBM-PIM stacks beside each GPU; 0: capacity-matched, i.e. all stacks together hold
    # pim_capacity_gib (the LoL-PIM system's PIM capacity), as few as the preset's stack size allows
    stacks_per_device: int = field(default=0, metadata={"min": 0, "max": 64})
    block_tokens: int = field(default=16, metadata={"min": 1, "max": 65536})
    max_batch_requests: int = field(default=256, metadata={"min": 1, "max": 100_000})   # vLLM's max_num_seqs
    max_num_batched_tokens: int = field(default=8192, metadata={"min": 1, "max": 10_000_000})   # as gpu's
    allreduce: AllReduce = AllReduce.NCCL_RING
    admission: Admission = Admission.VLLM
    attention_placement: AttentionPlacement = AttentionPlacement.BEST
    # HBM-PIM FLOPs per byte of internal bandwidth; 0: as attention_placement says (the preset's,
    # AttAcc's 1, for hbm-pim; the model's GQA group, at least the preset's, for best)
    ops_per_byte: float = field(default=0.0, metadata={"min": 0.0, "max": 1024.0})
