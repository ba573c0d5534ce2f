"""Host and device links (PCIe Gen5, CXL, NVLink): latency, bandwidth and per-message cost.

A message of b bytes over a link costs

    latency_s + message_overhead_s + b / (bandwidth_bytes_per_s * payload_efficiency)

where ``bandwidth_bytes_per_s`` is the raw rate in one direction and ``payload_efficiency``
is the share of it left for payload once packet headers, flits and flow control are paid.
Collectives (ring all-reduce, all-gather) are built from such messages.
Presets: hardware/presets/link/*.toml, each naming its sources.
"""
from __future__ import annotations

from dataclasses import dataclass

from lolpim.hardware.cost import ZERO, OpCost
from lolpim.core.errors import ParameterError
from lolpim.hardware.toml_presets import load_preset, preset_names, require_fraction, require_positive


@dataclass(frozen=True)
class LinkSpec:
    name: str
    bandwidth_bytes_per_s: float   # raw, one direction
    payload_efficiency: float      # (0, 1]: payload share of the raw rate
    latency_s: float               # one-way, first byte in to first byte out
    message_overhead_s: float      # fixed software / DMA / protocol cost per message
    energy_pj_per_bit: float       # transfer energy per payload bit
    source: str = ""

    def __post_init__(self):
        require_positive(self, "bandwidth_bytes_per_s", "latency_s")
        require_positive(self, "message_overhead_s", "energy_pj_per_bit", allow_zero=True)
        require_fraction(self, "payload_efficiency")

    @property
    def payload_bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_bytes_per_s * self.payload_efficiency


def link_names() -> list[str]:
    return preset_names("link")


def load_link(name: str) -> LinkSpec:
    return load_preset("link", name, LinkSpec, "link")


def link_transfer_cost(link: LinkSpec, bytes_: float, messages: int = 1) -> OpCost:
    """``bytes_`` in ``messages`` equal messages sent one after another over one link."""
    if bytes_ < 0 or messages < 0:
        raise ParameterError("bytes", f"bytes and messages must be >= 0, got {bytes_!r}, {messages!r}")
    if bytes_ == 0 and messages == 0:
        return ZERO
    messages = max(messages, 1)
    fixed = messages * (link.latency_s + link.message_overhead_s)
    stream = bytes_ / link.payload_bandwidth_bytes_per_s
    return OpCost(fixed + stream, bytes_moved=bytes_, energy_j=bytes_ * 8 * link.energy_pj_per_bit * 1e-12,
                  bound="io" if stream >= fixed else "latency",
                  detail={"link": link.name, "messages": messages})


def allreduce_cost(link: LinkSpec, bytes_: float, n_devices: int) -> OpCost:
    """Ring all-reduce of a ``bytes_`` buffer over ``n_devices``: 2(n-1) steps of bytes/n each.

    Every device sends in every step, so the energy counts all n senders.
    """
    return _ring(link, bytes_, n_devices, steps_per_device=2)


def allgather_cost(link: LinkSpec, bytes_: float, n_devices: int) -> OpCost:
    """Ring all-gather ending with ``bytes_`` on every device: (n-1) steps of bytes/n each."""
    return _ring(link, bytes_, n_devices, steps_per_device=1)


def _ring(link: LinkSpec, bytes_: float, n_devices: int, steps_per_device: int) -> OpCost:
    if not isinstance(n_devices, int) or n_devices < 1:
        raise ParameterError("n_devices", f"must be a positive integer, got {n_devices!r}")
    if n_devices == 1 or bytes_ == 0:
        return ZERO
    steps = steps_per_device * (n_devices - 1)
    chunk = bytes_ / n_devices
    one = link_transfer_cost(link, chunk)
    sent = steps * chunk * n_devices
    return OpCost(steps * one.time_s, bytes_moved=sent,
                  energy_j=sent * 8 * link.energy_pj_per_bit * 1e-12, bound=one.bound,
                  detail={"link": link.name, "steps": steps, "devices": n_devices})
