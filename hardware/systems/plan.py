"""How an LLM serving system is laid out on its hardware: modules or GPUs, pipeline stages,
the KV memory each DPA controller owns, each stage's cost description.

Pure functions of the resolved model, the system's typed config and the PIM capacity: no
actors, no Ray, no orchestration (orchestration/llm/systems.py turns a plan into actors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import GpuSpec, load_gpu
from lolpim.hardware.links import LinkSpec, load_link
from lolpim.hardware.pim import PimModuleSpec, load_pim_module
from lolpim.hardware.systems.config import (AttentionMapping, CentDataflow, CentSystemConfig, GpuSystemConfig,
                                            LolpimSystemConfig,
                                            Parallelism, PimSystemConfig)
from lolpim.hardware.systems.stage_costs import StageSpec, shard_model
from lolpim.models.llm.architecture import LlmConfig
from lolpim.models.llm.workload import Trace

GB = 2**30   # memory capacities are binary: "16 GB" modules hold 16 GiB


@dataclass(frozen=True)
class DpaMemory:
    """The KV memory one DPA controller owns: ``capacity_chunks`` chunks of ``tokens_per_chunk`` tokens."""
    capacity_chunks: int
    tokens_per_chunk: int


@dataclass(frozen=True)
class PimPlan:
    """How a PIM system is laid out: ``replicas`` identical pipelines side by side (data
    parallelism), each of ``stages`` stages of ``tensor_parallel`` modules; the KV memory each
    module's DPA controller owns and each stage's cost description."""
    modules: int                        # all of them, every pipeline's
    tensor_parallel: int
    stages: int                         # per pipeline
    dpa_specs: tuple[DpaMemory, ...]   # one per module, pipeline after pipeline
    stage_costs: tuple[StageSpec, ...]  # one per stage of a pipeline (every pipeline has the same)
    module: str
    link: LinkSpec
    replicas: int = 1


def split_layers(layers: int, parts: int) -> list[int]:
    """Contiguous, even layer ranges per pipeline stage. (Shifting layers off the last stage to
    offset the LM head was measured to lose more KV room on the fuller modules than it gained.)"""
    if parts > layers:
        raise ParameterError("modules", f"{parts} pipeline stages for {layers} layers: at most one stage per layer")
    return [layers // parts + (1 if i < layers % parts else 0) for i in range(parts)]


def pim_module_count(spec: PimModuleSpec, requested: int, pim_capacity_gib: float) -> int:
    """``requested`` modules, or (0) as many as hold ``pim_capacity_gib``."""
    if requested:
        return requested
    return max(1, round(pim_capacity_gib * GB / spec.capacity_bytes))


def allowed_tensor_parallel(model: LlmConfig, modules: int) -> tuple[int, ...]:
    """The modules per stage ``modules`` modules can be grouped by: t divides the modules and the
    model's query heads, and either divides its KV heads (each module keeps kv_heads / t of them)
    or is a multiple of them (each module keeps one, replicated t / kv_heads times). Any other
    width would leave some module more KV heads than the others (8 KV heads over 6 modules: two
    modules keep 2) while a stage's memory is planned as if they all kept the same share."""
    return tuple(t for t in range(1, modules + 1)
                 if modules % t == 0 and model.heads % t == 0 and (model.kv_heads % t == 0 or t % model.kv_heads == 0))


def check_tensor_parallel(model: LlmConfig, modules: int, tensor_parallel: int) -> None:
    """Refuse a width ``allowed_tensor_parallel`` does not list, naming the allowed ones."""
    if tensor_parallel in allowed_tensor_parallel(model, modules):
        return
    allowed = ", ".join(map(str, allowed_tensor_parallel(model, modules)))
    raise ParameterError("tensor_parallel", f"{tensor_parallel} modules per stage: a width must divide the {modules} "
                                            f"modules and the {model.heads} heads of {model.name}, and divide or be "
                                            f"a multiple of its {model.kv_heads} KV heads (allowed: {allowed}; "
                                            "0 = choose automatically)")


def check_fits(trace: Trace, dpa_specs, name: str) -> None:
    """Refuse a trace whose longest request cannot fit in one DPA memory."""
    longest = int(np.max(trace.input_tokens + trace.output_tokens))
    for dpa in dpa_specs:
        need = -(-longest // dpa.tokens_per_chunk)
        if need > dpa.capacity_chunks:
            raise ParameterError("workload", f"a request of {longest} tokens needs {need} KV chunks "
                                             f"but a {name} memory holds {dpa.capacity_chunks}: "
                                             "use more modules/devices")


def check_data_parallel(modules: int, replicas: int) -> None:
    if replicas < 1 or modules % replicas:
        raise ParameterError("data_parallel", f"{replicas} pipelines side by side: they must divide the {modules} "
                                              "modules (0 = choose automatically)")


def pim_plan(model: LlmConfig, system: PimSystemConfig, pim_capacity_gib: float,
             tensor_parallel: int | None = None, replicas: int | None = None) -> PimPlan:
    """The layout of a PIM system: LoL-PIM (``LolpimSystemConfig``, and its xPU+PIM form),
    CENT-style (``CentSystemConfig``) or NeuPIMs-style (``NeupimsSystemConfig``);
    ``tensor_parallel`` and ``replicas`` override the configured modules per stage and pipelines
    side by side (the automatic shape choice tries several). Every pipeline is the same: the
    modules split evenly, each pipeline ``modules / replicas`` of them."""
    spec = load_pim_module(system.module)
    total = pim_module_count(spec, system.modules, pim_capacity_gib)
    # pipelines side by side; 0 ("automatic") without a shape choice is one pipeline
    r = replicas or system.data_parallel or 1
    check_data_parallel(total, r)
    n = total // r       # modules of one pipeline
    # modules per pipeline stage: a stage is a tensor-parallel group (1 = pure pipeline)
    tensor = isinstance(system, LolpimSystemConfig) and system.parallelism == Parallelism.TENSOR    # LoL-PIM only
    tp = tensor_parallel or (n if tensor else system.tensor_parallel)
    if tp == 0:     # "choose automatically" is resolved by the builder before it asks for a plan
        raise ParameterError("tensor_parallel", "0 (automatic) needs a shape choice first: use choose_tensor_parallel")
    check_tensor_parallel(model, n, tp)
    stages = n // tp
    if stages > model.layers:
        raise ParameterError("modules", f"{stages} pipeline stages for the {model.layers} layers of {model.name}: "
                                        "every stage needs a layer; use fewer modules or more per stage")
    usable = spec.capacity_bytes - spec.channels * spec.reserved_bytes_per_channel
    layer_bytes = model.params_per_layer * system.weight_bits / 8
    head_bytes = model.vocab * model.hidden * system.weight_bits / 8   # embedding table or LM head
    chunk = system.chunk_bytes
    # KV one module keeps per token and layer: its shard's KV heads (replicated when a group is
    # wider than the model's KV heads, exactly as the cost model shards them; every module of an
    # allowed width keeps the same number)
    kv_layer_token = shard_model(model, tp).kv_bytes_per_token_per_layer()
    # every PIM kind has one (LoL-PIM's follows its partitioning)
    mapping = AttentionMapping(system.attention_mapping)
    common = StageSpec(kind=system.stage_kind, model=model, layers=0, device=system.module, n_devices=tp,
                       partitioning=mapping, weight_bits=system.weight_bits)
    if isinstance(system, CentSystemConfig) and system.dataflow != CentDataflow.IDEAL:
        common = replace(common, dataflow=system.dataflow, system_devices=n)
    dpa, costs = [], []
    for i, layers in enumerate(split_layers(model.layers, stages)):
        # every module of the group holds 1/tp of the stage's weights and of its KV heads
        weights = (layers * layer_bytes + head_bytes * ((i == 0) + (i == stages - 1))) / tp
        kv_bytes = usable - weights
        if kv_bytes < chunk:
            raise ParameterError("modules", f"{system.module} of stage {i} holds {weights / GB:.1f} GiB of weights "
                                            f"and has no room for KV: use more modules")
        memory = DpaMemory(int(kv_bytes // chunk), max(1, int(chunk // (kv_layer_token * layers))))
        dpa += [memory] * tp
        cost = replace(common, layers=layers, lm_head=i == stages - 1)
        if mapping == AttentionMapping.REQUEST_PER_CHANNEL:   # the tokens of one request one channel holds
            cost = replace(cost, channel_kv_tokens=max(1, memory.capacity_chunks * memory.tokens_per_chunk
                                                       // spec.channels))
        costs.append(cost)
    return PimPlan(total, tp, stages, tuple(dpa) * r, tuple(costs), system.module, load_link(spec.link), r)


def gpu_count(model: LlmConfig, gpu_system: GpuSystemConfig, pim_capacity_gib: float) -> int:
    """The configured GPU count, or (0) as many as hold ``pim_capacity_gib``, rounded up to a
    divisor of the heads (tensor parallelism splits them evenly)."""
    if gpu_system.count:
        return gpu_system.count
    gpu = load_gpu(gpu_system.device)
    n = max(1, math.ceil(pim_capacity_gib * GB / gpu.hbm_capacity_bytes - 1e-9))
    fitting = [d for d in range(n, model.heads + 1) if model.heads % d == 0]
    if not fitting:     # more GPUs than heads: no tensor-parallel group splits them evenly
        raise ParameterError("pim_capacity_gib", f"{pim_capacity_gib:g} GiB takes {n} x {gpu_system.device} "
                                                f"({gpu.hbm_capacity_bytes / GB:g} GiB each) to match, more than the "
                                                f"{model.heads} heads of {model.name} split over (tensor parallel); "
                                                f"at most {model.heads * gpu.hbm_capacity_bytes / GB:g} GiB, or set "
                                                "gpu.count (and gpu_pim.count)")
    return fitting[0]


def gpu_kv_bytes(model: LlmConfig, gpu: GpuSpec, n: int, reserve_fraction: float) -> float:
    """KV memory of ``n`` tensor-parallel GPUs, in bytes of the model's own KV (what the host's
    accounting counts): the HBM left after the weights and the activation reserve, less the
    copies kept when the GPUs outnumber the KV heads (each GPU keeps ceil(kv_heads / n) of them,
    replicated as vLLM does: 32 GPUs for 8 KV heads hold every head 4 times)."""
    free = n * gpu.hbm_capacity_bytes * (1 - reserve_fraction) - model.params_total * model.bytes_per_value
    return free * model.kv_heads / (n * math.ceil(model.kv_heads / n))
