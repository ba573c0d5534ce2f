"""Deployment hook: packed layers hand their weight_bits to the PIM GEMV model."""
import importlib.util

import numpy as np
import pytest

from lolpim.models.cbp.deploy import pim_gemv_costs
from lolpim.models.cbp.export import pack_layer

HAVE_PIM = importlib.util.find_spec("lolpim.hardware.pim") is not None
W = np.random.default_rng(0).normal(0, 0.05, size=(4096, 4096))


@pytest.mark.skipif(HAVE_PIM, reason="hardware/pim.py is present")
def test_clear_error_until_the_pim_model_lands():
    with pytest.raises(NotImplementedError, match="lolpim.hardware.pim"):
        pim_gemv_costs([pack_layer("l", W, "binary", 0.05)])


@pytest.mark.skipif(not HAVE_PIM, reason="hardware/pim.py not there yet")
def test_fewer_weight_bits_never_cost_more():
    costs = pim_gemv_costs([pack_layer(name, W, name, 0.05) for name in ("binary", "ternary", "shift2")])
    times = [costs[name].time_s for name in ("binary", "ternary", "shift2")]
    assert all(t > 0 for t in times)
    assert times[0] <= times[1] <= times[2]
