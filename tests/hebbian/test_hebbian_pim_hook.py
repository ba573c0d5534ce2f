"""A trained ternary layer goes to the PIM model as a 2-bit GEMV."""
import numpy as np
import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import load_pim_module, pim_gemv_cost
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer
from lolpim.hardware.pim.ternary_layer import pim_inference_cost


def test_ternary_layer_cost_is_the_2_bit_gemv():
    layer = TernaryLayer(LayerConfig(448, 100), weights=np.random.default_rng(0).integers(-1, 2, (100, 448)))
    est = pim_inference_cost(layer, batch=4)
    spec = load_pim_module("lolpim-module")
    assert est.ternary == pim_gemv_cost(spec, 448, 100, 4, weight_bits=2)
    assert est.bf16 == pim_gemv_cost(spec, 448, 100, 4, weight_bits=16)
    assert est.ternary.time_s > 0 and est.ternary.energy_j > 0
    # fewer weight bits to stream from the banks: never slower, never more energy
    assert est.speedup_vs_bf16 >= 1.0 and est.energy_ratio_vs_bf16 <= 1.0
    assert est.as_dict()["k_in"] == 448


def test_rejects_non_ternary_weights():
    with pytest.raises(ParameterError, match="weights"):
        pim_inference_cost(np.array([[0, 2]]))
    with pytest.raises(ParameterError, match="batch"):
        pim_inference_cost(np.zeros((2, 2), np.int8), batch=0)
