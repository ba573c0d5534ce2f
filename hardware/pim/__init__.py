"""GDDR6-AiM-style PIM modules: the one import for presets, GEMV, attention, layers and capacity.

    from lolpim.hardware.pim import load_pim_module, pim_gemv_cost, pim_decode_layers_cost

The parts live in small modules: pim_spec (what a module is, presets), pim_gemv (command-level
GEMV, fast and reference), pim_attention (attention partitioning, decode and prefill layers),
pim_capacity (what fits). Equations and assumptions: docs/hardware-pim.md.
"""
from lolpim.hardware.pim.attention import (PARTITIONINGS, pim_attention_cost, pim_decode_layers_cost,
                                           pim_prefill_layers_cost)
from lolpim.hardware.pim.capacity import PimCapacity, matrix_bytes_in_banks, module_capacity
from lolpim.hardware.pim.gemv import (gemv_channel_schedule, pim_gemv_cost, pim_gemv_reference,
                                      reference_channel_schedule)
from lolpim.hardware.pim.spec import (WEIGHT_BITS_ALLOWED, WEIGHT_FORMAT_BITS, PimModuleSpec, load_pim_module,
                                      pim_module_names, weight_bits_for)

__all__ = [
    "PARTITIONINGS", "PimCapacity", "PimModuleSpec", "WEIGHT_BITS_ALLOWED", "WEIGHT_FORMAT_BITS",
    "gemv_channel_schedule", "load_pim_module", "matrix_bytes_in_banks", "module_capacity",
    "pim_attention_cost", "pim_decode_layers_cost", "pim_gemv_cost", "pim_gemv_reference",
    "pim_module_names", "pim_prefill_layers_cost", "reference_channel_schedule", "weight_bits_for",
]
