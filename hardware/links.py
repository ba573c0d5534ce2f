"""Host and device links (PCIe Gen5, CXL, NVLink): latency, bandwidth and per-message cost.

A message of b bytes over a link costs

    latency_s + message_overhead_s + b / (bandwidth_bytes_per_s * payload_efficiency)

where ``bandwidth_bytes_per_s`` is the raw rate in one direction and ``payload_efficiency``
is the share of it left for payload once packet headers, flits and flow control are paid.

Collectives over n devices (all-reduce, all-gather of a b-byte buffer):
- on a link whose preset gives published collective latencies (NVLink), as the libraries run
  them: "nccl-ring" costs a fixed latency growing with n, taken from published NCCL all-reduce
  times for small messages, plus the ring's 2(n-1)/n x b (all-gather (n-1)/n x b) at the
  payload bandwidth; "custom-oneshot" (vLLM / TensorRT-LLM style one-shot kernels: every GPU
  reads the n-1 peer buffers and sums them) costs its own published latency plus (n-1) x b at
  the payload bandwidth, and falls back to NCCL where that is faster (large messages), as
  serving stacks choose per message size;
- on any other link (PCIe, CXL): a ring of 2(n-1) (all-gather n-1) messages of b/n, each
  priced as above.
Presets: hardware/presets/link/*.toml, each naming its sources.
"""
from __future__ import annotations

from dataclasses import dataclass

from lolpim.hardware.cost import ZERO, OpCost
from lolpim.core.errors import ParameterError
from lolpim.core import schema
from lolpim.core.schema import field
from lolpim.hardware.toml_presets import load_preset, preset_names

ALLREDUCE_ALGORITHMS = ("nccl-ring", "custom-oneshot")


@dataclass(frozen=True)
class LinkSpec:
    name: str
    bandwidth_bytes_per_s: float = field(gt=0)  # raw, one direction
    payload_efficiency: float = field(gt=0, max=1)  # (0, 1]: payload share of the raw rate
    latency_s: float = field(gt=0)       # one-way, first byte in to first byte out
    message_overhead_s: float = field(min=0)  # fixed software / DMA / protocol cost per message
    energy_pj_per_bit: float = field(min=0)  # transfer energy per payload bit
    source: str = ""
    # published collective latencies (0: none; collectives are then rings of messages)
    nccl_latency_s: float = field(default=0.0, min=0)  # NCCL all-reduce of a small buffer over 2 devices
    nccl_latency_per_device_s: float = field(default=0.0, min=0)  # added per device beyond 2
    oneshot_latency_s: float = field(default=0.0, min=0)  # one-shot custom all-reduce over 2 devices
    oneshot_latency_per_device_s: float = field(default=0.0, min=0)
    def __post_init__(self):
        schema.check(self)   # each field's declared range (core/schema.py)

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


def check_allreduce(algorithm: str) -> str:
    if algorithm not in ALLREDUCE_ALGORITHMS:
        raise ParameterError("allreduce", f"got {algorithm!r}; allowed: {', '.join(ALLREDUCE_ALGORITHMS)}")
    return algorithm


def allreduce_cost(link: LinkSpec, bytes_: float, n_devices: int, algorithm: str = "nccl-ring") -> OpCost:
    """All-reduce of a ``bytes_`` buffer over ``n_devices`` (see the module docstring).

    Every device sends in every step, so the energy counts all n senders.
    """
    check_allreduce(algorithm)
    if not _check_devices(n_devices) or bytes_ == 0:
        return ZERO
    if not link.nccl_latency_s:
        return _ring(link, bytes_, n_devices, steps_per_device=2)
    ring = _collective(link, "nccl-ring", _nccl_latency_s(link, n_devices),
                       2 * (n_devices - 1) / n_devices * bytes_, n_devices)
    if algorithm == "custom-oneshot" and link.oneshot_latency_s:
        latency = link.oneshot_latency_s + (n_devices - 2) * link.oneshot_latency_per_device_s
        oneshot = _collective(link, algorithm, latency, (n_devices - 1) * bytes_, n_devices)
        if oneshot.time_s < ring.time_s:
            return oneshot
    return ring


def allgather_cost(link: LinkSpec, bytes_: float, n_devices: int) -> OpCost:
    """All-gather ending with ``bytes_`` on every device: NCCL's latency plus (n-1)/n x bytes
    where the link has published collective latencies, else a ring of (n-1) messages of bytes/n."""
    if not _check_devices(n_devices) or bytes_ == 0:
        return ZERO
    if not link.nccl_latency_s:
        return _ring(link, bytes_, n_devices, steps_per_device=1)
    return _collective(link, "nccl-ring", _nccl_latency_s(link, n_devices),
                       (n_devices - 1) / n_devices * bytes_, n_devices)


def _check_devices(n_devices) -> bool:
    """True when a collective over ``n_devices`` moves anything (more than one device)."""
    if not isinstance(n_devices, int) or n_devices < 1:
        raise ParameterError("n_devices", f"must be a positive integer, got {n_devices!r}")
    return n_devices > 1


def _nccl_latency_s(link: LinkSpec, n_devices: int) -> float:
    return link.nccl_latency_s + (n_devices - 2) * link.nccl_latency_per_device_s


def _collective(link: LinkSpec, algorithm: str, latency_s: float, bytes_per_device: float,
                n_devices: int) -> OpCost:
    """A library collective: its fixed latency plus the bytes each device receives, at the
    payload bandwidth (every device receives at once)."""
    stream = bytes_per_device / link.payload_bandwidth_bytes_per_s
    sent = bytes_per_device * n_devices
    return OpCost(latency_s + stream, bytes_moved=sent, energy_j=sent * 8 * link.energy_pj_per_bit * 1e-12,
                  bound="io" if stream >= latency_s else "latency",
                  detail={"link": link.name, "algorithm": algorithm, "devices": n_devices})


def _ring(link: LinkSpec, bytes_: float, n_devices: int, steps_per_device: int) -> OpCost:
    steps = steps_per_device * (n_devices - 1)
    chunk = bytes_ / n_devices
    one = link_transfer_cost(link, chunk)
    sent = steps * chunk * n_devices
    return OpCost(steps * one.time_s, bytes_moved=sent,
                  energy_j=sent * 8 * link.energy_pj_per_bit * 1e-12, bound=one.bound,
                  detail={"link": link.name, "steps": steps, "devices": n_devices})
