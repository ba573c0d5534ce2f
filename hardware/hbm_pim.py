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
PIM units (1 FLOP per byte in AttAcc's default) become compute bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lolpim.hardware.gpu import model as gpu_model
from lolpim.hardware.cost import OpCost
from lolpim.core.errors import ParameterError
from lolpim.hardware.gpu.model import ACT_BYTES, STEP_PARTS, GpuSpec
from lolpim.hardware.links import link_transfer_cost, load_link
from lolpim.hardware.toml_presets import load_preset, preset_names, require_positive
from lolpim.models.llm.architecture import LlmConfig


@dataclass(frozen=True)
class HbmPimSpec:
    name: str
    stacks_per_device: int
    stack_capacity_bytes: float
    stack_bandwidth_bytes_per_s: float      # external (pin) bandwidth of one stack
    internal_bandwidth_scale: float         # bank-group PIM bandwidth / external bandwidth
    ops_per_byte: float                     # PIM FLOPs per byte of internal bandwidth
    trfc_s: float                           # refresh cycle time
    trefi_s: float                          # refresh interval
    call_overhead_s: float                  # fixed cost per attention call (command issue, sync)
    link: str                               # GPU <-> PIM-device link preset
    dram_energy_pj_per_bit: float           # cell to bank-group unit (no TSV / interposer)
    softmax_energy_pj_per_bit: float        # bank group to buffer die and back
    mac_energy_pj: float                    # one multiply-accumulate (2 FLOPs)
    stack_power_w: float                    # one stack at full PIM activity (iso-power view; preset comments)
    source: str = ""

    def __post_init__(self):
        if not isinstance(self.stacks_per_device, int) or self.stacks_per_device < 1:
            raise ParameterError("stacks_per_device", f"must be a positive integer, got {self.stacks_per_device!r}")
        require_positive(self, "stack_capacity_bytes", "stack_bandwidth_bytes_per_s", "internal_bandwidth_scale",
                         "ops_per_byte", "trefi_s", "stack_power_w")
        require_positive(self, "trfc_s", "call_overhead_s", "dram_energy_pj_per_bit",
                         "softmax_energy_pj_per_bit", "mac_energy_pj", allow_zero=True)
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


def hbm_pim_attention_cost(spec: HbmPimSpec, model: LlmConfig, contexts_tokens, n_devices: int = 1) -> OpCost:
    """Decode attention of one layer, on each of ``n_devices`` PIM devices (heads split evenly)."""
    ctx = gpu_model._contexts(contexts_tokens)
    q_heads, kv_heads = gpu_model._tp_heads(model, n_devices)
    tokens = float(ctx.sum())
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


def gpu_pim_decode_step_cost(gpu: GpuSpec, pim: HbmPimSpec, model: LlmConfig, contexts_tokens,
                             n_gpus: int = 1, layers: int | None = None,
                             weight_bits: int = 16) -> dict[str, OpCost]:
    """One decode step on ``n_gpus`` tensor-parallel GPUs, each paired with one HBM-PIM device
    holding its share of the KV cache. Keys as `gpu_decode_step_cost` (time of one device,
    bytes / FLOPs / energy of all); GPU and PIM work run one after the other (no overlap of FC
    and attention across micro-batches, which AttAcc's pipelining option would add)."""
    ctx = gpu_model._contexts(contexts_tokens)
    per_layer = gpu_model.gpu_decode_layer_cost(gpu, model, ctx, n_gpus, weight_bits)
    per_layer["attention"] = gpu_model.group_cost(hbm_pim_attention_cost(pim, model, ctx, n_gpus), n_gpus)
    per_layer["communication"] = per_layer["communication"] + gpu_model.group_cost(
        gpu_pim_transfer_cost(pim, model, ctx.size, n_gpus), n_gpus)
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
