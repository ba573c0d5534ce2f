"""Link presets (PCIe Gen5, CXL, NVLink) and collectives built from their messages."""
import dataclasses

import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.links import (allgather_cost, allreduce_cost, link_names, link_transfer_cost,
                                   load_link)


def test_presets():
    assert link_names() == ["cxl-gen5-x16", "nvlink3", "nvlink4", "pcie-gen5-x16"]
    pcie = load_link("pcie-gen5-x16")
    assert pcie.bandwidth_bytes_per_s == pytest.approx(32e9 * 16 / 8 * 128 / 130, rel=0.01)
    assert load_link("nvlink4").bandwidth_bytes_per_s == 1.5 * load_link("nvlink3").bandwidth_bytes_per_s
    with pytest.raises(ParameterError, match="cxl-gen5-x16, nvlink3"):
        load_link("infiniband")
    with pytest.raises(ParameterError, match="payload_efficiency"):
        dataclasses.replace(pcie, payload_efficiency=0.0)


def test_transfer_is_latency_plus_overhead_plus_payload_time():
    link = load_link("pcie-gen5-x16")
    c = link_transfer_cost(link, 1e6, messages=4)
    assert c.time_s == pytest.approx(4 * (link.latency_s + link.message_overhead_s)
                                     + 1e6 / (link.bandwidth_bytes_per_s * link.payload_efficiency))
    assert c.bound == "io"
    assert link_transfer_cost(link, 64).bound == "latency"
    assert c.energy_j == pytest.approx(8e6 * link.energy_pj_per_bit * 1e-12)


def test_ring_allreduce_steps_and_limits():
    link = load_link("nvlink4")
    assert allreduce_cost(link, 1e6, 1).time_s == 0
    ar = allreduce_cost(link, 8e6, 8)
    assert ar.detail["steps"] == 14
    assert ar.time_s == pytest.approx(14 * link_transfer_cost(link, 1e6).time_s)
    assert allgather_cost(link, 8e6, 8).time_s == pytest.approx(ar.time_s / 2)
    # large buffers approach 2 (n-1)/n x bytes / payload bandwidth
    big = allreduce_cost(link, 8e9, 8).time_s
    assert big == pytest.approx(2 * 7 / 8 * 8e9 / link.payload_bandwidth_bytes_per_s, rel=0.01)
    with pytest.raises(ParameterError, match="n_devices"):
        allreduce_cost(link, 1e6, 0)
