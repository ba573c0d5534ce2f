"""Deployment hook: packed layers hand their weight_bits to the PIM module model."""
import numpy as np
import pytest

from lolpim.hardware.pim.packed_layers import pim_deployment, pim_gemv_costs
from lolpim.models.cbp.export import pack_layer

NAMES = ("binary", "ternary", "shift2")


@pytest.fixture(scope="module")
def W():
    """A 4096 x 4096 layer (128 MB): drawn when a test here runs, not when the module is collected."""
    return np.random.default_rng(0).normal(0, 0.05, size=(4096, 4096))


@pytest.mark.slow
def test_fewer_weight_bits_never_cost_more_time(W):
    costs = pim_gemv_costs([pack_layer(name, W, name, 0.05) for name in NAMES])
    times = [costs[name].time_s for name in NAMES]
    assert all(t > 0 for t in times)
    assert times[0] <= times[1] <= times[2]


@pytest.mark.slow
def test_low_bit_layers_take_fewer_bank_bytes_than_bf16(W):
    rows = pim_deployment([pack_layer(name, W, name, 0.05) for name in NAMES])
    assert [r["weight_bits"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert r["bank_bytes"] < r["bank_bytes_bf16"]
        assert r["gemv_time_s"] < r["gemv_time_bf16_s"]
    assert rows[0]["bank_bytes"] < rows[1]["bank_bytes"] < rows[2]["bank_bytes"]
