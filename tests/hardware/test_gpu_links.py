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
    """Links without published collective latencies (PCIe, CXL) run rings of messages."""
    link = load_link("pcie-gen5-x16")
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


# published small-message all-reduce latencies the NVLink presets are built from (their comments)
NCCL_A100_2GPU_S = 10.14e-6      # NVIDIA/nccl issue #583: 2 x A100-SXM4, 32 B
NCCL_H100_8GPU = {128: 19.19e-6, 1 << 10: 19.50e-6, 16 << 10: 20.71e-6, 64 << 10: 23.05e-6,
                  256 << 10: 24.76e-6, 512 << 10: 25.24e-6, 1 << 20: 32.42e-6}   # Triton-distributed #57
ONESHOT_H100_512B = {2: 3.7e-6, 4: 4.8e-6, 8: 5.9e-6}                             # sglang PR #2904


@pytest.mark.parametrize("name", ["nvlink3", "nvlink4"])
def test_nccl_allreduce_is_tens_of_microseconds_for_decode_messages(name):
    """Issue 21: 2(n-1) x 3.03 us gave 6 us at TP2; NCCL takes ~10 us on 2 GPUs and ~20 us on 8
    for decode-sized messages. The calibration points are matched, the other 8-GPU sizes are
    held out: within 25% up to 1 MB (the model's bandwidth term is optimistic there)."""
    link = load_link(name)
    assert allreduce_cost(link, 32, 2).time_s == pytest.approx(NCCL_A100_2GPU_S, rel=0.01)
    assert allreduce_cost(link, 128, 8).time_s == pytest.approx(NCCL_H100_8GPU[128], rel=0.02)
    if name == "nvlink4":   # the 8-GPU points were measured on H100s
        for size, measured in NCCL_H100_8GPU.items():
            assert abs(allreduce_cost(link, size, 8).time_s / measured - 1) < 0.25, size
    tp2 = allreduce_cost(link, 2 * 32 * 4096, 2).time_s      # 32 requests of a 4096-wide model, BF16
    assert 10e-6 < tp2 < 15e-6 and tp2 > 1.5 * 2 * link.latency_s   # the old ring: 2 x 3.03 us
    assert allreduce_cost(link, 128, 8).detail["algorithm"] == "nccl-ring"


def test_custom_oneshot_is_faster_for_small_messages_and_falls_back_to_nccl():
    link = load_link("nvlink4")
    for n, measured in ONESHOT_H100_512B.items():
        # a line through the 2- and 8-GPU points; 4 GPUs is held out (4.44 us against 4.8)
        assert allreduce_cost(link, 512, n, "custom-oneshot").time_s == pytest.approx(measured, rel=0.1)
    small = allreduce_cost(link, 64 << 10, 8, "custom-oneshot")
    assert small.detail["algorithm"] == "custom-oneshot"
    assert small.time_s < 0.5 * allreduce_cost(link, 64 << 10, 8).time_s
    big = allreduce_cost(link, 64 << 20, 8, "custom-oneshot")    # one-shot reads 7 x 64 MB: NCCL wins
    assert big.detail["algorithm"] == "nccl-ring" and big.time_s == allreduce_cost(link, 64 << 20, 8).time_s
    with pytest.raises(ParameterError, match="allreduce"):
        allreduce_cost(link, 512, 2, "two-shot")
