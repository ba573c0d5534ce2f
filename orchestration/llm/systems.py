"""Building LLM serving systems (LoL-PIM and its baselines) as actor systems (their results are
read back by orchestration/llm/result_types.py).

The layouts (plans, shapes) are hardware physics (hardware/systems/plan.py, shape.py); this
module resolves the names in a RunConfig once (the model), asks for a plan and wires the host,
the stages and the KV managers of that plan as actors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.actors.kernel.system import ActorSpec, SystemSpec
from lolpim.actors.llm.host import GpuPrefill, LlmHost
from lolpim.actors.llm.kv_manager import KvManager
from lolpim.actors.llm.stage import LlmStage
from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import load_gpu
from lolpim.hardware.hbm_pim import choose_kv_layout, gqa_aware, load_hbm_pim
from lolpim.hardware.links import LinkSpec, load_link
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.systems.config import (Admission, AttentionPlacement, KvMode, LolpimSystemConfig, Parallelism,
                                            PimSystemConfig, Prefill, StageKind)
from lolpim.hardware.systems.plan import GB, DpaMemory, check_fits, gpu_count, gpu_kv_bytes, pim_plan
from lolpim.hardware.systems.shape import choose_tensor_parallel
from lolpim.hardware.systems.stage_costs import StageSpec
from lolpim.models.llm.architecture import LlmConfig, check_context, load_llm
from lolpim.models.llm.workload import Trace, dataset_trace, fixed_trace, load_trace_file
from lolpim.orchestration.llm import registry
from lolpim.orchestration.llm.config import RunConfig
from lolpim.orchestration.llm.result_types import Hardware


@dataclass(frozen=True)
class BuiltSystem:
    kind: str                      # a registered system kind (a SystemKind member for a built-in one)
    spec: SystemSpec
    description: str
    stages: int
    kv_capacity_bytes: float
    chunk_bytes: int
    devices: int
    hardware: Hardware | None = None   # what the system really has (devices, memory, power budget)
    decode_only: bool = False      # prefill = before: prompts are not simulated
    settings: dict | None = None   # choices recorded in the run JSON (gpu-pim: attention placement)
    attention_mapping: str | None = None   # PIM systems: how attention is laid over the channels


def make_trace(cfg: RunConfig, seed: int) -> Trace:
    w = cfg.workload
    out = w.output_tokens or None
    if w.source == "fixed":
        return fixed_trace(w.requests, w.input_tokens, w.output_tokens or 128, w.arrival, w.arrival_rate_per_s, seed)
    if w.source == "csv":
        if not w.csv_path:
            raise ParameterError("workload.csv_path", "needed when workload.source = 'csv'")
        return load_trace_file(w.csv_path, w.trace_format, w.time_scale, w.trace_requests)
    return dataset_trace(w.source, w.requests, w.arrival, w.arrival_rate_per_s, seed, output_tokens=out)


def resolve(cfg: RunConfig) -> LlmConfig:
    """The model ``cfg`` names, loaded once per build and passed down from here."""
    return load_llm(cfg.model)


@dataclass(frozen=True)
class Serving:
    """What one system's host, stages and KV managers are wired from."""
    stage_costs: tuple[StageSpec, ...]  # one per pipeline stage
    stage_link: LinkSpec                # between stages
    host_link: LinkSpec                 # host <-> first/last stage and DPAs
    dpa_specs: tuple[DpaMemory, ...]    # one per module
    kv_mode: KvMode
    microbatches: int
    max_microbatch_requests: int
    kv_capacity_bytes: float
    gpu_prefill: GpuPrefill | None
    prefill_before: bool
    admission: Admission = Admission.EVEN_GROWTH
    max_step_tokens: int = 0            # vllm admission: the pass's token budget (0: none)
    # consecutive modules whose DPA controllers one KV manager stands for: a stage's
    # tensor-parallel group, whose memories move in lockstep (actors/llm/kv_manager.py)
    modules_per_dpa: int = 1
    # identical pipelines side by side (data parallelism): each its own stages (stage_costs) and
    # KV managers (dpa_specs holds every pipeline's modules, one pipeline after another), one host
    pipelines: int = 1


def _assemble(kind: str, model: LlmConfig, trace: Trace, seed: int, serving: Serving) -> SystemSpec:
    group, pipes = serving.modules_per_dpa, serving.pipelines
    dpa_specs = serving.dpa_specs[::group]
    if any(serving.dpa_specs[i:i + group] != (d,) * group for i, d in zip(range(0, len(serving.dpa_specs), group),
                                                                          dpa_specs)):
        raise ValueError(f"DPA groups of {group} modules must each share one memory layout")
    if len(dpa_specs) % pipes:
        raise ValueError(f"{len(dpa_specs)} DPA groups do not split over {pipes} pipelines")
    # one pipeline keeps the names it always had (actor names order simultaneous events)
    prefixes = [f"{kind}."] if pipes == 1 else [f"{kind}.p{j:03d}." for j in range(pipes)]
    stage_names = [[f"{pre}stage{i:03d}" for i in range(len(serving.stage_costs))] for pre in prefixes]
    per_pipe = len(dpa_specs) // pipes
    dpa_names = [f"{prefixes[i // per_pipe]}dpa{i % per_pipe:03d}" for i in range(len(dpa_specs))]
    host = f"{kind}.host"
    static_reserve = trace.context_limit   # static KV reserves the longest context a request may reach
    actors = [ActorSpec(host, LlmHost, LlmHost.Params(
        input_tokens=tuple(trace.input_tokens.tolist()), output_tokens=tuple(trace.output_tokens.tolist()),
        arrival_ps=tuple(seconds_to_ps(a) for a in trace.arrival_s),
        first_stages=tuple(names[0] for names in stage_names),
        dpas=tuple(dpa_names), dpa_tokens_per_chunk=tuple(d.tokens_per_chunk for d in dpa_specs),
        kv_mode=serving.kv_mode, microbatches=serving.microbatches,
        max_microbatch_requests=serving.max_microbatch_requests, link_latency_s=serving.host_link.latency_s,
        kv_bytes_per_token=model.kv_bytes_per_token(), kv_capacity_bytes=serving.kv_capacity_bytes,
        gpu_prefill=serving.gpu_prefill, prefill_before=serving.prefill_before,
        admission=serving.admission, max_step_tokens=serving.max_step_tokens))]
    for names in stage_names:
        for i, cost in enumerate(serving.stage_costs):
            last = i + 1 == len(serving.stage_costs)
            link = serving.host_link if last else serving.stage_link
            actors.append(ActorSpec(names[i], LlmStage, LlmStage.Params(
                next_actor=host if last else names[i + 1], cost=cost,
                link_latency_s=link.latency_s + link.message_overhead_s,
                link_bandwidth_bytes_per_s=link.payload_bandwidth_bytes_per_s,
                activation_bytes_per_request=model.hidden * model.bytes_per_value)))
    static = serving.kv_mode == KvMode.STATIC
    for name, dpa in zip(dpa_names, dpa_specs):
        need = -(-static_reserve // dpa.tokens_per_chunk)
        if static and need > dpa.capacity_chunks:
            raise ParameterError("kv_mode", f"static KV reserves {static_reserve} tokens per request, which needs "
                                            f"{need} chunks on {name}; it has {dpa.capacity_chunks}")
        actors.append(ActorSpec(name, KvManager, KvManager.Params(
            host=host, capacity_chunks=dpa.capacity_chunks, tokens_per_chunk=dpa.tokens_per_chunk,
            kv_mode=serving.kv_mode, static_reserve_tokens=static_reserve, watermark_chunks=0 if static else 1,
            link_latency_s=serving.host_link.latency_s, modules=group)))
    return SystemSpec(tuple(actors), seed=seed)


def pim_system_config(kind: str, cfg: RunConfig) -> PimSystemConfig:
    """The table of ``cfg`` that configures PIM system ``kind``."""
    return cfg.table(kind)


def build_pim(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """A PIM system of any PIM kind (its table a PimSystemConfig): LoL-PIM (pipeline or tensor
    parallel over modules), the CENT-style PIM-only system, the xPU+PIM pair (NeuPIMs-style
    baseline, LoL-PIM on the xPU+PIM module), or a plugin's."""
    sub = pim_system_config(kind, cfg)
    spec = load_pim_module(sub.module)
    auto = None
    tensor = isinstance(sub, LolpimSystemConfig) and sub.parallelism == Parallelism.TENSOR
    try:
        # 0: the best shape for this system (LoL-PIM or a baseline), by the analytic estimate
        # (and, with data_parallel = 0, the default, how many pipelines side by side); a given
        # width stays as given, one pipeline unless data_parallel names more
        if sub.tensor_parallel == 0 and not tensor:
            auto = choose_tensor_parallel(model, sub, cfg.pim_capacity_gib, trace)
        plan = pim_plan(model, sub, cfg.pim_capacity_gib, auto.tensor_parallel if auto else None,
                        auto.replicas if auto else None)
    except ParameterError as exc:   # name the key the user sets: `neupims.tensor_parallel`, not `tensor_parallel`
        if exc.field not in ("tensor_parallel", "data_parallel"):
            raise
        raise ParameterError(f"{registry.get(kind).table}.{exc.field}", str(exc).split(": ", 1)[1]) from None
    n, tp, stages, link, chunk = plan.modules, plan.tensor_parallel, plan.stages, plan.link, sub.chunk_bytes
    pipes = plan.replicas
    microbatches = sub.microbatches or stages
    check_fits(trace, plan.dpa_specs, sub.module)
    gpu_prefill = None
    if cfg.prefill == Prefill.ATTACHED_GPU:
        gpu_prefill = GpuPrefill(cost=StageSpec(kind=StageKind.GPU, model=model, layers=model.layers, lm_head=True,
                                                device=cfg.prefill_gpu),
                                 link_bandwidth_bytes_per_s=link.payload_bandwidth_bytes_per_s)
    kv_total = sum(d.capacity_chunks for d in plan.dpa_specs) * chunk
    # even growth matters only when several micro-batches share the memory; one micro-batch
    # (a single stage) admits every waiting request that fits, as a GPU does
    admission = Admission.EVEN_GROWTH if microbatches > 1 else Admission.VLLM
    system = _assemble(kind, model, trace, seed, Serving(
        plan.stage_costs, link, link, plan.dpa_specs, sub.kv_mode, microbatches, sub.max_microbatch_requests,
        kv_total, gpu_prefill, cfg.prefill == Prefill.BEFORE, admission, modules_per_dpa=tp, pipelines=pipes))
    shape = "tensor-parallel" if stages == 1 else f"pipeline-parallel ({stages} stages" + (
        f" x {tp}-way tensor)" if tp > 1 else ")")
    if pipes > 1:
        shape = f"{pipes} data-parallel pipelines, each {shape}"
    if auto:
        shape += f" [chosen: {auto.summary()}]"
    hw = Hardware.of((n, sub.module, "PIM", spec.capacity_bytes, spec.power_w))
    # (CENT's builder adds its dataflow when it is not the ideal one: orchestration/llm/kinds.py)
    desc = f"{hw.label}; {shape}, {sub.kv_mode} KV, {sub.attention_mapping}, {microbatches} micro-batches" + (
        " each" if pipes > 1 else "")
    return BuiltSystem(kind, system, desc, len(plan.stage_costs), kv_total, chunk, n, hw, cfg.prefill == Prefill.BEFORE,
                       settings={"pipelines": pipes} if pipes > 1 else None,
                       attention_mapping=str(sub.attention_mapping))


def build_gpu(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """Multi-GPU (tensor parallel, paged KV) or GPU+HBM-PIM (AttAcc-style), as the kind's table's
    stage_kind says (a GpuSystemConfig or GpuPimSystemConfig, or a plugin's subclass of one)."""
    sub = cfg.table(kind)
    gpu = load_gpu(sub.device)
    n = sub.count or gpu_count(model, cfg.gpu, cfg.pim_capacity_gib)
    weights = model.params_total * model.bytes_per_value
    chunk = sub.block_tokens * model.kv_bytes_per_token()
    settings = None
    if sub.stage_kind == StageKind.GPU:
        kv_bytes = gpu_kv_bytes(model, gpu, n, cfg.gpu.activation_reserve_fraction)
        where = f"{n} x {sub.device}"
        hw = Hardware.of((n, sub.device, "HBM", gpu.hbm_capacity_bytes, gpu.tdp_w))
        desc = f"{hw.label}; tensor-parallel, paged KV"
        gpu_chunks, pim_chunks = int(max(kv_bytes, 0) // chunk), 0
    else:
        pim = load_hbm_pim(sub.hbm_pim)
        stacks = sub.stacks_per_device or max(1, round(cfg.pim_capacity_gib * GB / pim.stack_capacity_bytes / n))
        pim = replace(pim, stacks_per_device=stacks)
        if weights > n * gpu.hbm_capacity_bytes:
            raise ParameterError("gpu_pim.count", f"{n} x {sub.device} cannot hold {weights / GB:.0f} GiB of weights")
        best = sub.attention_placement == AttentionPlacement.BEST
        opb = sub.ops_per_byte or (gqa_aware(pim, model) if best else pim).ops_per_byte
        gpu_chunks, pim_chunks = 0, int(n * pim.capacity_bytes // chunk)
        if best:
            # KV also in the GPUs' own HBM, what the weights and the activation reserve leave (the
            # gpu system's rule); how much of each memory to use: the best steady estimate
            gpu_kv = max(0.0, gpu_kv_bytes(model, gpu, n, cfg.gpu.activation_reserve_fraction))
            block = sub.block_tokens
            layout = choose_kv_layout(
                gpu, replace(pim, ops_per_byte=opb), model, n, int(gpu_kv // chunk) * block, pim_chunks * block,
                mean_context=float(np.mean(trace.input_tokens + trace.output_tokens / 2.0)),
                longest=-(-int(np.max(trace.input_tokens + trace.output_tokens)) // block) * block,
                max_batch=min(len(trace), sub.max_batch_requests), unit_tokens=block)
            gpu_chunks, pim_chunks = layout.gpu_tokens // block, layout.pim_tokens // block
        kv_bytes = (gpu_chunks + pim_chunks) * chunk
        where = f"{n} x {sub.hbm_pim}"
        hw = Hardware.of((n, sub.device, "HBM", gpu.hbm_capacity_bytes, gpu.tdp_w),
                      (n, f"{sub.hbm_pim} ({pim.stacks_per_device} stacks)", "HBM-PIM", pim.capacity_bytes,
                       pim.stacks_per_device * pim.stack_power_w))
        # (the FLOPs per byte and the KV each memory holds: in the run JSON, the line stays short)
        desc = f"{hw.label}; attention {'where faster' if best else 'in HBM-PIM'}, paged KV"
        settings = {"attention_placement": str(sub.attention_placement), "hbm_pim_ops_per_byte": opb,
                    "gpu_kv_gib": gpu_chunks * chunk / GB, "hbm_pim_kv_gib": pim_chunks * chunk / GB}
    if kv_bytes <= 0:
        raise ParameterError(f"{registry.get(kind).table}.count",
                             f"{n} x {sub.device} cannot hold the {weights / GB:.0f} GiB of weights of {cfg.model}")
    dpa = (DpaMemory(gpu_chunks + pim_chunks, sub.block_tokens),)
    check_fits(trace, dpa, where)
    cost = StageSpec(kind=sub.stage_kind, model=model, layers=model.layers, lm_head=True, device=sub.device,
                     n_devices=n, allreduce=str(sub.allreduce))
    if sub.stage_kind == StageKind.GPU_PIM:
        cost = replace(cost, hbm_pim=sub.hbm_pim, hbm_pim_stacks=pim.stacks_per_device,
                       hbm_pim_ops_per_byte=0.0 if opb == pim.ops_per_byte else opb,
                       gpu_kv_tokens=gpu_chunks * sub.block_tokens, hbm_pim_kv_tokens=pim_chunks * sub.block_tokens)
    host_link = load_link("pcie-gen5-x16")
    kv_total = dpa[0].capacity_chunks * chunk
    # GPUs page their KV dynamically and admit as vLLM does; they run one batch: one "micro-batch"
    system = _assemble(kind, model, trace, seed, Serving(
        (cost,), host_link, host_link, dpa, KvMode.DYNAMIC, 1, sub.max_batch_requests, kv_total, None,
        cfg.prefill == Prefill.BEFORE, sub.admission, sub.max_num_batched_tokens))
    return BuiltSystem(kind, system, desc, 1, kv_total, chunk, n, hw, cfg.prefill == Prefill.BEFORE, settings)


def check_trace_context(cfg: RunConfig, trace: Trace, model: LlmConfig) -> None:
    """Refuse a trace whose longest request (prompt + output) is past the model's maximum
    context, naming the workload key that set it."""
    w = cfg.workload
    key = {"fixed": "workload.input_tokens", "csv": "workload.csv_path"}.get(w.source, "workload.source")
    what = (f"a request of {w.input_tokens:,} input + {int(trace.output_tokens[0]):,} output tokens"
            if w.source == "fixed" else f"the longest request of trace {trace.name} (prompt + output)")
    check_context(model, trace.max_context(), key, what)


def build(kind: str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig | None = None) -> BuiltSystem:
    """System ``kind`` of ``cfg`` on ``trace``, by its registered builder (orchestration/llm/kinds.py,
    or a plugin's); ``model`` is ``resolve(cfg)`` when the caller has it."""
    spec = registry.get(kind)
    model = model or resolve(cfg)
    check_trace_context(cfg, trace, model)
    built = spec.builder(spec.name, cfg, trace, seed, model)
    if not isinstance(built, BuiltSystem) or built.kind != spec.name:
        raise registry.PluginError(f"system kind {spec.name!r} ({spec.origin}): its builder returned "
                                   f"{type(built).__name__}, not a BuiltSystem of kind {spec.name!r}")
    return built
