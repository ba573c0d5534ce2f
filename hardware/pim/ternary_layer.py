"""Hardware hook: what inference with a trained ternary layer costs on a PIM module.

A ternary weight needs 2 bits, so the layer is charged as a 2-bit GEMV on the PIM
model (lolpim.hardware.pim); the same layer stored as bf16 (16 bits) is charged too,
for comparison. Inputs are the binary spike vectors the layer was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.hardware.cost import OpCost
from lolpim.hardware.pim import load_pim_module, pim_gemv_cost

TERNARY_WEIGHT_BITS = 2
BASELINE_WEIGHT_BITS = 16


@dataclass(frozen=True)
class PimInferenceEstimate:
    module: str
    k_in: int
    n_out: int
    batch: int
    ternary: OpCost        # the layer with 2-bit weights
    bf16: OpCost           # the same shape with 16-bit weights

    @property
    def speedup_vs_bf16(self) -> float:
        return self.bf16.time_s / self.ternary.time_s

    @property
    def energy_ratio_vs_bf16(self) -> float:
        return self.ternary.energy_j / self.bf16.energy_j

    def as_dict(self) -> dict:
        return {"module": self.module, "k_in": self.k_in, "n_out": self.n_out, "batch": self.batch,
                "ternary_time_s": self.ternary.time_s, "ternary_energy_j": self.ternary.energy_j,
                "ternary_bound": self.ternary.bound,
                "bf16_time_s": self.bf16.time_s, "bf16_energy_j": self.bf16.energy_j,
                "speedup_vs_bf16": self.speedup_vs_bf16, "energy_ratio_vs_bf16": self.energy_ratio_vs_bf16}


def pim_inference_cost(weights, module: str = "lolpim-module", batch: int = 1) -> PimInferenceEstimate:
    """Time and energy of y = W x on one PIM module for a trained ternary layer.

    ``weights`` is a TernaryLayer or its (n_out, n_in) matrix of -1/0/+1.
    """
    matrix = getattr(weights, "weights", weights)
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.size == 0:
        raise ParameterError("weights", f"must be a non-empty (n_out, n_in) matrix, got shape {matrix.shape}")
    if not np.isin(matrix, (-1, 0, 1)).all():
        raise ParameterError("weights", "every weight must be -1, 0 or +1 to be stored in 2 bits")
    if not isinstance(batch, int) or batch < 1:
        raise ParameterError("batch", f"must be a positive integer, got {batch!r}")
    n_out, k_in = matrix.shape
    spec = load_pim_module(module)
    ternary = pim_gemv_cost(spec, k_in, n_out, batch, weight_bits=TERNARY_WEIGHT_BITS)
    bf16 = pim_gemv_cost(spec, k_in, n_out, batch, weight_bits=BASELINE_WEIGHT_BITS)
    return PimInferenceEstimate(module, int(k_in), int(n_out), batch, ternary, bf16)
