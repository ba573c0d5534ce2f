"""Building LLM serving systems (LoL-PIM and its baselines) as actor systems, and reading
their results back as the figures a researcher reports."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lolpim.actors.kernel.events import seconds_to_ps
from lolpim.hardware.systems.stage_costs import shard_model
from lolpim.actors.kernel.system import ActorSpec, SystemSpec
from lolpim.core.errors import ParameterError
from lolpim.models.llm.architecture import LlmConfig, load_llm
from lolpim.models.llm.workload import Trace, dataset_trace, fixed_trace, load_trace_csv

from lolpim.orchestration.llm.config import RunConfig

HOST = "lolpim.actors.llm.host:LlmHost"
STAGE = "lolpim.actors.llm.stage:LlmStage"
KV = "lolpim.actors.llm.kv_manager:KvManager"
GB = 2**30   # memory capacities are binary: "16 GB" modules hold 16 GiB


@dataclass(frozen=True)
class BuiltSystem:
    kind: str
    spec: SystemSpec
    description: str
    stages: int
    kv_capacity_bytes: float
    chunk_bytes: int
    devices: int
    hardware: dict | None = None   # what the system really has: see hardware()
    decode_only: bool = False      # prefill = before: prompts are not simulated


def hardware(*groups: tuple[int, str, str, float]) -> dict:
    """The hardware of a system as the table, the plot and the JSON report it: ``groups`` are
    (count, preset, memory kind, bytes of that memory per device). One unit, GiB (2**30 bytes)."""
    devices = [{"count": n, "model": model, "memory": kind, "gib_each": each / GB, "gib": n * each / GB}
               for n, model, kind, each in groups]
    label = " + ".join(f"{d['count']} x {d['model']}" for d in devices) + ", " + " + ".join(
        f"{d['gib']:.0f} GiB {d['memory']}" for d in devices)
    return {"label": label, "devices": devices, "memory_gib": sum(d["gib"] for d in devices)}


def make_trace(cfg: RunConfig, seed: int) -> Trace:
    w = cfg.workload
    out = w.output_tokens or None
    if w.source == "fixed":
        return fixed_trace(w.requests, w.input_tokens, w.output_tokens or 128, w.arrival, w.arrival_rate_per_s, seed)
    if w.source == "csv":
        if not w.csv_path:
            raise ParameterError("workload.csv_path", "needed when workload.source = 'csv'")
        return load_trace_csv(w.csv_path)
    return dataset_trace(w.source, w.requests, w.arrival, w.arrival_rate_per_s, seed, output_tokens=out)


def split_layers(layers: int, parts: int) -> list[int]:
    """Contiguous, even layer ranges per pipeline stage. (Shifting layers off the last stage to
    offset the LM head was measured to lose more KV room on the fuller modules than it gained.)"""
    if parts > layers:
        raise ParameterError("modules", f"{parts} pipeline stages for {layers} layers: at most one stage per layer")
    return [layers // parts + (1 if i < layers % parts else 0) for i in range(parts)]


def _trace_params(trace: Trace) -> dict:
    return {"input": trace.input_tokens.tolist(), "output": trace.output_tokens.tolist(),
            "arrival_ps": [seconds_to_ps(a) for a in trace.arrival_s]}


def _assemble(kind: str, model: LlmConfig, trace: Trace, seed: int, stage_costs: list[dict], stage_link,
              host_link, dpa_specs: list[tuple[int, int]], kv_mode: str, static_reserve: int, microbatches: int,
              max_mb: int, kv_capacity_bytes: float, chunk_bytes: int, gpu_prefill: dict | None,
              prefill_before: bool) -> SystemSpec:
    stage_names = [f"{kind}.stage{i:03d}" for i in range(len(stage_costs))]
    dpa_names = [f"{kind}.dpa{i:03d}" for i in range(len(dpa_specs))]
    host = f"{kind}.host"
    actors = [ActorSpec(host, HOST, {
        "trace": _trace_params(trace), "first_stage": stage_names[0], "dpas": dpa_names,
        "dpa_tokens_per_chunk": [tpc for _, tpc in dpa_specs], "kv_mode": kv_mode, "microbatches": microbatches,
        "max_microbatch_requests": max_mb, "link_latency_s": host_link.latency_s,
        "kv_bytes_per_token": model.kv_bytes_per_token(), "kv_capacity_bytes": kv_capacity_bytes,
        "gpu_prefill": gpu_prefill, "prefill_before": prefill_before})]
    for i, cost in enumerate(stage_costs):
        last = i + 1 == len(stage_costs)
        link = host_link if last else stage_link
        actors.append(ActorSpec(stage_names[i], STAGE, {
            "next_actor": host if last else stage_names[i + 1], "cost": cost,
            "link_latency_s": link.latency_s + link.message_overhead_s,
            "link_bandwidth_bytes_per_s": link.payload_bandwidth_bytes_per_s,
            "activation_bytes_per_request": model.hidden * model.bytes_per_value}))
    for name, (capacity, tpc) in zip(dpa_names, dpa_specs):
        if kv_mode == "static" and -(-static_reserve // tpc) > capacity:
            raise ParameterError("kv_mode", f"static KV reserves {static_reserve} tokens per request, which needs "
                                            f"{-(-static_reserve // tpc)} chunks on {name}; it has {capacity}")
        actors.append(ActorSpec(name, KV, {
            "host": host, "capacity_chunks": capacity, "tokens_per_chunk": tpc, "mode": kv_mode,
            "static_reserve_tokens": static_reserve, "watermark_chunks": 0 if kv_mode == "static" else 1,
            "link_latency_s": host_link.latency_s}))
    return SystemSpec(tuple(actors), seed=seed)


def _check_fits(trace: Trace, dpa_specs, name: str):
    longest = int(np.max(trace.input_tokens + trace.output_tokens))
    for capacity, tpc in dpa_specs:
        if -(-longest // tpc) > capacity:
            raise ParameterError("workload", f"a request of {longest} tokens needs {-(-longest // tpc)} KV chunks "
                                             f"but a {name} memory holds {capacity}: use more modules/devices")


def _pim_modules(cfg: RunConfig, spec, requested: int) -> int:
    if requested:
        return requested
    return max(1, round(cfg.pim_capacity_gb * GB / spec.capacity_bytes))


@dataclass(frozen=True)
class PimPlan:
    """How a PIM system is laid out: modules, stages of ``tensor_parallel`` modules each, the
    KV memory each module's DPA controller owns and each stage's cost description."""
    modules: int
    tensor_parallel: int
    stages: int
    dpa_specs: tuple          # (capacity in chunks, tokens per chunk) per module
    stage_costs: tuple        # StageCost keyword arguments per stage
    module: str
    link: object


def pim_plan(kind: str, cfg: RunConfig, tensor_parallel: int | None = None) -> PimPlan:
    """The layout of the LoL-PIM or CENT-style system ``cfg`` asks for; ``tensor_parallel``
    overrides the configured modules per stage (the automatic shape choice tries several)."""
    from lolpim.hardware.links import load_link
    from lolpim.hardware.pim import load_pim_module
    model = load_llm(cfg.model)
    sub = cfg.lolpim if kind == "lolpim" else cfg.cent
    spec = load_pim_module(sub.module)
    n = _pim_modules(cfg, spec, sub.modules)
    weight_bits = getattr(sub, "weight_bits", 16)
    # modules per pipeline stage: a stage is a tensor-parallel group (1 = pure pipeline)
    tp = tensor_parallel or (n if kind == "lolpim" and cfg.lolpim.parallelism == "tensor" else sub.tensor_parallel)
    if tp == 0:     # "choose automatically" is resolved by build_pim before it asks for a plan
        raise ParameterError("tensor_parallel", "0 (automatic) needs a shape choice first: use build_pim")
    if n % tp:
        divisors = ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)
        raise ParameterError("tensor_parallel", f"{tp} modules per stage must divide the {n} modules "
                                                f"(allowed: {divisors}"
                                                + ("; 0 = choose automatically)" if kind == "lolpim" else ")"))
    stages = n // tp
    if stages > model.layers:
        raise ParameterError("modules", f"{stages} pipeline stages for the {model.layers} layers of {cfg.model}: "
                                        "every stage needs a layer; use fewer modules or more per stage")
    usable = spec.capacity_bytes - spec.channels * spec.reserved_bytes_per_channel
    layer_bytes = model.params_per_layer * weight_bits / 8
    head_bytes = model.vocab * model.hidden * weight_bits / 8   # embedding table or LM head
    chunk = cfg.lolpim.chunk_bytes
    # KV one module keeps per token and layer: its shard's KV heads (replicated when a group is
    # wider than the model's KV heads, exactly as the cost model shards them)
    kv_layer_token = shard_model(model, tp).kv_bytes_per_token_per_layer()
    common = {"kind": "pim", "model": cfg.model, "device": sub.module, "partitioning": sub.partitioning,
              "weight_bits": weight_bits, "n_devices": tp}
    if kind == "cent" and cfg.cent.dataflow != "ideal":
        common.update(dataflow=cfg.cent.dataflow, system_devices=n)
    dpa, costs = [], []
    for i, layers in enumerate(split_layers(model.layers, stages)):
        # every module of the group holds 1/tp of the stage's weights and of its KV heads
        weights = (layers * layer_bytes + head_bytes * ((i == 0) + (i == stages - 1))) / tp
        kv_bytes = usable - weights
        if kv_bytes < chunk:
            raise ParameterError("modules", f"{sub.module} of stage {i} holds {weights / GB:.1f} GiB of weights and "
                                            f"has no room for KV: use more modules")
        dpa += [(int(kv_bytes // chunk), max(1, int(chunk // (kv_layer_token * layers))))] * tp
        costs.append(dict(common, layers=layers, lm_head=i == stages - 1))
    return PimPlan(n, tp, stages, tuple(dpa), tuple(costs), sub.module, load_link(spec.link))


def build_pim(kind: str, cfg: RunConfig, trace: Trace, seed: int) -> BuiltSystem:
    """LoL-PIM (pipeline or tensor parallel over modules) or the CENT-style PIM-only system."""
    from lolpim.hardware.pim import load_pim_module
    model = load_llm(cfg.model)
    sub = cfg.lolpim if kind == "lolpim" else cfg.cent
    spec = load_pim_module(sub.module)
    auto = None
    if kind == "lolpim" and cfg.lolpim.parallelism == "pipeline" and cfg.lolpim.tensor_parallel == 0:
        from lolpim.orchestration.llm.shape import choose_tensor_parallel
        auto = choose_tensor_parallel(cfg, trace)
    plan = pim_plan(kind, cfg, auto.tensor_parallel if auto else None)
    n, tp, stages, link, chunk = plan.modules, plan.tensor_parallel, plan.stages, plan.link, cfg.lolpim.chunk_bytes
    dpa, costs = list(plan.dpa_specs), list(plan.stage_costs)
    microbatches = sub.microbatches or stages
    _check_fits(trace, dpa, sub.module)
    gpu_prefill = None
    if cfg.prefill == "attached-gpu":
        gpu_prefill = {"cost": {"kind": "gpu", "model": cfg.model, "layers": model.layers, "lm_head": True,
                                "device": cfg.prefill_gpu, "n_devices": 1},
                       "link_bandwidth_bytes_per_s": link.payload_bandwidth_bytes_per_s}
    kv_total = sum(c for c, _ in dpa) * chunk
    system = _assemble(kind, model, trace, seed, costs, link, link, dpa, sub.kv_mode, trace.context_limit,
                       microbatches, sub.max_microbatch_requests, kv_total, chunk, gpu_prefill,
                       cfg.prefill == "before")
    shape = "tensor-parallel" if stages == 1 else f"pipeline-parallel ({stages} stages" + (
        f" x {tp}-way tensor)" if tp > 1 else ")")
    if auto:
        shape += f" [chosen: {auto.summary()}]"
    hw = hardware((n, sub.module, "PIM", spec.capacity_bytes))
    desc = f"{hw['label']}; {shape}, {sub.kv_mode} KV, {sub.partitioning}, {microbatches} micro-batches"
    if kind == "cent" and cfg.cent.dataflow != "ideal":
        desc += f", {cfg.cent.dataflow} dataflow"
    return BuiltSystem(kind, system, desc, len(costs), kv_total, chunk, n, hw, cfg.prefill == "before")


def gpu_count(cfg: RunConfig) -> int:
    from lolpim.hardware.gpu.model import load_gpu
    if cfg.gpu.count:
        return cfg.gpu.count
    n = max(1, math.ceil(cfg.pim_capacity_gb * GB / load_gpu(cfg.gpu.device).hbm_capacity_bytes - 1e-9))
    heads = load_llm(cfg.model).heads
    while heads % n:   # tensor parallelism splits the heads evenly: round up to a divisor
        n += 1
    return n


def gpu_kv_bytes(model: LlmConfig, gpu, n: int, reserve_fraction: float) -> float:
    """HBM left for KV on ``n`` GPUs after the weights and the activation reserve."""
    return n * gpu.hbm_capacity_bytes * (1 - reserve_fraction) - model.params_total * model.bytes_per_value


def build_gpu(kind: str, cfg: RunConfig, trace: Trace, seed: int) -> BuiltSystem:
    """Multi-GPU (tensor parallel, paged KV) or GPU+HBM-PIM (AttAcc-style)."""
    from lolpim.hardware.gpu.model import load_gpu
    from lolpim.hardware.links import load_link
    model = load_llm(cfg.model)
    sub = cfg.gpu if kind == "gpu" else cfg.gpu_pim
    gpu = load_gpu(sub.device)
    n = sub.count or gpu_count(cfg)
    weights = model.params_total * model.bytes_per_value
    if kind == "gpu":
        kv_bytes = gpu_kv_bytes(model, gpu, n, cfg.gpu.activation_reserve_fraction)
        where = f"{n} x {sub.device}"
        hw = hardware((n, sub.device, "HBM", gpu.hbm_capacity_bytes))
        desc = f"{hw['label']}; tensor-parallel, paged KV"
    else:
        from dataclasses import replace

        from lolpim.hardware.hbm_pim import load_hbm_pim
        pim = load_hbm_pim(sub.hbm_pim)
        stacks = sub.stacks_per_device or max(1, round(cfg.pim_capacity_gb * GB / pim.stack_capacity_bytes / n))
        pim = replace(pim, stacks_per_device=stacks)
        if weights > n * gpu.hbm_capacity_bytes:
            raise ParameterError("gpu_pim.count", f"{n} x {sub.device} cannot hold {weights / GB:.0f} GiB of weights")
        kv_bytes = n * pim.capacity_bytes
        where = f"{n} x {sub.hbm_pim}"
        hw = hardware((n, sub.device, "HBM", gpu.hbm_capacity_bytes),
                      (n, f"{sub.hbm_pim} ({pim.stacks_per_device} stacks)", "HBM-PIM", pim.capacity_bytes))
        desc = f"{hw['label']}; attention in HBM-PIM, paged KV"
    if kv_bytes <= 0:
        raise ParameterError(f"{'gpu' if kind == 'gpu' else 'gpu_pim'}.count",
                             f"{n} x {sub.device} cannot hold the {weights / GB:.0f} GiB of weights of {cfg.model}")
    chunk = sub.block_tokens * model.kv_bytes_per_token()
    dpa = [(int(kv_bytes // chunk), sub.block_tokens)]
    _check_fits(trace, dpa, where)
    cost = {"kind": kind, "model": cfg.model, "layers": model.layers, "lm_head": True, "device": sub.device,
            "n_devices": n}
    if kind == "gpu-pim":
        cost["hbm_pim"] = sub.hbm_pim
        cost["hbm_pim_stacks"] = pim.stacks_per_device
    host_link = load_link("pcie-gen5-x16")
    system = _assemble(kind, model, trace, seed, [cost], host_link, host_link, dpa, "dynamic", trace.context_limit,
                       1, sub.max_batch_requests, dpa[0][0] * chunk, chunk, None, cfg.prefill == "before")
    return BuiltSystem(kind, system, desc, 1, dpa[0][0] * chunk, chunk, n, hw, cfg.prefill == "before")


def build(kind: str, cfg: RunConfig, trace: Trace, seed: int) -> BuiltSystem:
    if kind in ("lolpim", "cent"):
        return build_pim(kind, cfg, trace, seed)
    return build_gpu(kind, cfg, trace, seed)


# ------------------------------------------------------------------------------ results

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
        "system": built.kind, "description": built.description,
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
        "stages": built.stages, "devices": built.devices, "hardware": built.hardware,
        "events": run.events, "wall_s": run.stats.get("wall_s", 0.0),
        "per_request": [{"request": i, "arrival_s": float(a), f"{wait}_s": float(f - a), "finish_s": float(e),
                         "output_tokens": int(g), "tpot_s": float(t)}
                        for i, (a, f, e, g, t) in enumerate(zip(arrival, first, finish, generated, tpot))],
    }
