"""How much of a PIM system's multiply-accumulate capacity a decode run puts to use.

``decode_mac_flops`` counts the useful work of decoding a trace from the model alone: every FC
GEMV (the parameters a token multiplies; the embedding lookup is not a MAC) and attention's
QK^T and SV (every query head against every cached token), summed over each generated token.
Dividing by the banks' peak MAC rate x the modules x the run's makespan gives the MAC
utilisation LoL-PIM v3 quotes for CENT at 1M tokens. Work the system repeats (recomputation
after a preemption) or does off the banks (softmax on the near-memory unit) is not counted.
"""
from __future__ import annotations

import numpy as np

from lolpim.hardware.pim.spec import PimModuleSpec
from lolpim.models.llm.architecture import LlmConfig


def decode_mac_flops(model: LlmConfig, input_tokens, output_tokens) -> float:
    """Useful MAC FLOPs (2 per multiply-accumulate) of decoding ``output_tokens`` new tokens after
    ``input_tokens`` prompt tokens, per request (arrays of equal length, or scalars)."""
    prompt = np.asarray(input_tokens, dtype=np.float64)
    out = np.asarray(output_tokens, dtype=np.float64)
    lookup = 0 if model.tied_embeddings else model.vocab * model.hidden
    fc_per_token = 2.0 * (model.params_active_per_token - lookup)
    # new token i (0-based) attends over prompt + i cached tokens: sum_i = out*prompt + out(out-1)/2
    attended = out * prompt + out * (out - 1) / 2
    attention = 2.0 * 2 * model.q_dim * model.layers * attended   # QK^T and SV, 2 FLOPs per MAC
    return float(np.sum(fc_per_token * out + attention))


def mac_utilisation(model: LlmConfig, spec: PimModuleSpec, modules: int, input_tokens, output_tokens,
                    makespan_s: float) -> float:
    """Useful MAC FLOPs / (the banks' peak MAC rate x modules x makespan)."""
    return decode_mac_flops(model, input_tokens, output_tokens) / (spec.pim_flops_per_s * modules * makespan_s)
