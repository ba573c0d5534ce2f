"""The common currency of every cost model: time, bytes, FLOPs, energy, and what bounds it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BOUNDS = ("compute", "memory", "io", "latency")


@dataclass(frozen=True)
class OpCost:
    time_s: float
    bytes_moved: float = 0.0
    flops: float = 0.0
    energy_j: float = 0.0
    bound: str = "memory"
    detail: dict = field(default_factory=dict, compare=False)  # model-specific extras (utilisation, ...)

    def __add__(self, other: OpCost) -> OpCost:
        """Sequential composition: times add; the bound is that of the longer part."""
        bound = self.bound if self.time_s >= other.time_s else other.bound
        return OpCost(self.time_s + other.time_s, self.bytes_moved + other.bytes_moved,
                      self.flops + other.flops, self.energy_j + other.energy_j, bound)

    def scaled(self, factor: float) -> OpCost:
        return OpCost(self.time_s * factor, self.bytes_moved * factor, self.flops * factor,
                      self.energy_j * factor, self.bound, dict(self.detail))


ZERO = OpCost(0.0, bound="latency")


def total(parts: Mapping[Any, OpCost]) -> OpCost:
    out = ZERO
    for cost in parts.values():
        out = out + cost
    return out
