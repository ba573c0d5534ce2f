"""Deployment hook: what a packed CBP network costs on the simulated PIM module.

Weight precision enters the PIM model through ``weight_bits``: fewer bits per weight
means fewer DRAM rows to stream per GEMV and more layers resident per module.
"""
from __future__ import annotations

from .export import PackedLayer


def pim_gemv_costs(layers: list[PackedLayer], batch: int = 1, module: str = "lolpim-module"):
    """{layer name: OpCost} of one GEMV per constrained layer at its packed precision."""
    try:
        from lolpim.hardware.pim import load_pim_module, pim_gemv_cost
    except ImportError as exc:
        raise NotImplementedError(
            "lolpim.hardware.pim (load_pim_module, pim_gemv_cost) is not available yet; "
            "the CBP export already records weight_bits per layer for it") from exc
    spec = load_pim_module(module)
    return {l.name: pim_gemv_cost(spec, l.shape[0], l.shape[1], batch, weight_bits=l.weight_bits)
            for l in layers}
