"""Deployment hook: what a packed CBP network costs on the simulated PIM module.

Weight precision enters the PIM model through ``weight_bits``: fewer bits per weight
means fewer DRAM columns to stream per GEMV and fewer bank bytes per layer, so more
layers (or more KV cache) fit in a module.
"""
from __future__ import annotations

from lolpim.hardware.pim import load_pim_module, matrix_bytes_in_banks, pim_gemv_cost

from lolpim.models.cbp.export import PackedLayer

BASELINE_BITS = 16   # the same layer kept in bf16


def pim_gemv_costs(layers: list[PackedLayer], batch: int = 1, module: str = "lolpim-module"):
    """{layer name: OpCost} of one GEMV per constrained layer at its packed precision."""
    spec = load_pim_module(module)
    return {layer.name: pim_gemv_cost(spec, layer.shape[0], layer.shape[1], batch, weight_bits=layer.weight_bits)
            for layer in layers}


def pim_deployment(layers: list[PackedLayer], batch: int = 1, module: str = "lolpim-module") -> list[dict]:
    """Per layer: GEMV time and bank bytes at the packed precision and in bf16."""
    spec = load_pim_module(module)
    rows = []
    for layer in layers:
        k_in, n_out = layer.shape[0], layer.shape[1]
        rows.append({
            "layer": layer.name, "shape": list(layer.shape), "weight_bits": layer.weight_bits,
            "gemv_time_s": pim_gemv_cost(spec, k_in, n_out, batch, weight_bits=layer.weight_bits).time_s,
            "gemv_time_bf16_s": pim_gemv_cost(spec, k_in, n_out, batch, weight_bits=BASELINE_BITS).time_s,
            "bank_bytes": matrix_bytes_in_banks(spec, k_in, n_out, layer.weight_bits),
            "bank_bytes_bf16": matrix_bytes_in_banks(spec, k_in, n_out, BASELINE_BITS)})
    return rows
