"""Building LLM serving systems (LoL-PIM and its baselines) as actor systems, and reading
their results back as the figures a researcher reports.

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
from lolpim.hardware.systems.config import (Admission, AttentionPlacement, CentDataflow, KvMode,
                                            LolpimSystemConfig, Parallelism, PimSystemConfig, Prefill, SystemKind)
from lolpim.hardware.systems.plan import GB, DpaMemory, check_fits, gpu_count, gpu_kv_bytes, pim_plan
from lolpim.hardware.systems.shape import choose_tensor_parallel
from lolpim.hardware.systems.stage_costs import StageSpec
from lolpim.models.llm.architecture import LlmConfig, check_context, load_llm
from lolpim.models.llm.workload import Trace, dataset_trace, fixed_trace, load_trace_file
from lolpim.orchestration.llm.config import SYSTEM_TABLES, RunConfig


@dataclass(frozen=True)
class BuiltSystem:
    kind: SystemKind
    spec: SystemSpec
    description: str
    stages: int
    kv_capacity_bytes: float
    chunk_bytes: int
    devices: int
    hardware: dict | None = None   # what the system really has: see hardware()
    decode_only: bool = False      # prefill = before: prompts are not simulated
    settings: dict | None = None   # choices recorded in the run JSON (gpu-pim: attention placement)
    attention_mapping: str | None = None   # PIM systems: how attention is laid over the channels


def hardware(*groups: tuple[int, str, str, float, float]) -> dict:
    """The hardware of a system as the table, the plot and the JSON report it: ``groups`` are
    (count, preset, memory kind, bytes of that memory per device, power budget per device in W:
    the presets' power_w / tdp_w, docs/lolpim-system.md "Iso-power view"). One unit, GiB (2**30 bytes)."""
    devices = [{"count": n, "model": model, "memory": kind, "gib_each": each / GB, "gib": n * each / GB,
                "power_w_each": watts, "power_w": n * watts}
               for n, model, kind, each, watts in groups]
    label = " + ".join(f"{d['count']} x {d['model']}" for d in devices) + ", " + " + ".join(
        f"{d['gib']:.0f} GiB {d['memory']}" for d in devices)
    return {"label": label, "devices": devices, "memory_gib": sum(d["gib"] for d in devices),
            "power_w": sum(d["power_w"] for d in devices)}


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


def _assemble(kind: SystemKind, model: LlmConfig, trace: Trace, seed: int, serving: Serving) -> SystemSpec:
    stage_names = [f"{kind}.stage{i:03d}" for i in range(len(serving.stage_costs))]
    group = serving.modules_per_dpa
    dpa_specs = serving.dpa_specs[::group]
    if any(serving.dpa_specs[i:i + group] != (d,) * group for i, d in zip(range(0, len(serving.dpa_specs), group),
                                                                          dpa_specs)):
        raise ValueError(f"DPA groups of {group} modules must each share one memory layout")
    dpa_names = [f"{kind}.dpa{i:03d}" for i in range(len(dpa_specs))]
    host = f"{kind}.host"
    static_reserve = trace.context_limit   # static KV reserves the longest context a request may reach
    actors = [ActorSpec(host, LlmHost, LlmHost.Params(
        input_tokens=tuple(trace.input_tokens.tolist()), output_tokens=tuple(trace.output_tokens.tolist()),
        arrival_ps=tuple(seconds_to_ps(a) for a in trace.arrival_s), first_stage=stage_names[0],
        dpas=tuple(dpa_names), dpa_tokens_per_chunk=tuple(d.tokens_per_chunk for d in dpa_specs),
        kv_mode=serving.kv_mode, microbatches=serving.microbatches,
        max_microbatch_requests=serving.max_microbatch_requests, link_latency_s=serving.host_link.latency_s,
        kv_bytes_per_token=model.kv_bytes_per_token(), kv_capacity_bytes=serving.kv_capacity_bytes,
        gpu_prefill=serving.gpu_prefill, prefill_before=serving.prefill_before,
        admission=serving.admission, max_step_tokens=serving.max_step_tokens))]
    for i, cost in enumerate(serving.stage_costs):
        last = i + 1 == len(serving.stage_costs)
        link = serving.host_link if last else serving.stage_link
        actors.append(ActorSpec(stage_names[i], LlmStage, LlmStage.Params(
            next_actor=host if last else stage_names[i + 1], cost=cost,
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


PIM_KINDS = (SystemKind.LOLPIM, SystemKind.CENT, SystemKind.NEUPIMS, SystemKind.LOLPIM_XPU)


def pim_system_config(kind: SystemKind, cfg: RunConfig) -> PimSystemConfig:
    """The table of ``cfg`` that configures PIM system ``kind``."""
    return getattr(cfg, SYSTEM_TABLES[kind])


def build_pim(kind: SystemKind, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """A PIM system: LoL-PIM (pipeline or tensor parallel over modules), the CENT-style PIM-only
    system, or the xPU+PIM pair (NeuPIMs-style baseline, LoL-PIM on the xPU+PIM module)."""
    sub = pim_system_config(kind, cfg)
    spec = load_pim_module(sub.module)
    auto = None
    tensor = isinstance(sub, LolpimSystemConfig) and sub.parallelism == Parallelism.TENSOR
    try:
        # 0: the best shape for this system (LoL-PIM or a baseline), by the analytic estimate
        if sub.tensor_parallel == 0 and not tensor:
            auto = choose_tensor_parallel(model, sub, cfg.pim_capacity_gib, trace)
        plan = pim_plan(model, sub, cfg.pim_capacity_gib, auto.tensor_parallel if auto else None)
    except ParameterError as exc:   # name the key the user sets: `neupims.tensor_parallel`, not `tensor_parallel`
        if exc.field != "tensor_parallel":
            raise
        raise ParameterError(f"{SYSTEM_TABLES[kind]}.tensor_parallel", str(exc).split(": ", 1)[1]) from None
    n, tp, stages, link, chunk = plan.modules, plan.tensor_parallel, plan.stages, plan.link, sub.chunk_bytes
    microbatches = sub.microbatches or stages
    check_fits(trace, plan.dpa_specs, sub.module)
    gpu_prefill = None
    if cfg.prefill == Prefill.ATTACHED_GPU:
        gpu_prefill = GpuPrefill(cost=StageSpec(kind="gpu", model=model, layers=model.layers, lm_head=True,
                                                device=cfg.prefill_gpu),
                                 link_bandwidth_bytes_per_s=link.payload_bandwidth_bytes_per_s)
    kv_total = sum(d.capacity_chunks for d in plan.dpa_specs) * chunk
    # even growth matters only when several micro-batches share the memory; one micro-batch
    # (a single stage) admits every waiting request that fits, as a GPU does
    admission = Admission.EVEN_GROWTH if microbatches > 1 else Admission.VLLM
    system = _assemble(kind, model, trace, seed, Serving(
        plan.stage_costs, link, link, plan.dpa_specs, sub.kv_mode, microbatches, sub.max_microbatch_requests,
        kv_total, gpu_prefill, cfg.prefill == Prefill.BEFORE, admission, modules_per_dpa=tp))
    shape = "tensor-parallel" if stages == 1 else f"pipeline-parallel ({stages} stages" + (
        f" x {tp}-way tensor)" if tp > 1 else ")")
    if auto:
        shape += f" [chosen: {auto.summary()}]"
    hw = hardware((n, sub.module, "PIM", spec.capacity_bytes, spec.power_w))
    desc = f"{hw['label']}; {shape}, {sub.kv_mode} KV, {sub.attention_mapping}, {microbatches} micro-batches"
    if kind == SystemKind.CENT and sub.dataflow != CentDataflow.IDEAL:
        desc += f", {sub.dataflow} dataflow"
    return BuiltSystem(kind, system, desc, len(plan.stage_costs), kv_total, chunk, n, hw, cfg.prefill == Prefill.BEFORE,
                       attention_mapping=str(sub.attention_mapping))


def build_gpu(kind: SystemKind, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig) -> BuiltSystem:
    """Multi-GPU (tensor parallel, paged KV) or GPU+HBM-PIM (AttAcc-style)."""
    sub = getattr(cfg, SYSTEM_TABLES[kind])
    gpu = load_gpu(sub.device)
    n = sub.count or gpu_count(model, cfg.gpu, cfg.pim_capacity_gib)
    weights = model.params_total * model.bytes_per_value
    chunk = sub.block_tokens * model.kv_bytes_per_token()
    settings = None
    if kind == SystemKind.GPU:
        kv_bytes = gpu_kv_bytes(model, gpu, n, cfg.gpu.activation_reserve_fraction)
        where = f"{n} x {sub.device}"
        hw = hardware((n, sub.device, "HBM", gpu.hbm_capacity_bytes, gpu.tdp_w))
        desc = f"{hw['label']}; tensor-parallel, paged KV"
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
        hw = hardware((n, sub.device, "HBM", gpu.hbm_capacity_bytes, gpu.tdp_w),
                      (n, f"{sub.hbm_pim} ({pim.stacks_per_device} stacks)", "HBM-PIM", pim.capacity_bytes,
                       pim.stacks_per_device * pim.stack_power_w))
        # (the FLOPs per byte and the KV each memory holds: in the run JSON, the line stays short)
        desc = f"{hw['label']}; attention {'where faster' if best else 'in HBM-PIM'}, paged KV"
        settings = {"attention_placement": str(sub.attention_placement), "hbm_pim_ops_per_byte": opb,
                    "gpu_kv_gib": gpu_chunks * chunk / GB, "hbm_pim_kv_gib": pim_chunks * chunk / GB}
    if kv_bytes <= 0:
        raise ParameterError(f"{SYSTEM_TABLES[kind]}.count",
                             f"{n} x {sub.device} cannot hold the {weights / GB:.0f} GiB of weights of {cfg.model}")
    dpa = (DpaMemory(gpu_chunks + pim_chunks, sub.block_tokens),)
    check_fits(trace, dpa, where)
    cost = StageSpec(kind=str(kind), model=model, layers=model.layers, lm_head=True, device=sub.device, n_devices=n,
                     allreduce=str(sub.allreduce))
    if kind == SystemKind.GPU_PIM:
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


def build(kind: SystemKind | str, cfg: RunConfig, trace: Trace, seed: int, model: LlmConfig | None = None) -> BuiltSystem:
    """System ``kind`` of ``cfg`` on ``trace``; ``model`` is ``resolve(cfg)`` when the caller has it."""
    kind = SystemKind(kind)
    model = model or resolve(cfg)
    check_trace_context(cfg, trace, model)
    if kind in PIM_KINDS:
        return build_pim(kind, cfg, trace, seed, model)
    return build_gpu(kind, cfg, trace, seed, model)


# ------------------------------------------------------------------------------ results

def _input_tokens(built: BuiltSystem) -> tuple[int, ...]:
    """Each request's prompt length, as the host was given it (the trace's order)."""
    host = next(a for a in built.spec.actors if a.name == f"{built.kind}.host")
    return host.params.input_tokens


def summarise(built: BuiltSystem, run) -> dict:
    res = run.results
    host = res[f"{built.kind}.host"]
    arrival = np.asarray(host["arrival_ps"]) * 1e-12
    first = np.asarray(host["first_token_ps"]) * 1e-12
    finish = np.asarray(host["finish_ps"]) * 1e-12
    generated = np.asarray(host["generated"])
    if np.any(finish < 0):
        unfinished = int(np.sum(finish < 0))
        raise RuntimeError(f"{built.kind}: {unfinished} requests never finished (simulation stalled)")
    makespan = float(finish.max() - arrival.min())
    tpot = (finish - first) / np.maximum(generated - 1, 1)
    # first token - arrival: with prefill = before the prompt's KV is in place on admission, so
    # this is the wait for KV memory (a queue wait), not a time to first token
    ttft = first - arrival
    decode_only = built.decode_only
    wait = "queue_wait" if decode_only else "ttft"
    intervals = np.asarray(host["intervals_ps"], dtype=np.float64) * 1e-12
    stages = [v for k, v in res.items() if ".stage" in k]
    dpas = [v for k, v in res.items() if ".dpa" in k]
    duration = host["end_ps"] * 1e-12
    kv_cap = host["kv_capacity_bytes"]
    used_util = host["used_token_s"] * host["kv_bytes_per_token"] / (kv_cap * duration) if duration else 0.0
    sat_util = (host["saturated_token_s"] * host["kv_bytes_per_token"] / (kv_cap * host["saturated_s"])
                if host["saturated_s"] > 0 else float("nan"))
    alloc_util = float(np.mean([d["allocated_chunk_s"] / (d["capacity_chunks"] * duration) for d in dpas]))
    return {
        "system": str(built.kind), "description": built.description,
        "attention_mapping": built.attention_mapping,
        "requests": int(len(generated)), "output_tokens": int(generated.sum()),
        "makespan_s": makespan,
        "throughput_tokens_per_s": float(generated.sum() / makespan),
        # while requests wait for memory the system runs at its sustained rate (no ramp, no drain)
        "steady_throughput_tokens_per_s": (host["saturated_tokens"] / host["saturated_s"]
                                           if host["saturated_s"] > 0 else float("nan")),
        "tpot_mean_s": float(tpot.mean()), "tpot_p99_s": float(np.percentile(tpot, 99)),
        "token_interval_p99_s": float(np.percentile(intervals, 99)) if intervals.size else float("nan"),
        "decode_only": decode_only,
        "ttft_mean_s": None if decode_only else float(ttft.mean()),
        "ttft_p99_s": None if decode_only else float(np.percentile(ttft, 99)),
        "queue_wait_mean_s": float(ttft.mean()) if decode_only else None,
        "queue_wait_p99_s": float(np.percentile(ttft, 99)) if decode_only else None,
        "kv_used_utilisation": float(used_util),
        "kv_used_utilisation_saturated": float(sat_util),
        "kv_allocated_utilisation": alloc_util,
        "kv_capacity_gib": kv_cap / GB,
        "module_utilisation": float(np.mean([s["busy_ps"] * 1e-12 / makespan for s in stages])),
        "preemptions": int(host["preemptions"]),
        # decode passes only (prefill is not priced for energy): the stages' whole groups
        "energy_j": float(sum(s["energy_j"] for s in stages)),
        "energy_per_token_j": float(sum(s["energy_j"] for s in stages) / max(int(generated.sum()), 1)),
        # iso-power view: the devices' power budget (GPU TDP, PIM at full activity) and tok/s per W
        "power_w": built.hardware["power_w"],
        "tokens_per_s_per_w": float(generated.sum() / makespan) / built.hardware["power_w"],
        "stages": built.stages, "devices": built.devices, "hardware": built.hardware, **(built.settings or {}),
        "events": run.events, "wall_s": run.stats.get("wall_s", 0.0),
        "per_request": [{"request": i, "arrival_s": float(a), "input_tokens": int(n), f"{wait}_s": float(f - a),
                         "finish_s": float(e), "output_tokens": int(g), "tpot_s": float(t)}
                        for i, (a, n, f, e, g, t) in enumerate(zip(arrival, _input_tokens(built), first, finish,
                                                                   generated, tpot))],
    }
