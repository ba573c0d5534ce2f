"""xPU+PIM modules (NeuPIMs-style): matrix units next to the PIM memory.

A decode step splits between two engines of the same module:
- the matrix units run the FC GEMMs (QKV, output projection, FFN, MoE experts) at the
  micro-batch's size, their weights streaming from the banks over the channel I/O
  (``nmu_gemm_cost``); batched GEMMs use the weights once for every request, which PIM
  GEMVs, one input vector per pass, cannot;
- the PIM banks run attention (QK^T and SV GEMVs over each request's own KV), where there is
  no weight reuse to exploit.
NeuPIMs' dual row buffers let the banks serve the matrix units' reads while computing, and
its sub-batch interleaving feeds one engine while the other works, so in steady state the
two overlap: a step takes max(FC, attention) plus the element-wise work neither hides
(norms, rotary, activations, softmax on the matrix units). That overlap is an assumption
of the model, documented in docs/hardware-pim.md; ``overlap=False`` gives the serial sum.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from lolpim.hardware.cost import ZERO, OpCost
from lolpim.hardware.pim.attention import (_check_layers, _contexts, _elementwise_flops, _ffn_cost, _nmu_cost,
                                           _per_layers, nmu_gemm_cost, pim_attention_cost)
from lolpim.hardware.pim.spec import PimModuleSpec, check_weight_bits
from lolpim.models.llm.architecture import LlmConfig

OVERLAPPED = ("fc", "attention")   # the parts the two engines run side by side


def xpu_decode_layers_cost(spec: PimModuleSpec, model: LlmConfig, contexts_tokens, layers: int,
                           partitioning: str = "token-centric", weight_bits: int = 16,
                           channel_tokens: int = 0) -> dict[str, OpCost]:
    """One decode step through ``layers`` layers on an xPU+PIM module. Keys: fc (matrix units),
    attention (PIM banks), other (element-wise, matrix units). Combine with ``xpu_step_cost``."""
    layers = _check_layers(layers, model)
    weight_bits = check_weight_bits(weight_bits)
    ctx = _contexts(contexts_tokens)
    # as pim_decode_layers_cost: a micro-batch meets the same answer at every identical stage (a
    # fresh dict each time, since callers add parts to it)
    return dict(_xpu_layers_cached(spec, model, ctx.tobytes(), layers, partitioning, weight_bits, channel_tokens))


@lru_cache(maxsize=4096)
def _xpu_layers_cached(spec: PimModuleSpec, model: LlmConfig, ctx_bytes: bytes, layers: int, partitioning: str,
                       weight_bits: int, channel_tokens: int = 0) -> dict[str, OpCost]:
    ctx = np.frombuffer(ctx_bytes, dtype=np.int64)
    batch = int(ctx.size)
    shapes = model.fc_shapes()

    def gemm(k: int, n: int, rows: int) -> OpCost:
        return nmu_gemm_cost(spec, k, n, rows, weight_bits)

    fc = gemm(*shapes["qkv"], batch) + gemm(*shapes["out_proj"], batch) + _ffn_cost(model, batch, gemm)
    other_flops, act_flops = _elementwise_flops(model, batch)
    parts = {"fc": fc, "attention": pim_attention_cost(spec, model, ctx, partitioning, channel_tokens),
             "other": _nmu_cost(spec, other_flops + act_flops, "nmu")}
    return {name: _per_layers(cost, layers) for name, cost in parts.items()}


def xpu_step_cost(parts: dict[str, OpCost], overlap: bool = True) -> OpCost:
    """The step's cost from its parts: FC and attention overlapped (the longer one counts) and
    everything else (element-wise, LM head, communication) after them. Energy is always the sum."""
    serial = ZERO
    for cost in parts.values():
        serial = serial + cost
    if not overlap:
        return serial
    hidden = min(parts[name].time_s for name in OVERLAPPED)
    longer = max(OVERLAPPED, key=lambda name: parts[name].time_s)
    return OpCost(serial.time_s - hidden, serial.bytes_moved, serial.flops, serial.energy_j,
                  parts[longer].bound, {"overlapped_s": hidden})
