"""GPU cost model: a roofline with separately calibrated efficiencies and a per-kernel overhead.

Every kernel costs

    time = overhead + max(bytes / (hbm_bandwidth * bandwidth_efficiency),
                          flops / (peak_flops * gemm_compute_efficiency))

with one (overhead, bandwidth efficiency) pair for FC layers (GEMV/GEMM kernels and the small
element-wise kernels around them) and another for decode attention (flash-decoding style: a
split kernel plus a combine kernel, hence its larger fixed cost). The effective bandwidth of
decode attention therefore grows with KV length and batch (see `gpu_attention_efficiency`),
as measured on the H200 (docs/anchors.md section 4). Tensor parallelism splits heads and FC columns /
rows across GPUs, with two ring all-reduces per layer over the GPU's NVLink preset.

Presets: hardware/presets/gpu/*.toml; the H200 efficiencies are fitted by
`lolpim.hardware.gpu.calibration` on part of data/h200_decode_microbench.json.
"""
from __future__ import annotations

import math

import numpy as np

from lolpim.hardware.cost import ZERO, OpCost, total
from lolpim.core.errors import ParameterError
from lolpim.hardware.links import LinkSpec, allgather_cost, allreduce_cost, check_allreduce, load_link
from lolpim.core import schema
from lolpim.core.schema import field
from lolpim.hardware.toml_presets import load_preset, preset_names
from lolpim.models.llm.architecture import LlmConfig

STEP_PARTS = ("qkv", "attention", "out_proj", "ffn", "communication", "other")
ACT_BYTES = 2  # activations and KV in BF16/FP16


@schema.frozen   # a frozen dataclass whose fields are checked on construction (core/schema.py)
class GpuSpec:
    name: str
    peak_flops_per_s: float = field(gt=0)  # dense BF16 tensor-core peak
    hbm_bandwidth_bytes_per_s: float = field(gt=0)
    hbm_capacity_bytes: float = field(gt=0)
    interconnect: str                       # link preset used for tensor-parallel collectives
    kernel_overhead_s: float = field(min=0)  # fixed cost of one FC / element-wise kernel
    attention_overhead_s: float = field(min=0)  # fixed cost of one decode-attention call
    gemv_bandwidth_efficiency: float = field(gt=0, max=1)  # weight streaming in FC kernels (and element-wise)
    attention_bandwidth_efficiency: float = field(gt=0, max=1)  # KV streaming in decode attention, long-KV limit
    gemm_compute_efficiency: float = field(gt=0, max=1)  # share of peak FLOPS a large GEMM reaches
    prefill_attention_overhead_s: float = field(min=0)  # fixed cost of one causal (flash) prefill-attention call
    # share of peak FLOPS long causal attention reaches
    prefill_attention_compute_efficiency: float = field(gt=0, max=1)
    hbm_energy_pj_per_bit: float = field(min=0)  # DRAM cell + on-die movement + TSV + interposer I/O
    compute_energy_pj_per_flop: float = field(min=0)
    tdp_w: float = field(gt=0)
    source: str = ""
    # Decode attention's share of peak as a saturating function of the KV bytes one call reads,
    # attention_bandwidth_efficiency / (1 + (half / kv_bytes) ** exponent), where a published
    # measurement shows that shape (a100-80gb); 0: the fixed-overhead form, where the share grows
    # only through attention_overhead_s (the H200 fit)
    attention_half_efficiency_bytes: float = field(default=0.0, min=0)
    attention_efficiency_exponent: float = field(default=1.0, gt=0)
    allreduce: str = "nccl-ring"            # tensor-parallel all-reduce: hardware/links.py ALLREDUCE_ALGORITHMS

    def __post_init__(self):   # after the declared ranges
        check_allreduce(self.allreduce)
        if not isinstance(self.interconnect, str) or not self.interconnect:
            raise ParameterError("interconnect", "must name a link preset, e.g. 'nvlink4'")

    @property
    def link(self) -> LinkSpec:
        return load_link(self.interconnect)


def gpu_names() -> list[str]:
    return preset_names("gpu")


def load_gpu(name: str) -> GpuSpec:
    return load_preset("gpu", name, GpuSpec, "device")


# --------------------------------------------------------------------------- kernels

def _kernel(spec: GpuSpec, bytes_: float, flops: float, overhead_s: float, bw_eff: float,
            detail: dict) -> OpCost:
    t_mem = bytes_ / (spec.hbm_bandwidth_bytes_per_s * bw_eff)
    t_cmp = flops / (spec.peak_flops_per_s * spec.gemm_compute_efficiency)
    energy = (bytes_ * 8 * spec.hbm_energy_pj_per_bit + flops * spec.compute_energy_pj_per_flop) * 1e-12
    bound = "memory" if t_mem >= t_cmp else "compute"
    return OpCost(overhead_s + max(t_mem, t_cmp), bytes_moved=bytes_, flops=flops, energy_j=energy,
                  bound=bound, detail=detail)


def gpu_gemm_cost(spec: GpuSpec, k: int, n: int, batch: int, weight_bits: int = 16) -> OpCost:
    """y[batch, n] = x[batch, k] @ W[k, n] as one kernel.

    Bytes: the weights once plus input and output activations (tiles are assumed to stay on
    chip, which holds for decode batches and is optimistic for very large prefill GEMMs).
    """
    for name, v in (("k", k), ("n", n), ("batch", batch), ("weight_bits", weight_bits)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ParameterError(name, f"must be a positive integer, got {v!r}")
    bytes_ = k * n * weight_bits / 8 + batch * (k + n) * ACT_BYTES
    flops = 2.0 * batch * k * n
    return _kernel(spec, bytes_, flops, spec.kernel_overhead_s, spec.gemv_bandwidth_efficiency,
                   {"k": k, "n": n, "batch": batch})


# A decode FC layer is a GEMV-shaped GEMM; one roofline covers both, the name reads better.
gpu_gemv_cost = gpu_gemm_cost


def gpu_elementwise_cost(spec: GpuSpec, bytes_: float, flops: float = 0.0) -> OpCost:
    """A small streaming kernel (norm, rotary, activation, KV append, embedding gather)."""
    return _kernel(spec, bytes_, flops, spec.kernel_overhead_s, spec.gemv_bandwidth_efficiency, {})


def gpu_attention_kernel_cost(spec: GpuSpec, kv_tokens: float, q_heads: int, kv_heads: int,
                              head_dim: int, batch: int) -> OpCost:
    """One decode-attention call: ``batch`` queries of one token over ``kv_tokens`` cached tokens
    in total (summed over requests), ``q_heads`` query heads sharing ``kv_heads`` KV heads."""
    kv_bytes = 2.0 * kv_tokens * kv_heads * head_dim * ACT_BYTES
    io_bytes = 2.0 * batch * q_heads * head_dim * ACT_BYTES  # query in, output out
    flops = 4.0 * kv_tokens * q_heads * head_dim             # QK^T and SV, 2 FLOPs per MAC
    cost = _kernel(spec, kv_bytes + io_bytes, flops, spec.attention_overhead_s,
                   attention_streaming_efficiency(spec, kv_bytes), {})
    eff = kv_bytes / (spec.hbm_bandwidth_bytes_per_s * cost.time_s) if cost.time_s else 0.0
    return OpCost(cost.time_s, cost.bytes_moved, cost.flops, cost.energy_j, cost.bound,
                  {"kv_bytes": kv_bytes, "effective_bandwidth_efficiency": eff})


def attention_streaming_efficiency(spec: GpuSpec, kv_bytes: float) -> float:
    """The share of peak bandwidth one decode-attention call streams its ``kv_bytes`` at (before
    its fixed overhead): the long-KV limit, or the saturating curve of a preset that has one."""
    half = spec.attention_half_efficiency_bytes
    if not half or kv_bytes <= 0:
        return spec.attention_bandwidth_efficiency
    return spec.attention_bandwidth_efficiency / (1.0 + (half / kv_bytes) ** spec.attention_efficiency_exponent)


def gpu_prefill_attention_cost(spec: GpuSpec, prompt_tokens, q_heads: int, kv_heads: int,
                               head_dim: int) -> OpCost:
    """Causal self-attention over each prompt in ``prompt_tokens``, one variable-length call
    (flash-attention style: Q, K, V read once, O written once; compute-bound for long prompts)."""
    prompts = np.atleast_1d(np.asarray(prompt_tokens, dtype=np.float64))
    flops = 4.0 * float(np.sum(prompts * (prompts + 1) / 2)) * q_heads * head_dim
    bytes_ = float(prompts.sum()) * (2 * q_heads + 2 * kv_heads) * head_dim * ACT_BYTES
    t_cmp = flops / (spec.peak_flops_per_s * spec.prefill_attention_compute_efficiency)
    t_mem = bytes_ / (spec.hbm_bandwidth_bytes_per_s * spec.attention_bandwidth_efficiency)
    energy = (bytes_ * 8 * spec.hbm_energy_pj_per_bit + flops * spec.compute_energy_pj_per_flop) * 1e-12
    return OpCost(spec.prefill_attention_overhead_s + max(t_cmp, t_mem), bytes_, flops, energy,
                  "compute" if t_cmp >= t_mem else "memory", {})


def gpu_attention_efficiency(spec: GpuSpec, kv_tokens_per_request: float, batch: int,
                             kv_heads: int = 32, head_dim: int = 128, q_heads: int | None = None) -> float:
    """Effective share of peak HBM bandwidth decode attention reaches, as a function of KV
    length and batch: the fixed cost dominates short caches and small batches."""
    cost = gpu_attention_kernel_cost(spec, kv_tokens_per_request * batch, q_heads or kv_heads,
                                     kv_heads, head_dim, batch)
    return cost.detail["effective_bandwidth_efficiency"]


# --------------------------------------------------------------------------- model level

def _contexts(contexts_tokens) -> np.ndarray:
    ctx = np.atleast_1d(np.asarray(contexts_tokens))
    if ctx.ndim != 1 or ctx.size == 0 or not np.issubdtype(ctx.dtype, np.number) or np.any(ctx < 0):
        raise ParameterError("contexts_tokens", "must be one or more non-negative token counts")
    return ctx.astype(np.int64)


def _tp_heads(model: LlmConfig, n_gpus: int) -> tuple[int, int]:
    """Query and KV heads one GPU holds; KV heads are replicated when fewer than GPUs."""
    if not isinstance(n_gpus, int) or n_gpus < 1:
        raise ParameterError("n_gpus", f"must be a positive integer, got {n_gpus!r}")
    if model.heads % n_gpus:
        raise ParameterError("n_gpus", f"{n_gpus} GPUs must divide the {model.heads} heads of {model.name}")
    return model.heads // n_gpus, math.ceil(model.kv_heads / n_gpus)


def gpu_decode_attention_cost(spec: GpuSpec, model: LlmConfig, contexts_tokens, n_gpus: int = 1) -> OpCost:
    """Decode attention of one layer on one GPU of an ``n_gpus`` tensor-parallel group.

    Paged KV: only the tokens each request holds are read (no padding to a maximum length);
    the page-table reads are negligible next to the KV.
    """
    ctx = _contexts(contexts_tokens)
    q_heads, kv_heads = _tp_heads(model, n_gpus)
    return gpu_attention_kernel_cost(spec, float(ctx.sum()), q_heads, kv_heads, model.head_dim, ctx.size)


def _fc_parts(spec: GpuSpec, model: LlmConfig, rows: int, n_gpus: int, weight_bits: int) -> dict[str, OpCost]:
    """QKV, output projection and FFN of one layer on one GPU (column-parallel QKV and FFN-up,
    row-parallel output projection and FFN-down, as Megatron-style tensor parallelism)."""
    q_heads, kv_heads = _tp_heads(model, n_gpus)
    qkv_n = (q_heads + 2 * kv_heads) * model.head_dim
    ffn = ZERO
    for role, k, n, gemm_rows, count in model.ffn_gemms(rows):
        if role == "down":               # row-parallel: each GPU holds K / n_gpus
            k_local, n_local = math.ceil(k / n_gpus), n
        elif role == "router":           # tiny, replicated on every GPU
            k_local, n_local = k, n
        else:                            # up: column-parallel
            k_local, n_local = k, n // n_gpus
        cost = gpu_gemm_cost(spec, k_local, n_local, gemm_rows, weight_bits)
        ffn = ffn + (cost if count == 1 else cost.scaled(count))
    return {
        "qkv": gpu_gemm_cost(spec, model.hidden, qkv_n, rows, weight_bits),
        "out_proj": gpu_gemm_cost(spec, q_heads * model.head_dim, model.hidden, rows, weight_bits),
        "ffn": ffn,
    }


def _elementwise_parts(spec: GpuSpec, model: LlmConfig, rows: int, n_gpus: int) -> OpCost:
    """Per layer: two RMSNorms with residual add, rotary embedding, KV append, FFN activation."""
    h = rows * model.hidden * ACT_BYTES
    _, kv_heads = _tp_heads(model, n_gpus)
    q_heads = model.heads // n_gpus
    ffn_local = math.ceil(model.ffn_width_per_token / n_gpus) * rows * ACT_BYTES
    kernels = [
        gpu_elementwise_cost(spec, 3 * h, 4.0 * rows * model.hidden),              # norm + residual
        gpu_elementwise_cost(spec, 3 * h, 4.0 * rows * model.hidden),              # norm + residual
        gpu_elementwise_cost(spec, 2 * rows * (q_heads + kv_heads) * model.head_dim * ACT_BYTES,
                             6.0 * rows * (q_heads + kv_heads) * model.head_dim),  # rotary
        gpu_elementwise_cost(spec, 4 * rows * kv_heads * model.head_dim * ACT_BYTES),  # KV append
    ]
    act_in = 2 if model.ffn_kind == "gated" else 1
    kernels.append(gpu_elementwise_cost(spec, (act_in + 1) * ffn_local, 5.0 * ffn_local / ACT_BYTES))
    return total(dict(enumerate(kernels)))


def _allreduces(spec: GpuSpec, model: LlmConfig, rows: int, n_gpus: int) -> OpCost:
    """Two all-reduces per layer (after the output projection and after FFN-down)."""
    one = allreduce_cost(spec.link, rows * model.hidden * ACT_BYTES, n_gpus, spec.allreduce)
    return one + one


def _head_parts(spec: GpuSpec, model: LlmConfig, rows_in: int, rows_out: int, n_gpus: int,
                weight_bits: int) -> dict[str, OpCost]:
    """Embedding gather, final norm and the (vocabulary-parallel) LM head with its all-gather."""
    gather = gpu_elementwise_cost(spec, 2 * rows_in * model.hidden * ACT_BYTES)
    norm = gpu_elementwise_cost(spec, 2 * rows_out * model.hidden * ACT_BYTES, 4.0 * rows_out * model.hidden)
    lm_head = gpu_gemm_cost(spec, model.hidden, math.ceil(model.vocab / n_gpus), rows_out, weight_bits)
    logits = allgather_cost(spec.link, rows_out * model.vocab * ACT_BYTES, n_gpus)
    return {"other": group_cost(gather + norm + lm_head, n_gpus), "communication": logits}


def group_cost(cost: OpCost, n_devices: int) -> OpCost:
    """A cost every device of a parallel group pays at once: the time of one, the bytes,
    FLOPs and energy of all."""
    return OpCost(cost.time_s, cost.bytes_moved * n_devices, cost.flops * n_devices,
                  cost.energy_j * n_devices, cost.bound, dict(cost.detail))


def _assemble(per_layer: dict[str, OpCost], layers: int, head: dict[str, OpCost] | None) -> dict[str, OpCost]:
    out = {}
    for part in STEP_PARTS:
        cost = per_layer.get(part, ZERO).scaled(layers) if layers else ZERO
        if head and part in head:
            cost = cost + head[part]
        out[part] = cost
    return out


def _check_layers(model: LlmConfig, layers) -> int | None:
    if layers is None:
        return None
    if not isinstance(layers, int) or not 1 <= layers <= model.layers:
        raise ParameterError("layers", f"must be an integer in 1..{model.layers} for {model.name}, got {layers!r}")
    return layers


def gpu_decode_layer_cost(spec: GpuSpec, model: LlmConfig, contexts_tokens, n_gpus: int = 1,
                          weight_bits: int = 16) -> dict[str, OpCost]:
    """One decoder layer of one decode step (one new token per request) on an ``n_gpus``
    tensor-parallel group: times are those of one GPU (all work in parallel); bytes, FLOPs and
    energy are summed over the group."""
    ctx = _contexts(contexts_tokens)
    rows = ctx.size
    parts = _fc_parts(spec, model, rows, n_gpus, weight_bits)
    parts["attention"] = gpu_decode_attention_cost(spec, model, ctx, n_gpus)
    parts["other"] = _elementwise_parts(spec, model, rows, n_gpus)
    parts = {p: group_cost(c, n_gpus) for p, c in parts.items()}
    parts["communication"] = _allreduces(spec, model, rows, n_gpus)  # already counts every sender
    return {p: parts[p] for p in STEP_PARTS}


def gpu_decode_step_cost(spec: GpuSpec, model: LlmConfig, contexts_tokens, n_gpus: int = 1,
                         layers: int | None = None, weight_bits: int = 16) -> dict[str, OpCost]:
    """One decode step for every request in ``contexts_tokens`` (KV length per request).

    ``layers=None``: the whole model, i.e. ``model.layers`` identical decoder layers plus the
    embedding, final norm and LM head. ``layers=N``: only the first N decoder layers.
    The whole-model time is exactly layers x one layer + head, by construction.
    """
    layers = _check_layers(model, layers)
    ctx = _contexts(contexts_tokens)
    per_layer = gpu_decode_layer_cost(spec, model, ctx, n_gpus, weight_bits)
    head = None if layers else _head_parts(spec, model, ctx.size, ctx.size, n_gpus, weight_bits)
    return _assemble(per_layer, layers or model.layers, head)


def gpu_prefill_cost(spec: GpuSpec, model: LlmConfig, prompt_tokens, n_gpus: int = 1,
                     layers: int | None = None, weight_bits: int = 16) -> dict[str, OpCost]:
    """Prefill of one prompt per entry of ``prompt_tokens``, all in one batch.

    FC layers are GEMMs over all prompt tokens; causal attention (flash-attention style, one
    variable-length call) costs its own fixed overhead plus its FLOPs at the prefill-attention
    efficiency fitted on measured H200 prefill attention (gpu_calibration.py).
    """
    layers = _check_layers(model, layers)
    prompts = _contexts(prompt_tokens)
    if np.any(prompts < 1):
        raise ParameterError("prompt_tokens", "every prompt needs at least one token")
    rows = int(prompts.sum())
    q_heads, kv_heads = _tp_heads(model, n_gpus)
    parts = _fc_parts(spec, model, rows, n_gpus, weight_bits)
    parts["attention"] = gpu_prefill_attention_cost(spec, prompts, q_heads, kv_heads, model.head_dim)
    parts["other"] = _elementwise_parts(spec, model, rows, n_gpus)
    parts = {p: group_cost(c, n_gpus) for p, c in parts.items()}
    parts["communication"] = _allreduces(spec, model, rows, n_gpus)
    head = None if layers else _head_parts(spec, model, rows, prompts.size, n_gpus, weight_bits)
    return _assemble(parts, layers or model.layers, head)


def gpu_memory_bytes(model: LlmConfig, contexts_tokens, n_gpus: int = 1, weight_bits: int = 16) -> float:
    """Weights plus KV cache one GPU of the tensor-parallel group holds."""
    ctx = _contexts(contexts_tokens)
    _, kv_heads = _tp_heads(model, n_gpus)
    weights = model.params_total * weight_bits / 8 / n_gpus
    kv = float(ctx.sum()) * model.layers * 2 * kv_heads * model.head_dim * ACT_BYTES
    return weights + kv
