"""GPU + HBM-PIM (AttAcc-style): attention runs inside HBM3 stacks, the GPU runs the FC layers.

AttAcc (Park et al., ASPLOS 2024; public artifact scale-snu/attacc_simulator) keeps the KV
cache in separate HBM3-PIM devices and places GEMV units next to every bank group
(AttAcc_BG). Both attention GEMVs (QK^T, SV) stream K and V at the internal bank-group
bandwidth, a multiple of the stack's external bandwidth; softmax runs on the buffer die at
the external bandwidth. The GPU sends each decode step's query and new K/V to the PIM
devices and reads back the attention output over its link (NVLink in AttAcc).

Per layer and per PIM device (heads are split across devices, one device per GPU):

    t_gemv    = max(kv_bytes / (internal_bw * refresh_eff), flops / (internal_bw * ops_per_byte))
    t_softmax = 2 * score_bytes / external_bw          (scores to the buffer die and back)
    internal_bw = stacks * stack_bandwidth * internal_bandwidth_scale
    refresh_eff = 1 - tRFC / tREFI

The ops-per-byte cap matters for GQA: a KV byte then serves `gqa_group` query heads, so the
PIM units (1 FLOP per byte in AttAcc's default) become compute bound. AttAcc's configuration
has both knobs (`opb`, FLOPs per byte of internal bandwidth, 1 by default; the model's
`gqa_size`, 1 for every model of its table): `gqa_aware` gives the PIM units the FLOPs per byte
the model's group needs, so attention stays bandwidth bound.

Where attention runs (`split_attention`): KV may also live in the GPUs' own HBM (what the
weights and the activation reserve leave). The GPUs attend their share while the PIM devices
attend theirs, at the same time, and the split is the one that finishes the layer's attention
first within both memories' capacities; AttAcc as published is the split with no KV on the GPUs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lolpim.hardware.gpu import model as gpu_model
from lolpim.hardware.cost import OpCost
from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import ACT_BYTES, STEP_PARTS, GpuSpec
from lolpim.hardware.links import link_transfer_cost, load_link
from lolpim.core import schema
from lolpim.core.schema import field
from lolpim.hardware.toml_presets import load_preset, preset_names
from lolpim.models.llm.architecture import LlmConfig


@schema.frozen   # a frozen dataclass whose fields are checked on construction (core/schema.py)
class HbmPimSpec:
    name: str
    stacks_per_device: int = field(min=1)
    stack_capacity_bytes: float = field(gt=0)
    stack_bandwidth_bytes_per_s: float = field(gt=0)  # external (pin) bandwidth of one stack
    internal_bandwidth_scale: float = field(gt=0)  # bank-group PIM bandwidth / external bandwidth
    ops_per_byte: float = field(gt=0)    # PIM FLOPs per byte of internal bandwidth
    trfc_s: float = field(min=0)         # refresh cycle time
    trefi_s: float = field(gt=0)         # refresh interval
    call_overhead_s: float = field(min=0)  # fixed cost per attention call (command issue, sync)
    link: str                               # GPU <-> PIM-device link preset
    dram_energy_pj_per_bit: float = field(min=0)  # cell to bank-group unit (no TSV / interposer)
    softmax_energy_pj_per_bit: float = field(min=0)  # bank group to buffer die and back
    mac_energy_pj: float = field(min=0)  # one multiply-accumulate (2 FLOPs)
    stack_power_w: float = field(gt=0)   # one stack at full PIM activity (iso-power view; preset comments)
    source: str = ""

    def __post_init__(self):   # after the declared ranges
        if self.trfc_s >= self.trefi_s:
            raise ParameterError("trfc_s", f"must be below trefi_s ({self.trefi_s}), got {self.trfc_s}")
        load_link(self.link)  # fails early, listing the link presets

    @property
    def internal_bandwidth_bytes_per_s(self) -> float:
        """Bank-group bandwidth of one PIM device (all its stacks)."""
        return self.stacks_per_device * self.stack_bandwidth_bytes_per_s * self.internal_bandwidth_scale

    @property
    def external_bandwidth_bytes_per_s(self) -> float:
        return self.stacks_per_device * self.stack_bandwidth_bytes_per_s

    @property
    def capacity_bytes(self) -> float:
        return self.stacks_per_device * self.stack_capacity_bytes

    @property
    def refresh_efficiency(self) -> float:
        return 1.0 - self.trfc_s / self.trefi_s


def hbm_pim_names() -> list[str]:
    return preset_names("hbm_pim")


def load_hbm_pim(name: str) -> HbmPimSpec:
    return load_preset("hbm_pim", name, HbmPimSpec, "hbm_pim")


def gqa_aware(spec: HbmPimSpec, model: LlmConfig) -> HbmPimSpec:
    """``spec`` with at least as many FLOPs per internal byte as ``model``'s query heads per KV
    head: QK^T and SV do 4 FLOPs per (token, query head, dimension) on 4 bytes per (token, KV
    head, dimension), so a GQA group of g needs g FLOPs per KV byte to keep pace with the banks."""
    return replace(spec, ops_per_byte=max(spec.ops_per_byte, float(model.gqa_group)))


def hbm_pim_attention_cost(spec: HbmPimSpec, model: LlmConfig, contexts_tokens, n_devices: int = 1) -> OpCost:
    """Decode attention of one layer, on each of ``n_devices`` PIM devices (heads split evenly)."""
    ctx = gpu_model._contexts(contexts_tokens)
    return _pim_attention(spec, model, float(ctx.sum()), n_devices)


def _pim_attention(spec: HbmPimSpec, model: LlmConfig, tokens: float, n_devices: int) -> OpCost:
    """One layer's decode attention over ``tokens`` KV tokens (all requests) on one PIM device."""
    q_heads, kv_heads = gpu_model._tp_heads(model, n_devices)
    kv_bytes = 2.0 * tokens * kv_heads * model.head_dim * ACT_BYTES
    flops = 4.0 * tokens * q_heads * model.head_dim
    score_bytes = tokens * q_heads * ACT_BYTES
    bw = spec.internal_bandwidth_bytes_per_s
    t_mem = kv_bytes / (bw * spec.refresh_efficiency)
    t_cmp = flops / (bw * spec.ops_per_byte)
    t_softmax = 2 * score_bytes / spec.external_bandwidth_bytes_per_s
    energy = (kv_bytes * 8 * spec.dram_energy_pj_per_bit + 2 * score_bytes * 8 * spec.softmax_energy_pj_per_bit
              + flops / 2 * spec.mac_energy_pj) * 1e-12
    return OpCost(spec.call_overhead_s + max(t_mem, t_cmp) + t_softmax, bytes_moved=kv_bytes + 2 * score_bytes,
                  flops=flops, energy_j=energy, bound="memory" if t_mem >= t_cmp else "compute",
                  detail={"gemv_s": max(t_mem, t_cmp), "softmax_s": t_softmax})


def gpu_pim_transfer_cost(spec: HbmPimSpec, model: LlmConfig, batch: int, n_devices: int = 1) -> OpCost:
    """Per layer: query and new K/V from a GPU to its PIM device, attention output back."""
    q_heads, kv_heads = gpu_model._tp_heads(model, n_devices)
    to_pim = batch * (q_heads + 2 * kv_heads) * model.head_dim * ACT_BYTES
    back = batch * q_heads * model.head_dim * ACT_BYTES
    link = load_link(spec.link)
    return link_transfer_cost(link, to_pim) + link_transfer_cost(link, back)


@dataclass(frozen=True)
class AttentionSplit:
    """Where one decode step's attention runs: ``gpu_tokens`` of the batch's KV tokens (all
    requests together) on the GPUs, ``pim_tokens`` in HBM-PIM; per layer, the attention of
    both (at the same time) and the GPU <-> PIM transfers (zero when nothing is in HBM-PIM)."""
    gpu_tokens: int
    pim_tokens: int
    attention: OpCost
    transfer: OpCost


def _attention_lines(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, n_gpus: int,
                     batch: int) -> tuple[float, float, float, float]:
    """A layer's attention time on the GPUs and in HBM-PIM as lines a + b * KV tokens (both
    costs are affine in the tokens): (a_gpu, b_gpu, a_pim, b_pim)."""
    q_heads, kv_heads = gpu_model._tp_heads(model, n_gpus)
    g0, g1 = (gpu_model.gpu_attention_kernel_cost(gpu, t, q_heads, kv_heads, model.head_dim, batch).time_s
              for t in (0, 1))
    p0, p1 = (_pim_attention(pim, model, t, n_gpus).time_s for t in (0, 1))
    return g0, g1 - g0, p0, p1 - p0


def split_attention(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, contexts_tokens, n_gpus: int = 1,
                    gpu_kv_tokens: int = 0, pim_kv_tokens: int | None = None) -> AttentionSplit:
    """The split of a decode step's KV between the GPUs' HBM (at most ``gpu_kv_tokens``) and
    HBM-PIM (at most ``pim_kv_tokens``; None: no limit) that finishes a layer's attention first.

    GPUs and PIM devices attend their shares at once, so a layer takes the longer of the two,
    plus the query / output transfers whenever HBM-PIM holds any KV. Both times are affine in
    the tokens they attend, so the best split is one end of the allowed range or the point where
    the two times meet; each candidate is priced exactly and the fastest wins (ties: more on the
    GPUs). With ``gpu_kv_tokens = 0`` every token is in HBM-PIM: AttAcc as published, exactly.
    Costs are per device (time) and per group (bytes, FLOPs, energy), as `gpu_decode_step_cost`.
    """
    ctx = gpu_model._contexts(contexts_tokens)
    tokens, batch = int(ctx.sum()), int(ctx.size)
    q_heads, kv_heads = gpu_model._tp_heads(model, n_gpus)
    hi = min(tokens, max(0, int(gpu_kv_tokens)))
    lo = 0 if pim_kv_tokens is None else min(hi, max(0, tokens - int(pim_kv_tokens)))

    def on_gpu(g: float) -> OpCost:
        return gpu_model.gpu_attention_kernel_cost(gpu, g, q_heads, kv_heads, model.head_dim, batch)

    def on_pim(p: float) -> OpCost:
        return _pim_attention(pim, model, p, n_gpus)

    transfer = gpu_model.group_cost(gpu_pim_transfer_cost(pim, model, batch, n_gpus), n_gpus)

    def priced(g: int) -> tuple[float, AttentionSplit]:
        parts = ([on_gpu(g)] if g else []) + ([on_pim(tokens - g)] if tokens - g else [])
        slowest = max(parts, key=lambda c: c.time_s) if parts else on_pim(0)
        attention = OpCost(slowest.time_s, sum(c.bytes_moved for c in parts), sum(c.flops for c in parts),
                           sum(c.energy_j for c in parts), slowest.bound,
                           {"gpu_tokens": g, "pim_tokens": tokens - g})
        xfer = transfer if tokens - g else OpCost(0.0, bound="latency")
        split = AttentionSplit(g, tokens - g, gpu_model.group_cost(attention, n_gpus), xfer)
        return attention.time_s + xfer.time_s, split

    # the GPUs' time rises with their share and HBM-PIM's falls, so the best split is one end of
    # the allowed range or where the two times cross. The GPU time is not affine in its tokens
    # (the A100's attention efficiency grows with the bytes a call reads), so the crossing is found
    # by bisection on the exact costs rather than by intersecting two lines.
    def gpu_first(g: int) -> bool:
        return on_gpu(g).time_s >= on_pim(tokens - g).time_s if g else False

    a, b = lo, hi
    if b > a and gpu_first(b):
        while b - a > 1:                # invariant: gpu_first(b), and not gpu_first(a) unless a == lo
            mid = (a + b) // 2
            if gpu_first(mid):
                b = mid
            else:
                a = mid
    candidates = dict.fromkeys([hi, lo, a, b])
    return min((priced(g) for g in candidates), key=lambda ts: ts[0])[1]


@dataclass(frozen=True)
class KvLayout:
    """How much KV a GPU+PIM system keeps in the GPUs' HBM and in HBM-PIM (tokens, whole system),
    and the steady decode tokens/s estimated for it."""
    gpu_tokens: int
    pim_tokens: int
    tokens_per_s: float


def choose_kv_layout(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, n_gpus: int, gpu_tokens: int,
                     pim_tokens: int, mean_context: float, longest: int, max_batch: int,
                     weight_bits: int = 16, unit_tokens: int = 1) -> KvLayout:
    """The KV memory to use in each of the GPUs' HBM (at most ``gpu_tokens``) and HBM-PIM (at most
    ``pim_tokens``) for the highest steady decode throughput, estimated before the run as the
    automatic LoL-PIM shape is (hardware/systems/shape.py): a full memory holds
    batch = (used tokens) / ``mean_context`` requests (at most ``max_batch``; the trace's size
    and the system's request limit), each step splits them as `split_attention` does, and
    tokens/s = batch / step time. More KV is not always faster: once one memory's share of the
    attention outlasts the other's, every further request there lengthens each step by its whole
    attention, so the best layout can leave part of a slower memory unused. Candidates: quarters
    of the GPUs' KV, halves of HBM-PIM's, and the points where one memory's attention of its share
    ends with the other's full share; each must hold the ``longest`` request. Deterministic; ties
    go to more memory. ``unit_tokens``: the allocation block (candidates are whole blocks)."""
    def blocks(t: float, cap: int) -> int:
        return int(min(cap, max(0.0, t)) // unit_tokens * unit_tokens)

    full_batch = max(1, min(max_batch, int((gpu_tokens + pim_tokens) // mean_context)))
    a_g, b_g, a_p, b_p = _attention_lines(gpu, pim, model, n_gpus, full_batch)
    gpu_options = {blocks(gpu_tokens * f, gpu_tokens) for f in (0, 0.25, 0.5, 0.75, 1)}
    pim_options = {blocks(pim_tokens * f, pim_tokens) for f in (0, 0.5, 1)}
    if b_g > 0:   # the GPUs' share that ends with HBM-PIM's full share
        gpu_options.add(blocks((a_p + b_p * pim_tokens - a_g) / b_g, gpu_tokens))
    if b_p > 0:   # and the other way round
        pim_options.add(blocks((a_g + b_g * gpu_tokens - a_p) / b_p, pim_tokens))
    best = None
    for g in sorted(gpu_options, reverse=True):
        for p in sorted(pim_options, reverse=True):
            if g + p < longest:
                continue
            batch = max(1, min(max_batch, int((g + p) // mean_context)))
            ctx = np.full(batch, max(1, int(round(mean_context))), dtype=np.int64)
            step = gpu_pim_decode_step_cost(gpu, pim, model, ctx, n_gpus, weight_bits=weight_bits,
                                            gpu_kv_tokens=g, pim_kv_tokens=p)
            rate = batch / sum(c.time_s for c in step.values())
            if best is None or rate > best.tokens_per_s * (1 + 1e-9) or (
                    rate >= best.tokens_per_s * (1 - 1e-9) and g + p > best.gpu_tokens + best.pim_tokens):
                best = KvLayout(g, p, rate)
    if best is None:
        raise ParameterError("workload", f"a request of {longest} tokens does not fit in {gpu_tokens + pim_tokens} "
                                         "KV tokens of GPU HBM and HBM-PIM: use more GPUs or HBM-PIM stacks")
    return best


def gpu_pim_decode_step_cost(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, contexts_tokens,
                             n_gpus: int = 1, layers: int | None = None, weight_bits: int = 16,
                             gpu_kv_tokens: int = 0, pim_kv_tokens: int | None = None) -> dict[str, OpCost]:
    """One decode step on ``n_gpus`` tensor-parallel GPUs, each paired with one HBM-PIM device
    holding its share of the KV cache. Keys as `gpu_decode_step_cost` (time of one device,
    bytes / FLOPs / energy of all); GPU and PIM work run one after the other (no overlap of FC
    and attention across micro-batches, which AttAcc's pipelining option would add).
    ``gpu_kv_tokens`` > 0: the GPUs' HBM holds that much KV too, and attention is split as
    `split_attention` says (0: all KV and attention in HBM-PIM, AttAcc as published)."""
    ctx = gpu_model._contexts(contexts_tokens)
    per_layer = gpu_model.gpu_decode_layer_cost(gpu, model, ctx, n_gpus, weight_bits)
    split = split_attention(gpu, pim, model, ctx, n_gpus, gpu_kv_tokens, pim_kv_tokens)
    per_layer["attention"] = split.attention
    per_layer["communication"] = per_layer["communication"] + split.transfer
    layers = gpu_model._check_layers(model, layers)
    head = None if layers else gpu_model._head_parts(gpu, model, ctx.size, ctx.size, n_gpus, weight_bits)
    return gpu_model._assemble({p: per_layer[p] for p in STEP_PARTS}, layers or model.layers, head)


def gpu_pim_prefill_cost(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, prompt_tokens,
                          n_gpus: int = 1, layers: int | None = None, weight_bits: int = 16) -> dict[str, OpCost]:
    """Prefill runs on the GPUs (AttAcc's summarisation stage); each layer's new K and V then
    move to the PIM devices over the link, charged to ``communication``."""
    prompts = gpu_model._contexts(prompt_tokens)
    parts = gpu_model.gpu_prefill_cost(gpu, model, prompts, n_gpus, layers, weight_bits)
    _, kv_heads = gpu_model._tp_heads(model, n_gpus)
    kv_layer = float(prompts.sum()) * 2 * kv_heads * model.head_dim * ACT_BYTES
    offload = gpu_model.group_cost(link_transfer_cost(load_link(pim.link), kv_layer), n_gpus)
    parts["communication"] = parts["communication"] + offload.scaled(layers or model.layers)
    return parts


def gpu_pim_memory_bytes(model: LlmConfig, contexts_tokens, n_gpus: int = 1,
                         weight_bits: int = 16) -> tuple[float, float]:
    """(weights per GPU, KV cache per PIM device)."""
    ctx = gpu_model._contexts(contexts_tokens)
    _, kv_heads = gpu_model._tp_heads(model, n_gpus)
    weights = model.params_total * weight_bits / 8 / n_gpus
    kv = float(np.sum(ctx)) * model.layers * 2 * kv_heads * model.head_dim * ACT_BYTES
    return weights, kv
